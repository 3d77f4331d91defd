"""Alembic entry point: the shared runner with nurture's tables and database."""

from pydantic_settings import SettingsConfigDict

from leadloop.migrations import run_migrations
from leadloop.settings import ServiceSettings
from nurture.config import NurtureSettings
from nurture.tables import metadata


class MigrationSettings(ServiceSettings):
    """Only what migrations read: they need no signing secrets (NurtureSettings demands them)."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_NURTURE_", extra="ignore")

    database_url: str = NurtureSettings.model_fields["database_url"].default


run_migrations(MigrationSettings().database_url, metadata)
