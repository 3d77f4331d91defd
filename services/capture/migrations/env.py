"""Alembic entry point: the shared runner with capture's tables and database."""

from capture.config import CaptureSettings
from capture.tables import metadata
from leadloop.migrations import run_migrations

settings = CaptureSettings()
run_migrations(settings.database_url, metadata, settings.database_tls)
