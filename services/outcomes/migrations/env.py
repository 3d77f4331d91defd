"""Alembic entry point: the shared runner with outcomes' tables and database."""

from leadloop.migrations import run_migrations
from outcomes.config import OutcomesSettings
from outcomes.tables import metadata

settings = OutcomesSettings()
run_migrations(settings.database_url, metadata, settings.database_tls)
