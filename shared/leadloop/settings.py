"""Settings base: every service subclasses it with its own env prefix (LEADLOOP_<SERVICE>_)."""

import logging
import secrets
from typing import ClassVar, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadloop.auth import ApiKeyRecord
from leadloop.connections import DatabaseTls, KafkaConnection
from leadloop.webhooks import Network, parse_networks

log = logging.getLogger(__name__)

# Values that were once published as defaults (in this source, examples and old manifests):
# anyone can sign with them, so they are refused like a missing secret.
KNOWN_SECRETS = frozenset({
    "dev-only-link-secret-change-me", "dev-only-webhook-secret-change-me", "change-me",
    "changeme", "secret", "replace-me",
})
MIN_SECRET_LENGTH = 32


class UnsafeSecret(ValueError):
    """A signing secret a service must not start with."""


class ServiceSettings(BaseSettings):
    """Settings every service has. A subclass sets `model_config` with its env prefix."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_", extra="ignore")

    service_name: str = "service"
    database_url: str = "postgresql+asyncpg://postgres@127.0.0.1:5432/leadloop"
    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    host: str = "127.0.0.1"
    port: int = 8000
    log_level: str = "INFO"
    # Where browsers and receivers reach this service (links in mail, the embed script, the
    # sales page); http://<host>:<port> when unset. Never taken from a request's Host header.
    public_url: str | None = None

    # API keys, stored as SHA-256 hashes only: [{"name": ..., "sha256": ..., "scopes": [...]}].
    # Several keys may be valid at once, which is how a key is rotated without downtime.
    api_keys: list[ApiKeyRecord] = Field(default_factory=list)

    # Outbox relay: how many rows one claim takes, and how often it polls when no NOTIFY arrives.
    # Every commit that writes the outbox NOTIFYs the relay, and a relay that reconnects its
    # LISTEN looks at once, so the poll is only a safety net: each one is a transaction and a
    # count, paid by every idle replica (5 s, not 1 s, cut the idle stack's polls by 80%).
    outbox_batch_size: int = 500
    outbox_poll_interval_s: float = 5.0

    # Consumer runner.
    consumer_batch_size: int = 500
    consumer_max_attempts: int = 5
    consumer_retry_backoff_s: float = 0.2
    consumer_retry_backoff_max_s: float = 10.0
    # How long an event whose personal fields are encrypted waits for its lead's key (it comes
    # on the keys topic, normally within milliseconds) before it is dead-lettered.
    consumer_key_wait_s: float = 300.0
    # How a fetch waits for data: the broker answers once it holds this many bytes for us or
    # this many ms have passed. Fewer, larger fetches cost the broker and the consumer less CPU
    # per event under load; the wait is the most it adds to a hop at a trickle.
    consumer_fetch_min_bytes: int = 1
    consumer_fetch_max_wait_ms: int = 500

    # Producer linger: 0, because the outbox relay already hands the producer a whole batch at
    # once (the records queue up before the sender runs), so waiting buys no batching and would
    # add its full length to every hop of speed-to-lead at low load.
    producer_linger_ms: int = 0

    db_pool_size: int = 10

    # Largest request body any route reads (413 past it); routes that stream uploads and check
    # their own limit (capture's CSV import) are exempt.
    max_request_bytes: int = 1_048_576
    # Strict-Transport-Security max-age, sent only when > 0: set it when the service is reached
    # over TLS (behind a proxy that terminates TLS, say 31536000).
    hsts_max_age_s: int = 0

    # Tracing: spans go to this OTLP/HTTP endpoint (e.g. http://collector:4318/v1/traces).
    otlp_traces_endpoint: str | None = None
    trace_export_delay_ms: int = 5000

    # Settings that sign what the public can present back (links, tokens): a subclass names
    # them; the service refuses to start when one is missing, published or short.
    signing_secrets: ClassVar[tuple[str, ...]] = ()
    # Development only: a missing signing secret gets a random one per process (what it signed
    # dies with the process) instead of refusing to start. Never set it where real people are.
    dev_mode: bool = False

    def require_secrets(self) -> None:
        """Refuse a missing, published or short signing secret (anyone could forge what it
        signs): raise UnsafeSecret naming the setting. In dev mode a missing or published one
        becomes random.

        The app factory calls it as the service starts (its lifespan), not when settings are
        built, so that importing an app for its routes or OpenAPI document needs no secrets."""
        prefix = str(self.model_config.get("env_prefix", ""))
        for name in self.signing_secrets:
            value: str = getattr(self, name)
            if value and value not in KNOWN_SECRETS and len(value) >= MIN_SECRET_LENGTH:
                continue
            setting = f"{prefix}{name.upper()}"
            if not self.dev_mode:
                reason = ("is not set" if not value else "is a published default"
                          if value in KNOWN_SECRETS else
                          f"is shorter than {MIN_SECRET_LENGTH} characters")
                raise UnsafeSecret(f"{setting} {reason}: set a long random value (e.g. "
                                   f"`openssl rand -hex 32`), or {prefix}DEV_MODE=true "
                                   f"on a developer machine")
            if not value or value in KNOWN_SECRETS:
                log.warning("%s is not set (dev mode): using a random one", setting)
                setattr(self, name, secrets.token_hex(32))


    # Kafka security, as managed Kafka needs it (every client the service makes uses these:
    # producer, consumers, admin clients). PLAINTEXT by default, as the local broker runs.
    kafka_security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = \
        "PLAINTEXT"
    kafka_sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512",
                                  "OAUTHBEARER"] = "PLAIN"
    kafka_sasl_username: str | None = None
    kafka_sasl_password: SecretStr | None = None
    # OAUTHBEARER: tokens from this OAuth 2 token endpoint (client-credentials grant).
    kafka_oauth_token_url: str | None = None
    kafka_oauth_client_id: str | None = None
    kafka_oauth_client_secret: SecretStr | None = None
    kafka_oauth_scope: str | None = None
    # TLS: the CA that signed the brokers' certificates (the system's CAs when unset), and a
    # client certificate and key for brokers that authenticate clients by certificate (mTLS).
    kafka_ssl_cafile: str | None = None
    kafka_ssl_certfile: str | None = None
    kafka_ssl_keyfile: str | None = None
    kafka_ssl_check_hostname: bool = True

    # PostgreSQL TLS, as libpq names it: disable, prefer, require, verify-ca, verify-full.
    # Unset, the database URL decides (its own ?ssl=... or none).
    database_sslmode: Literal["disable", "prefer", "require", "verify-ca",
                              "verify-full"] | None = None
    database_ssl_rootcert: str | None = None
    database_ssl_cert: str | None = None
    database_ssl_key: str | None = None

    @property
    def base_url(self) -> str:
        """The public base URL of this service, without a trailing slash."""
        return (self.public_url or f"http://{self.host}:{self.port}").rstrip("/")

    @property
    def kafka(self) -> "KafkaConnection":
        """How this service's Kafka clients connect (address and security)."""
        return KafkaConnection.of(self)

    @property
    def database_tls(self) -> "DatabaseTls":
        """How this service's database connections use TLS."""
        return DatabaseTls(self.database_sslmode, self.database_ssl_rootcert,
                           self.database_ssl_cert, self.database_ssl_key)

    @property
    def asyncpg_dsn(self) -> str:
        """The database URL as plain asyncpg expects it (for LISTEN/NOTIFY connections), with
        the TLS settings as its query parameters."""
        dsn = self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        query = self.database_tls.dsn_query()
        return f"{dsn}{'&' if '?' in dsn else '?'}{query}" if query else dsn


