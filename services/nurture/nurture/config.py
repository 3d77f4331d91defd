"""Nurture's settings: environment variables prefixed LEADLOOP_NURTURE_."""

from pydantic_settings import SettingsConfigDict

from leadloop.settings import MailingServiceSettings


class NurtureSettings(MailingServiceSettings):
    """Nurture's settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_NURTURE_", extra="ignore")

    service_name: str = "nurture"
    port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/nurture"

    # Mail goes through MailingServiceSettings' SMTP server; nurture sends on several connections.
    smtp_connections: int = 8
    # The "call us directly" call to action in every email.
    sales_phone: str = "+1 555 0100"
    # Where people reach nurture's public routes (pixel, click, unsubscribe); defaults to
    # http://<host>:<port>.
    public_url: str | None = None
    # Signs tracking and unsubscribe links; set a long random value in production.
    link_secret: str = "dev-only-link-secret-change-me"
    # Signs webhook channel requests (HMAC-SHA256); the receiving adapter holds the same value.
    webhook_secret: str = "dev-only-webhook-secret-change-me"
    # Used for quiet hours and wait-until steps when the lead's time zone is unknown.
    default_time_zone: str = "UTC"

    # Step scheduler: due enrollments claimed per transaction, and polling when idle.
    scheduler_batch_size: int = 200
    scheduler_poll_interval_s: float = 0.5

    @property
    def base_url(self) -> str:
        """The public base URL of nurture's tracking and unsubscribe routes."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
