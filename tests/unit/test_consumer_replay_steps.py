"""The runner's steps a replay shares (outcomes' rebuild): which records are events this
service takes, and how a failing event is isolated from the rest of its batch."""

import orjson
import pytest
from aiokafka import ConsumerRecord

from leadloop.consumer import Delivery, SealedWithoutLead, apply_isolating, envelope_of
from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, EnvelopeError
from leadloop.events.models import LeadQualified
from leadloop.handlers import Batch, Handlers
from leadloop.pii import PREFIX

HANDLERS = Handlers()


@HANDLERS.handles
async def on_qualified(uow: UnitOfWork, batch: Batch[LeadQualified]) -> None:
    """Takes leadloop.lead.qualified.v1 only."""


def _record(offset: int, value: bytes = b"{}", ce_type: str = "leadloop.lead.qualified.v1",
            subject: str = "6f1c1d2e-8a43-4b7e-9c1f-3d2a4b5c6e7f") -> ConsumerRecord[bytes, bytes]:
    headers = [("ce_specversion", b"1.0"), ("ce_id", f"id-{offset}".encode()),
               ("ce_source", b"scoring"), ("ce_type", ce_type.encode()),
               ("ce_subject", subject.encode()), ("ce_time", b"2026-12-06T12:00:00Z"),
               ("content-type", b"application/json")]
    return ConsumerRecord(topic="leadloop.scoring", partition=0, offset=offset, timestamp=0,
                          timestamp_type=0, key=subject.encode(), value=value, checksum=None,
                          serialized_key_size=0, serialized_value_size=len(value),
                          headers=headers)


def _delivery(offset: int) -> Delivery:
    record = _record(offset)
    envelope = CloudEvent(type="leadloop.lead.qualified.v1", source="scoring", subject="lead",
                          data={})
    return Delivery(record, envelope, LeadQualified.model_construct())


def test_a_type_the_service_does_not_take_is_passed_over_unparsed() -> None:
    assert envelope_of(_record(1, value=b"not json", ce_type="leadloop.lead.created.v1"),
                       HANDLERS) is None


def test_a_taken_event_comes_with_its_envelope_and_whether_it_is_sealed() -> None:
    found = envelope_of(_record(1, value=b'{"score": 80}'), HANDLERS)
    assert found is not None
    envelope, sealed = found
    assert (envelope.type, envelope.id, sealed) == ("leadloop.lead.qualified.v1", "id-1", False)


def test_a_record_that_is_not_an_event_raises() -> None:
    with pytest.raises(EnvelopeError):
        envelope_of(_record(1, value=b"{not json"), HANDLERS)


def test_sealed_fields_on_a_subject_that_is_no_lead_raise_naming_the_type() -> None:
    sealed = orjson.dumps({"email": f"{PREFIX}bm9uY2U.Y2lwaGVy"})
    with pytest.raises(SealedWithoutLead) as raised:
        envelope_of(_record(1, value=sealed, subject="not-a-lead"), HANDLERS)
    assert raised.value.event_type == "leadloop.lead.qualified.v1"


@pytest.mark.asyncio
async def test_a_failing_event_is_isolated_by_halves_and_the_rest_applied_in_order() -> None:
    batch = [_delivery(offset) for offset in range(8)]
    applied: list[list[int]] = []
    alone: list[int] = []

    async def apply_batch(part: list[Delivery]) -> bool:
        offsets = [d.record.offset for d in part]
        if 5 in offsets:
            return False
        applied.append(offsets)
        return True

    async def apply_one(delivery: Delivery) -> None:
        if delivery.record.offset != 5:
            applied.append([delivery.record.offset])
        else:
            alone.append(delivery.record.offset)

    await apply_isolating(batch, apply_batch, apply_one)
    assert alone == [5]
    assert applied == [[0, 1, 2, 3], [4], [6, 7]]  # few transactions, in order
