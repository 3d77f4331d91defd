"""Capture's settings: environment variables prefixed LEADLOOP_CAPTURE_."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from leadloop.settings import MailingServiceSettings, OffSpeedPathSettings


class CaptureSettings(OffSpeedPathSettings, MailingServiceSettings):
    """Capture's settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_CAPTURE_", extra="ignore")

    service_name: str = "capture"
    port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/capture"

    # Signs the embed script's 'page loaded at' token (minimum fill time) and the links of
    # consent confirmation mails. No default: capture refuses to start without a random value
    # of at least 32 characters (the same on every replica), unless dev_mode.
    form_token_secret: str = ""
    signing_secrets: ClassVar[tuple[str, ...]] = ("form_token_secret",)
    # Double opt-in (a public form granting consent for an address we know): the mail goes
    # through MailingServiceSettings' SMTP server, its link stays valid this long, and at most
    # one such mail goes to a person in this many hours (nobody can mail-bomb an address).
    consent_confirmation_ttl_hours: float = Field(default=72.0, gt=0)
    consent_confirmation_every_hours: float = Field(default=1.0, ge=0)
    consent_mail_poll_interval_s: float = Field(default=1.0, gt=0)
    # The confirmation link's route: requests per client IP in any sliding minute.
    public_per_ip_per_minute: int = Field(default=30, ge=1)
    # The GDPR export gathers each service's own export over HTTP (capture.privacy.export):
    # where each one answers, e.g. {"scoring": "http://scoring:8002", ...}. Defaults: this
    # host, their default ports.
    export_peers: dict[str, str] = Field(default_factory=lambda: {
        "scoring": "http://127.0.0.1:8002", "handoff": "http://127.0.0.1:8003",
        "nurture": "http://127.0.0.1:8004", "outcomes": "http://127.0.0.1:8005"})
    export_timeout_s: float = Field(default=10.0, gt=0)
    # Largest CSV a bulk import accepts, in bytes.
    import_max_bytes: int = 64 * 1024 * 1024
    # Rows validated and written per import transaction (and per resume step).
    import_chunk_rows: int = 5000
    # How often a replica looks for imports nobody is running (e.g. after a crash), in seconds.
    import_resume_interval_s: float = 5.0
    # Idempotency-Key answers are kept this long (Stripe keeps them 24 hours), then purged.
    idempotency_retention_hours: float = 24.0
    # How often purges (idempotency keys, old rate-limit windows) run, in seconds.
    housekeeping_interval_s: float = 300.0
