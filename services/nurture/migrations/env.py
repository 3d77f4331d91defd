"""Alembic entry point: the shared runner with nurture's tables and database."""

from leadloop.migrations import run_migrations
from nurture.config import NurtureSettings
from nurture.tables import metadata

settings = NurtureSettings()
run_migrations(settings.database_url, metadata, settings.database_tls)
