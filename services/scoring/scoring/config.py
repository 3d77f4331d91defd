"""Scoring's settings: environment variables prefixed LEADLOOP_SCORING_."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from leadloop.settings import ServiceSettings


class ScoringSettings(ServiceSettings):
    """Scoring's settings. The scoring rules themselves are data (model versions in the DB)."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_SCORING_", extra="ignore")

    service_name: str = "scoring"
    port: int = 8002
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/scoring"
    rescore_batch_size: int = Field(default=500, gt=0,
                                    description="leads per re-score transaction")
    # Activating or training a version wakes this process's re-score worker at once; the poll
    # is the safety net for a job another replica started or one a stopped replica left, and
    # for the decay job's schedule. Each poll is two transactions: at 1 s an idle scoring paid
    # more for it than for anything but its Kafka fetches.
    rescore_poll_interval_s: float = Field(
        default=10.0, gt=0, description="how often an idle re-score worker looks for jobs "
        "another replica started (this replica's own start at once)")
    decay_rescore_interval_s: float = Field(
        default=3600.0, gt=0,
        description="how often engaged leads are rescored so decay shows without new events")
    train_interval_s: float = Field(
        default=3600.0, gt=0,
        description="how often the active version retrains when new deals have closed")
