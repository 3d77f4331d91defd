"""Alembic entry point: the shared runner with handoff's tables and database."""

from handoff.config import HandoffSettings
from handoff.tables import metadata
from leadloop.migrations import run_migrations

run_migrations(HandoffSettings().database_url, metadata)
