"""Capture's settings: environment variables prefixed LEADLOOP_CAPTURE_."""

from pydantic_settings import SettingsConfigDict

from leadloop.settings import ServiceSettings


class CaptureSettings(ServiceSettings):
    """Capture's settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_CAPTURE_", extra="ignore")

    service_name: str = "capture"
    port: int = 8001
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/capture"

    # Where browsers reach capture (the embed script posts submissions and page views there);
    # defaults to http://<host>:<port>. Never taken from a request's Host header.
    public_url: str | None = None
    # Signs the embed script's 'page loaded at' token (minimum fill time). Set the same value on
    # every replica; when empty, each process draws a random one at start.
    form_token_secret: str = ""
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

    @property
    def base_url(self) -> str:
        """The public base URL of capture's form routes."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
