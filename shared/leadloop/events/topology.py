"""Who publishes and who consumes what: the DESIGN's service table, as data.

One topic per producing service (`leadloop.<service>`), keyed by lead id; one dead-letter topic
per consuming service (`leadloop.<service>.dlq`).
"""

SERVICES = ("capture", "scoring", "handoff", "nurture", "outcomes")

PUBLISHES: dict[str, tuple[str, ...]] = {
    "capture": (
        "leadloop.lead.created.v1",
        "leadloop.lead.updated.v1",
        "leadloop.lead.activity.v1",
        "leadloop.lead.erased.v1",
        "leadloop.lead.consent_changed.v1",
        "leadloop.lead.merged.v1",
        "leadloop.lead.unmerged.v1",
    ),
    "scoring": (
        "leadloop.lead.scored.v1",
        "leadloop.lead.qualified.v1",
        "leadloop.lead.disqualified.v1",
    ),
    "handoff": (
        "leadloop.lead.handed_off.v1",
        "leadloop.lead.accepted.v1",
        "leadloop.lead.rejected.v1",
        "leadloop.lead.contacted.v1",
        "leadloop.lead.sla_breached.v1",
    ),
    "nurture": (
        "leadloop.nurture.message_sent.v1",
        "leadloop.lead.activity.v1",
        "leadloop.lead.unsubscribed.v1",
    ),
    "outcomes": ("leadloop.deal.opened.v1", "leadloop.deal.closed.v1"),
}

CONSUMES: dict[str, tuple[str, ...]] = {
    "capture": (),
    "scoring": ("capture", "handoff", "nurture", "outcomes"),
    "handoff": ("capture", "scoring"),
    "nurture": ("capture", "scoring", "handoff", "outcomes"),
    "outcomes": SERVICES,
}


# Per-lead data keys (leadloop.keyring): capture issues them, every consumer keeps a copy. Keyed
# by lead id and compacted, so the log holds only each lead's latest record; erasure replaces the
# key with an "erased" marker, and the short segment and cleaner settings below make compaction
# drop the old key record soon after (Kafka never compacts the active segment).
KEY_OWNER = "capture"
KEYS_TOPIC = "leadloop.capture.keys"
KEYS_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "10000",
    "min.cleanable.dirty.ratio": "0.01",
    "delete.retention.ms": "10000",
    "min.compaction.lag.ms": "0",
    "max.compaction.lag.ms": "60000",
}
TOPIC_CONFIGS: dict[str, dict[str, str]] = {KEYS_TOPIC: KEYS_TOPIC_CONFIG}

# Dead-letter topics keep one partition, so failures are listed in the order they happened.
DEAD_LETTER_PARTITIONS = 1


def topic_of(service: str) -> str:
    """The topic a service publishes to."""
    return f"leadloop.{service}"


def dead_letter_topic_of(service: str) -> str:
    """The topic a consuming service parks events it cannot process."""
    return f"leadloop.{service}.dlq"


def all_topics() -> list[str]:
    """Every topic the local stack and deployments create."""
    return [topic_of(s) for s in SERVICES] + [
        dead_letter_topic_of(s) for s in SERVICES if CONSUMES[s]
    ] + [KEYS_TOPIC]
