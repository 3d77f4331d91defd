"""Nurture's settings: environment variables prefixed LEADLOOP_NURTURE_."""

from typing import ClassVar

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from leadloop.settings import (
    MailingServiceSettings,
    OffSpeedPathSettings,
    OutboundHttpSettings,
    UnsafeSecret,
)

__all__ = ["NurtureSettings", "UnsafeSecret"]


class NurtureSettings(OffSpeedPathSettings, MailingServiceSettings, OutboundHttpSettings):
    """Nurture's settings. From the shared bases: public_url (where people reach the pixel,
    click and unsubscribe routes), the SMTP server, and webhook_allowed_networks (channel
    adapters must resolve to public addresses or be in these)."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_NURTURE_", extra="ignore")

    service_name: str = "nurture"
    port: int = 8004
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/nurture"

    # Mail goes through MailingServiceSettings' SMTP server; nurture sends on several connections.
    smtp_connections: int = 8
    # The "call us directly" call to action in every email.
    sales_phone: str = "+1 555 0100"
    # Signs tracking and unsubscribe links. No default: nurture refuses to start without a
    # random value of at least 32 characters (the same on every replica), unless dev_mode
    # (leadloop.settings.ServiceSettings.require_secrets).
    link_secret: str = ""
    # Signs webhook channel requests (Standard Webhooks, as handoff signs: "whsec_<base64>" or
    # any long random text); the receiving adapter holds the same value. Required like
    # link_secret.
    webhook_secret: str = ""
    signing_secrets: ClassVar[tuple[str, ...]] = ("link_secret", "webhook_secret")
    # An SMS longer than this many segments (GSM-7: 160 characters alone, 153 each when split;
    # UCS-2: 70 / 67) is not sent; the message log says why.
    sms_max_segments: int = Field(default=3, ge=1, le=20)
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
