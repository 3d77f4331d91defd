"""Capture's settings: environment variables prefixed LEADLOOP_CAPTURE_."""

from pydantic_settings import SettingsConfigDict

from leadloop.settings import ServiceSettings


class CaptureSettings(ServiceSettings):
    """Capture's settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_CAPTURE_", extra="ignore")

    service_name: str = "capture"
    port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/capture"
