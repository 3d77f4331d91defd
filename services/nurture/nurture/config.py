"""Nurture's settings: environment variables prefixed LEADLOOP_NURTURE_."""

import logging
import secrets

from pydantic import Field, field_validator
from pydantic_settings import SettingsConfigDict

from leadloop.settings import MailingServiceSettings
from leadloop.webhooks import Network, parse_networks

log = logging.getLogger(__name__)

# Values that were once published as defaults (in this source, examples and old manifests):
# anyone can sign links with them, so they are refused like a missing secret.
KNOWN_SECRETS = frozenset({
    "dev-only-link-secret-change-me", "dev-only-webhook-secret-change-me", "change-me",
    "changeme", "secret", "replace-me",
})
MIN_SECRET_LENGTH = 32
_SECRETS = ("link_secret", "webhook_secret")


class UnsafeSecret(ValueError):
    """A signing secret nurture must not start with."""


class NurtureSettings(MailingServiceSettings):
    """Nurture's settings."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_NURTURE_", extra="ignore")

    service_name: str = "nurture"
    port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/nurture"

    # Not on the speed-to-lead path: fetches wait up to 200 ms for 256 KB, so at a campaign's
    # pace this consumer applies tens of leads' events per transaction instead of one or two,
    # and leaves the cores to scoring and handoff (a report or a welcome mail 0.2 s later is
    # not noticed; a rep told 0.2 s later would be).
    consumer_fetch_min_bytes: int = 262_144
    consumer_fetch_max_wait_ms: int = 200

    # Mail goes through MailingServiceSettings' SMTP server; nurture sends on several connections.
    smtp_connections: int = 8
    # The "call us directly" call to action in every email.
    sales_phone: str = "+1 555 0100"
    # Where people reach nurture's public routes (pixel, click, unsubscribe); defaults to
    # http://<host>:<port>.
    public_url: str | None = None
    # Signs tracking and unsubscribe links. No default: nurture refuses to start without a
    # random value of at least 32 characters (the same on every replica), unless dev_mode.
    link_secret: str = ""
    # Signs webhook channel requests (Standard Webhooks, as handoff signs: "whsec_<base64>" or
    # any long random text); the receiving adapter holds the same value. Required like
    # link_secret.
    webhook_secret: str = ""
    # Channel adapter URLs must resolve to public addresses; networks listed here
    # (comma-separated CIDRs, e.g. 127.0.0.0/8,::1 for local adapters) are allowed too.
    # Development and tests only.
    webhook_allowed_networks: str = ""
    # An SMS longer than this many segments (GSM-7: 160 characters alone, 153 each when split;
    # UCS-2: 70 / 67) is not sent; the message log says why.
    sms_max_segments: int = Field(default=3, ge=1, le=20)
    # Development only: a missing secret gets a random one per process (links then die with the
    # process) instead of refusing to start. Never set it where mail reaches real people.
    dev_mode: bool = False
    # Used for quiet hours and wait-until steps when the lead's time zone is unknown.
    default_time_zone: str = "UTC"

    # Step scheduler: due enrollments claimed per transaction, and polling when idle.
    scheduler_batch_size: int = 200
    scheduler_poll_interval_s: float = 0.5

    # Public routes (pixel, click, unsubscribe): requests per client IP in any sliding minute,
    # counted across replicas; past it they get 429 with Retry-After.
    public_per_ip_per_minute: int = 120
    # How often spent rate-limit windows are purged, in seconds.
    housekeeping_interval_s: float = 300.0

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # raises ValueError naming the bad entry
        return value

    @property
    def webhook_networks(self) -> list[Network]:
        """The networks channel adapters may be on besides public addresses."""
        return parse_networks(self.webhook_allowed_networks)

    def require_secrets(self) -> None:
        """Refuse a missing, published or short secret (anyone could forge links with it):
        raise naming the setting. In dev mode a missing or published one becomes random.

        Called as the service starts (nurture.main), not when settings are built, so that
        importing the app for its routes or OpenAPI document needs no secrets."""
        for name in _SECRETS:
            value: str = getattr(self, name)
            if value and value not in KNOWN_SECRETS and len(value) >= MIN_SECRET_LENGTH:
                continue
            setting = f"LEADLOOP_NURTURE_{name.upper()}"
            if not self.dev_mode:
                reason = ("is not set" if not value else "is a published default"
                          if value in KNOWN_SECRETS else
                          f"is shorter than {MIN_SECRET_LENGTH} characters")
                raise UnsafeSecret(f"{setting} {reason}: set a long random value (e.g. "
                                   f"`openssl rand -hex 32`), or LEADLOOP_NURTURE_DEV_MODE=true "
                                   f"on a developer machine")
            if not value or value in KNOWN_SECRETS:
                log.warning("%s is not set (dev mode): using a random one", setting)
                setattr(self, name, secrets.token_hex(32))

    @property
    def base_url(self) -> str:
        """The public base URL of nurture's tracking and unsubscribe routes."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")
