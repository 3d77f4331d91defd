"""Alembic entry point: the shared runner with handoff's tables and database."""

from handoff.config import HandoffSettings
from handoff.tables import metadata
from leadloop.migrations import run_migrations

settings = HandoffSettings()
run_migrations(settings.database_url, metadata, settings.database_tls)
