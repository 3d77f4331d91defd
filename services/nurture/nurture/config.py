"""Nurture's settings: environment variables prefixed LEADLOOP_NURTURE_."""

from pydantic_settings import SettingsConfigDict

from leadloop.settings import ServiceSettings


class NurtureSettings(ServiceSettings):
    """Nurture's settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_NURTURE_", extra="ignore")

    service_name: str = "nurture"
    port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/nurture"
