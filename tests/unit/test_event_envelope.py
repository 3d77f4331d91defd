"""The CloudEvents envelope in Kafka's binary content mode."""

import uuid
from dataclasses import replace

import pytest
from pydantic import ValidationError

from leadloop.events import CloudEvent, EnvelopeError, parse_event
from leadloop.events.envelope import child_traceparent, trace_id_of
from leadloop.events.models import LeadErased, event_time_now, event_type_of


def test_event_survives_a_round_trip_through_kafka_headers_and_value() -> None:
    lead_id = uuid.uuid4()
    data = LeadErased(lead_id=lead_id, erased_at=event_time_now())
    event = CloudEvent(type=event_type_of(data), source="capture", subject=str(lead_id),
                       data=data.model_dump(mode="json"))
    key, value, headers = event.to_kafka()

    decoded = CloudEvent.from_kafka(value, headers)

    assert key == str(lead_id).encode()
    assert dict(headers)["ce_type"] == b"leadloop.lead.erased.v1"
    assert decoded == event
    assert parse_event(decoded.type, decoded.data) == data


def test_type_travels_in_the_envelope_not_in_the_data() -> None:
    data = LeadErased(lead_id=uuid.uuid4(), erased_at=event_time_now())
    assert "type" not in data.model_dump(mode="json")


def test_record_without_cloudevents_headers_is_rejected_with_the_missing_names() -> None:
    with pytest.raises(EnvelopeError, match="ce_id"):
        CloudEvent.from_kafka(b"{}", [("ce_type", b"x")])


def test_record_whose_value_is_not_json_is_rejected() -> None:
    event = CloudEvent(type="leadloop.lead.erased.v1", source="capture", subject="x", data={})
    _, _, headers = event.to_kafka()
    with pytest.raises(EnvelopeError, match="not JSON"):
        CloudEvent.from_kafka(b"{not json", headers)


def test_data_that_does_not_match_its_type_fails_validation() -> None:
    with pytest.raises(ValidationError):
        parse_event("leadloop.lead.erased.v1", {"lead_id": "not-a-uuid"})


def test_unknown_event_type_fails_validation() -> None:
    with pytest.raises(ValidationError):
        parse_event("leadloop.lead.teleported.v1", {})


def test_child_trace_context_keeps_the_trace_and_changes_the_span() -> None:
    parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    child = child_traceparent(parent)
    assert trace_id_of(child) == "0af7651916cd43dd8448eb211c80319c"
    assert child != parent


def test_missing_or_broken_trace_context_starts_a_new_trace() -> None:
    assert len(trace_id_of(child_traceparent("garbage")) or "") == 32


def test_an_event_with_other_data_keeps_every_other_attribute() -> None:
    event = CloudEvent(type="leadloop.lead.erased.v1", source="capture",
                       subject=str(uuid.uuid4()), data={"a": 1})
    assert event.with_data({"b": 2}) == replace(event, data={"b": 2})
