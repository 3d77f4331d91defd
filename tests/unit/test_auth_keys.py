"""API keys: hashed at rest, scoped, admin grants everything."""

from leadloop.auth import ApiKeyRecord, find_principal, generate_key, hash_key


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
