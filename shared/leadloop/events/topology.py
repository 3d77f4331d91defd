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
        "leadloop.lead.expansion_qualified.v1",
    ),
    "handoff": (
        "leadloop.lead.handed_off.v1",
        "leadloop.lead.accepted.v1",
        "leadloop.lead.rejected.v1",
        "leadloop.lead.contacted.v1",
        "leadloop.lead.sla_breached.v1",
        "leadloop.lead.queue_alert.v1",
    ),
    "nurture": (
        "leadloop.nurture.message_sent.v1",
        "leadloop.lead.activity.v1",
        "leadloop.lead.unsubscribed.v1",
    ),
    "outcomes": ("leadloop.deal.opened.v1", "leadloop.deal.closed.v1",
                 "leadloop.lead.closed.v1", "leadloop.lead.stage_changed.v1"),
}

CONSUMES: dict[str, tuple[str, ...]] = {
    # Capture owns consent: it hears nurture's unsubscribes and announces the consent change;
    # and it keeps each lead's owner and qualification (scoring, handoff) for lead search.
    "capture": ("nurture", "scoring", "handoff"),
    "scoring": ("capture", "handoff", "nurture", "outcomes"),
    "handoff": ("capture", "scoring", "outcomes"),
    "nurture": ("capture", "scoring", "handoff", "outcomes"),
    "outcomes": SERVICES,
}


# Per-lead data keys (leadloop.keyring): capture issues them, every consumer keeps a copy. Keyed
# by lead id and compacted, so the log holds only each lead's latest record; erasure replaces the
# key with an "erased" marker, and compaction drops the old key record within about two hours
# (segments roll hourly, and Kafka never compacts the active one; a record may wait at most an
# hour more). Every service nulls its own copy at once; this is about the log's copy. Cleaning
# rewrites a partition's whole log (a record per lead ever captured), so it is kept to about
# once an hour: with 10 s segments and a 1% dirty ratio the cleaner took a third of the broker's
# CPU at 100 leads/s, and more as the topic grew.
KEY_OWNER = "capture"
KEYS_TOPIC = "leadloop.capture.keys"
KEYS_TOPIC_CONFIG = {
    "cleanup.policy": "compact",
    "segment.ms": "3600000",
    "min.cleanable.dirty.ratio": "0.5",
    "delete.retention.ms": "10000",
    "min.compaction.lag.ms": "0",
    "max.compaction.lag.ms": "3600000",
}

# Event topics are kept forever: the outcomes read model is rebuilt by replaying them from the
# start (POST /v1/read-model/rebuild), so a record that ages out is a deal or lead lost from it.
EVENT_TOPIC_CONFIG = {"retention.ms": "-1", "retention.bytes": "-1"}
# Dead letters wait 30 days for someone to look at them, replay or discard them.
DEAD_LETTER_TOPIC_CONFIG = {"retention.ms": str(30 * 24 * 3600 * 1000)}

# Partitions cap consumer parallelism (a group uses at most one pod per partition); keys are
# lead ids, so one lead's events stay in order on one partition.
DEFAULT_TOPIC_PARTITIONS = 12
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


def partitions_of(topic: str, partitions: int = DEFAULT_TOPIC_PARTITIONS) -> int:
    """How many partitions `topic` is created with (`partitions` for all but dead letters)."""
    return DEAD_LETTER_PARTITIONS if topic.endswith(".dlq") else partitions


# The topic-level configs every deployment (local stack, compose, Kubernetes) creates each topic
# with; tests/unit/test_deploy_* and tests/e2e/test_deploy_topics.py hold them to this.
TOPIC_CONFIGS: dict[str, dict[str, str]] = {
    **{topic_of(s): EVENT_TOPIC_CONFIG for s in SERVICES},
    **{dead_letter_topic_of(s): DEAD_LETTER_TOPIC_CONFIG for s in SERVICES if CONSUMES[s]},
    KEYS_TOPIC: KEYS_TOPIC_CONFIG,
}
