"""Scoring's tables: model versions, its own copy of each lead, activities, history, outcomes."""

from typing import Any

import orjson
from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    Index,
    Integer,
    MetaData,
    Table,
    Text,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID

metadata = MetaData()

# A version's rules never change once written: a new configuration is a new version, so every
# stored score names the exact rules that produced it.
scoring_models = Table(
    "scoring_models",
    metadata,
    Column("version", Integer, primary_key=True),
    Column("name", Text, nullable=False),
    Column("config", JSONB, nullable=False),
    Column("is_active", Boolean, nullable=False, server_default=text("false")),
    Column("created_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("activated_at", DateTime(timezone=True)),
    # qualification or expansion (the config's kind, kept here for the index below).
    Column("kind", Text, nullable=False, server_default=text("'qualification'")),
    # At most one active version per kind, enforced by the database rather than by careful
    # callers.
    Index("scoring_models_one_active_per_kind", "kind", unique=True,
          postgresql_where=text("is_active")),
)

# Scoring's local copy of a lead, built from events, and its current score and status.
# A row may exist before its profile does (an activity can arrive before lead.created).
# After erasure only the id and erased_at remain, so late events cannot bring the lead back.
leads = Table(
    "leads",
    metadata,
    Column("lead_id", UUID(as_uuid=True), primary_key=True),
    Column("profile", JSONB),
    Column("consent", JSONB),
    Column("source", JSONB),
    Column("profile_at", DateTime(timezone=True)),
    Column("profile_event_id", Text),
    Column("score", Integer),
    Column("fit_score", Integer),
    Column("engagement_score", Integer),
    Column("grade", Text),
    Column("is_mql", Boolean, nullable=False, server_default=text("false")),
    Column("model_version", Integer),
    Column("contributions", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    Column("scored_at", DateTime(timezone=True)),
    Column("qualification", Text, nullable=False, server_default=text("'open'")),
    Column("qualified_at", DateTime(timezone=True)),
    Column("rejected_at", DateTime(timezone=True)),
    Column("disqualified_rule", Text),
    Column("disqualified_reason", Text),
    Column("disqualified_at", DateTime(timezone=True)),
    Column("erased_at", DateTime(timezone=True)),
    Column("first_seen_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    # When capture created the lead (its lead.created): lead.qualified carries it to handoff,
    # which measures speed to lead from it.
    Column("created_at", DateTime(timezone=True)),
    Column("win_probability", Float),
    # Purposes the person withdrew consent to (lead.consent_changed), e.g. ["sales_contact"].
    Column("consent_withdrawn", JSONB, nullable=False, server_default=text("'[]'::jsonb")),
    # Set while capture has merged this lead into another: its activities moved there.
    Column("merged_into", UUID(as_uuid=True)),
    # The last event applied to the lead, and when it happened: a reader can tell how far the
    # score is (GET .../score, POST /v1/scores:lookup).
    Column("last_event_id", Text),
    Column("last_event_type", Text),
    Column("last_event_at", DateTime(timezone=True)),
    # A customer: when its latest won deal closed. The expansion model scores the activities
    # since then; expansion_qualified_at is set when that score reached its threshold
    # (announced once per purchase: a later won deal starts over).
    Column("customer_since", DateTime(timezone=True)),
    Column("expansion_score", Integer),
    Column("expansion_qualified_at", DateTime(timezone=True)),
    # A new random value with every statement that changes the lead's activities (stored,
    # moved by a merge or an unmerge, erased): scoring keeps a lead's recent activities in
    # memory between batches only while this is the value it kept them at (leads/kept.py).
    Column("activities_version", BigInteger, nullable=False, server_default=text("0")),
)

# Every activity ever seen, keyed by its own id: a repeat delivery inserts nothing, so repeatable
# rules count events, not deliveries.
lead_activities = Table(
    "lead_activities",
    metadata,
    Column("activity_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("kind", Text, nullable=False),
    Column("url", Text),
    Column("occurred_at", DateTime(timezone=True), nullable=False),
    Column("event_id", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("seconds", Float),
    # Its other numeric properties ({"video_seconds": 310}), for intensity rules and features;
    # NULL when it has none (most activities).
    Column("numbers", JSONB),
    # The lead an activity first belonged to, once a merge moved it: an unmerge moves it back.
    Column("origin_lead_id", UUID(as_uuid=True)),
    Index("lead_activities_by_lead", "lead_id", "occurred_at"),
)

score_history = Table(
    "score_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("score", Integer, nullable=False),
    Column("fit_score", Integer, nullable=False),
    Column("engagement_score", Integer, nullable=False),
    Column("grade", Text, nullable=False),
    Column("is_mql", Boolean, nullable=False),
    Column("model_version", Integer, nullable=False),
    Column("event_id", Text),
    Column("scored_at", DateTime(timezone=True), nullable=False),
    Column("win_probability", Float),
    Index("score_history_by_lead", "lead_id", "id"),
)

# Training data for learning from outcomes: won and lost deals (deal.closed) and leads closed
# as not converted (lead.closed, keyed by its closure id), with what scoring knew then.
deal_outcomes = Table(
    "deal_outcomes",
    metadata,
    Column("deal_id", UUID(as_uuid=True), primary_key=True),
    Column("lead_id", UUID(as_uuid=True), nullable=False),
    Column("outcome", Text, nullable=False),  # won, lost, not_converted
    Column("amount_minor", BigInteger),  # deals only
    Column("currency", Text),  # deals only
    Column("reason", Text),  # why it was lost or closed
    Column("closed_at", DateTime(timezone=True), nullable=False),
    Column("model_version", Integer),
    Column("features", JSONB, nullable=False),
    Column("event_id", Text, nullable=False),
    Column("recorded_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("deal_outcomes_by_lead", "lead_id"),
)

# Each training of a version's learned model: the numbers it predicts with and its evaluation.
# The latest row of the active version is the one that predicts.
model_trainings = Table(
    "model_trainings",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("model_version", Integer, nullable=False),
    Column("deals", Integer, nullable=False),
    Column("model", JSONB, nullable=False),
    Column("evaluation", JSONB, nullable=False),
    Column("trained_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Index("model_trainings_by_version", "model_version", "id"),
)

# Re-scoring every lead (after an activation, or to let decay show): a cursor over lead ids,
# advanced in the same transaction as each batch, so a restarted service resumes where it was.
rescore_jobs = Table(
    "rescore_jobs",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=True),
    Column("model_version", Integer, nullable=False),
    Column("reason", Text, nullable=False),
    Column("status", Text, nullable=False, server_default=text("'running'")),
    Column("total", Integer, nullable=False),
    Column("done", Integer, nullable=False, server_default=text("0")),
    Column("cursor", UUID(as_uuid=True)),
    Column("started_at", DateTime(timezone=True), nullable=False, server_default=func.now()),
    Column("finished_at", DateTime(timezone=True)),
    Index("rescore_jobs_running", "id", postgresql_where=text("status = 'running'")),
)


def decoded_json(value: Any) -> Any:
    """A jsonb value read through the asyncpg driver: decoded by the connection's codec, or
    JSON text (the hot path and the backtest read these tables without SQLAlchemy)."""
    return orjson.loads(value) if isinstance(value, str) else value
