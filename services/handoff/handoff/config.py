"""Handoff's settings: environment variables prefixed LEADLOOP_HANDOFF_."""

from datetime import timedelta
from functools import lru_cache

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from leadloop.settings import ServiceSettings


class HandoffSettings(ServiceSettings):
    """Handoff's settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_HANDOFF_", extra="ignore")

    service_name: str = "handoff"
    port: int = 8003
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/handoff"

    # How long a rep has to accept a handed-off lead, in seconds.
    accept_sla_s: float = Field(default=300.0, gt=0)
    # The team every qualified lead is routed to until routing rules choose one.
    default_team: str = Field(default="default", pattern=r"^[a-z0-9][a-z0-9_-]{0,63}$")

    @property
    def accept_sla(self) -> timedelta:
        """The accept SLA as a duration."""
        return timedelta(seconds=self.accept_sla_s)


@lru_cache(maxsize=1)
def get_settings() -> HandoffSettings:
    """The process's settings, read from the environment once."""
    return HandoffSettings()
