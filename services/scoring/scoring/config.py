"""Scoring's settings: environment variables prefixed LEADLOOP_SCORING_."""

from pydantic_settings import SettingsConfigDict

from leadloop.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """Scoring's settings. The scoring rules themselves are data (model versions in the DB)."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_SCORING_", extra="ignore")

    service_name: str = "scoring"
    port: int = 8002
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/scoring"
