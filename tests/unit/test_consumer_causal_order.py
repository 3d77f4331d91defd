"""A batch's partitions are interleaved by event time, each partition's order kept."""

from datetime import UTC, datetime, timedelta

from aiokafka import ConsumerRecord

from leadloop.consumer import Delivery, in_causal_order
from leadloop.events import CloudEvent
from leadloop.events.models import LeadQualified

T0 = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def _delivery(topic: str, offset: int, seconds: float, naive: bool = False) -> Delivery:
    at = T0 + timedelta(seconds=seconds)
    envelope = CloudEvent(type="leadloop.lead.qualified.v1", source=topic.split(".")[-1],
                          subject="lead", data={}, time=at.replace(tzinfo=None) if naive else at)
    record: ConsumerRecord[bytes, bytes] = ConsumerRecord(
        topic=topic, partition=0, offset=offset, timestamp=0, timestamp_type=0, key=b"lead",
        value=b"{}", checksum=None, serialized_key_size=4, serialized_value_size=2, headers=())
    return Delivery(record, envelope, LeadQualified.model_construct())


def _order(deliveries: list[Delivery]) -> list[tuple[str, int]]:
    return [(d.record.topic, d.record.offset) for d in in_causal_order(deliveries)]


def test_a_lead_event_from_another_topic_goes_where_its_time_puts_it() -> None:
    # Handoff's hand-off was fetched before the qualification that caused it.
    handed_off = _delivery("leadloop.handoff", 7, seconds=2)
    qualified = _delivery("leadloop.scoring", 3, seconds=1)
    assert _order([handed_off, qualified]) == [("leadloop.scoring", 3), ("leadloop.handoff", 7)]


def test_each_partitions_own_order_stands_even_against_its_clock() -> None:
    # A later offset stamped earlier (another replica's clock) still comes after.
    first, second = _delivery("leadloop.scoring", 1, 5), _delivery("leadloop.scoring", 2, 0)
    other = _delivery("leadloop.handoff", 1, 3, naive=True)  # no zone: read as UTC
    order = _order([first, second, other])
    assert order.index(("leadloop.scoring", 1)) < order.index(("leadloop.scoring", 2))
    assert order == [("leadloop.handoff", 1), ("leadloop.scoring", 1), ("leadloop.scoring", 2)]


def test_one_partition_is_left_as_it_came() -> None:
    batch = [_delivery("leadloop.scoring", n, seconds=-n) for n in range(3)]
    assert in_causal_order(batch) == batch
