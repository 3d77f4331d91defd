"""The lead's postal address: the API's nested object, forms' flat `address_<part>` inputs (or
`maps_to: postal_address.<part>`), CSV columns, normalization and errors naming the field, and
sealing in events like the other personal fields (erasure leaves nothing readable)."""

from typing import Any

import pytest
from pydantic import ValidationError

from capture.exceptions import SubmissionInvalid
from capture.forms.definition import FormConfigIn
from capture.imports.domain import default_mapping, row_to_lead
from capture.leads.validation import LeadIn
from capture.submissions.domain import map_submission
from leadloop import pii
from leadloop.events.models import event_time_now

ADDRESS = {"street": " Hauptstraße  5 ", "city": "Berlin", "postal_code": "10115"}


def test_the_api_takes_a_nested_address_and_fills_the_country_from_the_lead() -> None:
    lead = LeadIn.model_validate({"email": "a@b.example", "country": "de",
                                  "postal_address": ADDRESS})
    assert lead.profile().postal_address is not None
    assert lead.profile().postal_address.model_dump() == {
        "street": "Hauptstraße 5", "city": "Berlin", "postal_code": "10115", "region": None,
        "country": "DE"}


@pytest.mark.parametrize(("address", "field"), [
    ({"city": "Berlin", "country": "DE"}, "postal_address.street"),
    ({"street": "x", "city": "Berlin", "country": "Atlantis"}, "postal_address.country"),
    ({"street": "x", "city": "Berlin", "county": "DE"}, "postal_address.county"),
    ({"street": "x", "city": "Berlin"}, "postal_address.country"),  # nor a lead country
])
def test_a_bad_address_names_its_field(address: dict[str, Any], field: str) -> None:
    with pytest.raises(ValidationError) as refused:
        LeadIn.model_validate({"email": "a@b.example", "postal_address": address})
    assert field in [".".join(str(p) for p in e["loc"]) for e in refused.value.errors()]


def test_an_address_country_is_read_like_the_leads_own() -> None:
    lead = LeadIn.model_validate({"email": "a@b.example", "postal_address": {
        **ADDRESS, "country": "Deutschland"}})
    assert lead.profile().postal_address is not None
    assert lead.profile().postal_address.country == "DE"


def _form(**extra: Any) -> FormConfigIn:
    return FormConfigIn.model_validate({
        "name": "Brochure", "fields": [
            {"name": "email", "type": "email", "required": True},
            {"name": "address_street"}, {"name": "address_city"},
            {"name": "zip", "maps_to": "postal_address.postal_code"},
            {"name": "address_country", "type": "country"}], **extra})


def test_a_form_maps_flat_address_inputs_and_maps_to_targets() -> None:
    mapped = map_submission("f1", _form(), {
        "email": "a@b.example", "address_street": "1 Main St", "address_city": "Springfield",
        "zip": "12345", "address_country": "us"}, event_time_now())
    address = mapped.lead.profile().postal_address
    assert address is not None and (address.street, address.postal_code, address.country) == (
        "1 Main St", "12345", "US")
    assert mapped.lead.properties == {}


def test_a_lenient_form_takes_undeclared_address_inputs_and_names_a_bad_one() -> None:
    form = FormConfigIn.model_validate({"name": "Any", "fields": [{"name": "email"}]})
    mapped = map_submission("f2", form, {"email": "a@b.example", "address_street": "1 Main St",
                                         "address_city": "Springfield",
                                         "address_country": "US"}, event_time_now())
    assert mapped.lead.postal_address is not None
    with pytest.raises(SubmissionInvalid) as refused:
        map_submission("f1", _form(), {"email": "a@b.example", "address_street": "1 Main St",
                                       "address_city": "X", "address_country": "Narnia"},
                       event_time_now())
    assert [e["field"] for e in refused.value.errors] == ["address_country"]


def test_csv_columns_named_address_part_are_the_postal_address() -> None:
    mapping = default_mapping(["Email", "Address Street", "address_city", "address_country"])
    assert mapping == {"Email": "email", "Address Street": "postal_address.street",
                       "address_city": "postal_address.city",
                       "address_country": "postal_address.country"}
    lead = row_to_lead({"Email": "a@b.example", "Address Street": "1 Main St",
                        "address_city": "Springfield", "address_country": "US"},
                       mapping, None, event_time_now())
    assert lead.postal_address is not None and lead.postal_address.city == "Springfield"


def test_the_address_travels_sealed_and_reads_as_nothing_after_erasure() -> None:
    key = pii.new_data_key()
    profile = LeadIn.model_validate({"email": "a@b.example", "country": "DE",
                                     "postal_address": ADDRESS}).profile()
    data = {"profile": profile.model_dump(mode="json")}
    sealed = pii.seal(data, "lead-1", key)
    assert pii.is_sealed(sealed["profile"]["postal_address"])
    assert "Berlin" not in str(sealed)
    assert pii.reveal(sealed, "lead-1", key) == data
    assert pii.reveal(sealed, "lead-1", None)["profile"]["postal_address"] is None