class MailingServiceSettings(ServiceSettings):
    """Settings of a service that sends email (nurture's sequences, outcomes' digest)."""

    # Outgoing mail: an SMTP server (the local stack runs a sink on 1025).
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 1025
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_starttls: bool = False
    smtp_timeout_s: float = 10.0
    mail_from: str = "LeadLoop <hello@leadloop.example>"


class OffSpeedPathSettings(ServiceSettings):
    """Settings of a service whose consumer is not on the speed-to-lead path (capture's lead
    search, nurture, outcomes): its fetches wait up to 200 ms for 256 KB, so at a campaign's
    pace it applies tens of leads' events per transaction instead of one or two, and leaves
    the cores to scoring and handoff. A welcome mail or a report 0.2 s later is not noticed;
    a rep told 0.2 s later would be."""

    consumer_fetch_min_bytes: int = 262_144
    consumer_fetch_max_wait_ms: int = 200


class OutboundHttpSettings(ServiceSettings):
    """Settings of a service that calls URLs its users configure (handoff's webhooks, nurture's
    channel adapters): those must resolve to public addresses, so an admin key cannot make the
    service reach internal ones."""

    # Networks allowed besides public addresses (comma-separated CIDRs, e.g. 127.0.0.0/8,::1 for
    # local receivers). Development and tests only.
    webhook_allowed_networks: str = ""

    @field_validator("webhook_allowed_networks")
    @classmethod
    def _networks(cls, value: str) -> str:
        parse_networks(value)  # raises ValueError naming the bad entry
        return value

    @property
    def webhook_networks(self) -> list[Network]:
        """The networks outbound calls may reach besides public addresses."""
        return parse_networks(self.webhook_allowed_networks)
