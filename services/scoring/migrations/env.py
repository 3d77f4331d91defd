"""Alembic entry point: the shared runner with scoring's tables and database."""

from leadloop.migrations import run_migrations
from scoring.config import ScoringSettings
from scoring.tables import metadata

settings = ScoringSettings()
run_migrations(settings.database_url, metadata, settings.database_tls)
