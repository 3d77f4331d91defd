"""API keys: hashed at rest, scoped, admin grants everything."""

from uuid import UUID

from leadloop.auth import ApiKeyRecord, find_principal, generate_key, hash_key
from leadloop.key_command import mint


def test_key_is_found_by_its_hash_and_carries_its_scopes() -> None:
    key = generate_key()
    records = [ApiKeyRecord(name="crm", sha256=hash_key(key), scopes=["sales"])]
    principal = find_principal(key, records)
    assert principal is not None and principal.name == "crm"
    assert principal.has("sales") and not principal.has("admin")


def test_unknown_key_is_not_found() -> None:
    records = [ApiKeyRecord(name="crm", sha256=hash_key(generate_key()), scopes=["sales"])]
    assert find_principal(generate_key(), records) is None


def test_admin_scope_grants_every_scope() -> None:
    key = generate_key()
    principal = find_principal(key, [ApiKeyRecord(name="ops", sha256=hash_key(key),
                                                   scopes=["admin"])])
    assert principal is not None and principal.has("deals:write")


def test_two_keys_are_valid_at_once_during_rotation() -> None:
    old, new = generate_key(), generate_key()
    records = [ApiKeyRecord(name="crm-old", sha256=hash_key(old), scopes=["sales"]),
               ApiKeyRecord(name="crm-new", sha256=hash_key(new), scopes=["sales"])]
    assert find_principal(old, records) is not None
    assert find_principal(new, records) is not None


def test_stored_hash_does_not_contain_the_key() -> None:
    key = generate_key()
    assert key not in hash_key(key) and len(hash_key(key)) == 64


def test_the_api_key_command_mints_a_key_its_printed_record_accepts_as_the_rep() -> None:
    rep = UUID(int=7)
    key, record = mint("laptop", ["sales"], rep)
    principal = find_principal(key, [ApiKeyRecord.model_validate(record.model_dump())])
    assert principal is not None and principal.rep_id == rep and principal.has("sales")
    assert record.sha256 == hash_key(key) and key not in record.model_dump_json()
