"""Personal fields in event data: sealed per lead, revealed with the key, empty without it."""

import base64
import uuid
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from leadloop.events import parse_event
from leadloop.events.models import LeadCreated, LeadProfile, LeadSource
from leadloop.pii import (
    PERSONAL_FIELDS,
    PiiError,
    has_personal_data,
    has_sealed_data,
    is_sealed,
    may_hold_sealed,
    new_data_key,
    reveal,
    seal,
)

LEAD = str(uuid.uuid4())


def _created() -> dict:
    event = LeadCreated(
        lead_id=uuid.UUID(LEAD), created_at=datetime.now(UTC),
        profile=LeadProfile(email="ana.lopez@example.org", first_name="Ana", last_name="López",
                            phone="+49301234567", company="Acme", company_size=120,
                            properties={"how_heard": "Ana's podcast"}),
        source=LeadSource(channel="form", landing_page="https://x.test/?email=ana.lopez@example.org"))
    return event.model_dump(mode="json")


def test_sealed_event_holds_no_personal_value_and_reveals_to_the_original() -> None:
    data, key = _created(), new_data_key()
    sealed = seal(data, LEAD, key)
    raw = orjson.dumps(sealed)
    for secret in (b"ana.lopez", b"Ana", b"+49301234567", b"podcast"):
        assert secret not in raw
    assert sealed["profile"]["company"] == "Acme"  # not personal: stays readable
    assert sealed["profile"]["company_size"] == 120
    assert has_sealed_data(sealed) and not has_personal_data(sealed)
    assert reveal(sealed, LEAD, key) == data


def test_revealing_named_fields_opens_just_those_and_empties_the_rest_as_erasure_does() -> None:
    data, key = _created(), new_data_key()
    sealed = seal(data, LEAD, key)
    some = reveal(sealed, LEAD, key, frozenset({"email", "landing_page"}))
    erased = reveal(sealed, LEAD, None)
    assert some["profile"]["email"] == "ana.lopez@example.org"
    assert some["source"]["landing_page"] == data["source"]["landing_page"]
    for other in ("first_name", "last_name", "phone", "properties"):
        assert some["profile"][other] == erased["profile"][other] != data["profile"][other]
    assert some["profile"]["company"] == "Acme"  # never sealed: as it was
    assert not has_sealed_data(some)
    assert reveal(sealed, LEAD, None, frozenset({"email"})) == erased


def test_a_value_sealed_for_one_lead_does_not_open_as_another_leads() -> None:
    key = new_data_key()
    sealed = seal(_created(), LEAD, key)
    with pytest.raises(PiiError):
        reveal(sealed, str(uuid.uuid4()), key)
    with pytest.raises(PiiError):
        reveal(sealed, LEAD, new_data_key())


def test_without_the_key_personal_fields_read_empty_and_the_event_still_parses() -> None:
    sealed = seal(_created(), LEAD, new_data_key())
    erased = reveal(sealed, LEAD, None)
    profile = erased["profile"]
    assert (profile["email"], profile["first_name"], profile["phone"]) == ("", None, None)
    assert profile["properties"] == {} and erased["source"]["landing_page"] is None
    parsed = parse_event("leadloop.lead.created.v1", erased)
    assert isinstance(parsed, LeadCreated) and parsed.profile.company == "Acme"


def test_sealing_twice_changes_nothing_and_empty_fields_stay_plain() -> None:
    key = new_data_key()
    data = {"lead_id": LEAD, "profile": {"email": "a@b.c", "phone": None, "properties": {}}}
    once = seal(data, LEAD, key)
    assert seal(once, LEAD, key) == once
    assert once["profile"]["phone"] is None and once["profile"]["properties"] == {}


def test_every_sealed_value_gets_its_own_nonce() -> None:
    # Reusing a nonce under one GCM key leaks the XOR of the plaintexts (and the auth key).
    key = new_data_key()
    data = {"people": [{"email": "same@example.org"} for _ in range(40)]}
    sealed = [p["email"] for p in seal(data, LEAD, key)["people"]]
    nonces = {base64.urlsafe_b64decode(s.removeprefix("pii:v1:") + "==")[:12] for s in sealed}
    assert len(nonces) == 40


# --- the fast walkers agree with their plain definitions, on any JSON -----------------------

_EMPTY = (None, "", {}, [])
_NAMES = st.sampled_from([*sorted(PERSONAL_FIELDS), "company", "score", "items", "profile"])
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-2**53, 2**53) | st.text(max_size=8)
    | st.sampled_from(["pii:v1:", "pii:v1:x"]),
    lambda children: st.lists(children, max_size=4)
    | st.dictionaries(_NAMES, children, max_size=5),
    max_leaves=25)


def _has_personal_data_by_definition(data: Any) -> bool:
    if isinstance(data, dict):
        return any((name in PERSONAL_FIELDS and value not in _EMPTY and not is_sealed(value))
                   or _has_personal_data_by_definition(value) for name, value in data.items())
    if isinstance(data, list):
        return any(_has_personal_data_by_definition(item) for item in data)
    return False


def _has_sealed_data_by_definition(data: Any) -> bool:
    if isinstance(data, dict):
        return any(is_sealed(v) or _has_sealed_data_by_definition(v) for v in data.values())
    if isinstance(data, list):
        return any(is_sealed(v) or _has_sealed_data_by_definition(v) for v in data)
    return False


@settings(max_examples=300, deadline=None)
@given(data=st.dictionaries(_NAMES, _JSON, max_size=6))
def test_the_walkers_agree_with_their_definitions_and_seal_round_trips(data: Any) -> None:
    assert has_personal_data(data) == _has_personal_data_by_definition(data)
    assert has_sealed_data(data) == _has_sealed_data_by_definition(data)
    # The byte search never misses sealed data (it may only answer "maybe").
    assert may_hold_sealed(orjson.dumps(data)) or not has_sealed_data(data)
    plain = {k: v for k, v in data.items() if not has_sealed_data({k: v})}
    key = new_data_key()
    sealed = seal(plain, LEAD, key)
    assert not has_personal_data(sealed)
    assert reveal(sealed, LEAD, key) == plain


def test_an_events_bytes_say_for_certain_when_it_holds_nothing_sealed() -> None:
    key, lead = new_data_key(), "7d1f3c52-8a64-4a4e-9d43-0b7f4e1f2c11"
    plain = {"profile": {"email": "ann@example.com", "company": "pii:v1 is not a prefix"},
             "contributions": [{"rule": "title", "points": 20}], "note": None}
    sealed = seal(plain, lead, key)
    assert not may_hold_sealed(orjson.dumps(plain)) and not has_sealed_data(plain)
    assert may_hold_sealed(orjson.dumps(sealed)) and has_sealed_data(sealed)
