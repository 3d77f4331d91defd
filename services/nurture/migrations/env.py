"""Alembic entry point: the shared runner with nurture's tables and database."""

from leadloop.migrations import run_migrations
from nurture.config import NurtureSettings
from nurture.tables import metadata

run_migrations(NurtureSettings().database_url, metadata)
