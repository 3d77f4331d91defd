"""Outcomes' settings: environment variables prefixed LEADLOOP_OUTCOMES_."""

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from leadloop.settings import MailingServiceSettings, OffSpeedPathSettings
from outcomes.digest.schedule import parse_schedule


class OutcomesSettings(OffSpeedPathSettings, MailingServiceSettings):
    """Outcomes' settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_OUTCOMES_", extra="ignore")

    service_name: str = "outcomes"
    port: int = 8005
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/outcomes"

    # The digest: which periods it covers (week = ISO week, day, month, or <N>s for N-second
    # periods, for tests and demos), how long after a period ends it is composed and sent (so
    # late events land first), and who gets it (comma-separated; none: composed, not mailed).
    digest_schedule: str = "week"
    digest_delay_s: float = Field(default=3600.0, ge=0)
    digest_recipients: str = ""
    digest_poll_interval_s: float = Field(default=5.0, gt=0)
    # A failed send is retried after digest_retry_s, doubling up to an hour, this many times.
    digest_retry_s: float = Field(default=60.0, gt=0)
    digest_max_attempts: int = Field(default=12, ge=1)
    # Speed to lead (handoff to first contact) is judged against this; 300 s is handoff's
    # default accept SLA.
    speed_to_lead_sla_s: float = Field(default=300.0, gt=0)
    # The digest's "open the dashboard" link is base_url (public_url, else http://<host>:<port>).

    # Signs the dashboard's session cookie (HMAC-SHA256): a long random value, the same on every
    # replica. Unset: a random key per process (sessions end at a restart, one replica only).
    dashboard_session_secret: str = ""
    # A dashboard session ends this long after sign-in (or at sign-out).
    dashboard_session_s: float = Field(default=8 * 3600.0, gt=0, le=30 * 24 * 3600.0)

    # The digest's sender (the SMTP server is MailingServiceSettings').
    mail_from: str = "LeadLoop <digest@leadloop.example>"

    @field_validator("digest_schedule")
    @classmethod
    def _schedule(cls, value: str) -> str:
        parse_schedule(value)  # raises ValueError with the reason
        return value

    @property
    def recipients(self) -> list[str]:
        """The digest's recipients, in the order configured, without blanks or repeats."""
        seen: dict[str, None] = {}
        for address in self.digest_recipients.split(","):
            if address.strip():
                seen.setdefault(address.strip(), None)
        return list(seen)
