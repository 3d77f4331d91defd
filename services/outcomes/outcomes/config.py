"""Outcomes' settings: environment variables prefixed LEADLOOP_OUTCOMES_."""

from pydantic_settings import SettingsConfigDict

from leadloop.settings import ServiceSettings


class OutcomesSettings(ServiceSettings):
    """Outcomes' settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_OUTCOMES_", extra="ignore")

    service_name: str = "outcomes"
    port: int = 8005
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/outcomes"
