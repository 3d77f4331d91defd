"""How LeadLoop reaches Kafka and PostgreSQL when they are managed services: TLS, SASL
(PLAIN, SCRAM-SHA-256/512, OAUTHBEARER) and PostgreSQL's sslmode, from the settings base.

Every Kafka client the project makes takes its arguments from `kafka_client_args`, so one
setting covers the producer, the consumers, the key feed, the admin clients and the CLIs.
"""

import ssl
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import httpx
from aiokafka.abc import AbstractTokenProvider

if TYPE_CHECKING:
    from leadloop.settings import ServiceSettings


class ClientCredentialsTokens(AbstractTokenProvider):  # type: ignore[misc]
    """OAUTHBEARER tokens from an OAuth 2 token endpoint (client-credentials grant), kept
    until shortly before they expire."""

    def __init__(self, token_url: str, client_id: str, client_secret: str,
                 scope: str | None = None) -> None:
        self._url, self._client_id, self._secret, self._scope = (
            token_url, client_id, client_secret, scope)
        self._token: str | None = None
        self._expires_at = 0.0

    async def token(self) -> str:
        """A valid access token (fetched again 60 s before the current one expires)."""
        if self._token is None or time.monotonic() > self._expires_at - 60:
            form = {"grant_type": "client_credentials"}
            if self._scope:
                form["scope"] = self._scope
            async with httpx.AsyncClient(timeout=10) as client:
                answer = await client.post(self._url, data=form,
                                           auth=(self._client_id, self._secret))
            answer.raise_for_status()
            body = answer.json()
            self._token = str(body["access_token"])
            self._expires_at = time.monotonic() + float(body.get("expires_in", 300))
        return self._token


@dataclass(frozen=True)
class KafkaConnection:
    """Where the brokers are and how to authenticate to them."""

    bootstrap_servers: str
    security_protocol: str = "PLAINTEXT"
    sasl_mechanism: str = "PLAIN"
    sasl_username: str | None = None
    sasl_password: str | None = None
    oauth_token_url: str | None = None
    oauth_client_id: str | None = None
    oauth_client_secret: str | None = None
    oauth_scope: str | None = None
    ssl_cafile: str | None = None
    ssl_certfile: str | None = None
    ssl_keyfile: str | None = None
    ssl_check_hostname: bool = True

    @classmethod
    def of(cls, settings: "ServiceSettings") -> "KafkaConnection":
        """The connection a service's settings describe."""
        def secret(value: Any) -> str | None:
            return (value.get_secret_value() or None) if value is not None else None

        return cls(
            bootstrap_servers=settings.kafka_bootstrap_servers,
            security_protocol=settings.kafka_security_protocol,
            sasl_mechanism=settings.kafka_sasl_mechanism,
            # An empty value (an unset variable in compose) means "not set".
            sasl_username=settings.kafka_sasl_username or None,
            sasl_password=secret(settings.kafka_sasl_password),
            oauth_token_url=settings.kafka_oauth_token_url,
            oauth_client_id=settings.kafka_oauth_client_id,
            oauth_client_secret=secret(settings.kafka_oauth_client_secret),
            oauth_scope=settings.kafka_oauth_scope,
            ssl_cafile=settings.kafka_ssl_cafile or None,
            ssl_certfile=settings.kafka_ssl_certfile or None,
            ssl_keyfile=settings.kafka_ssl_keyfile or None,
            ssl_check_hostname=settings.kafka_ssl_check_hostname,
        )

    def __str__(self) -> str:  # what logs say about it: never the credentials
        return f"{self.bootstrap_servers} ({self.security_protocol})"

    def security_args(self) -> dict[str, Any]:
        """aiokafka's security arguments (none for PLAINTEXT)."""
        args: dict[str, Any] = {"security_protocol": self.security_protocol}
        if self.security_protocol in ("SSL", "SASL_SSL"):
            context = ssl.create_default_context(cafile=self.ssl_cafile)
            context.check_hostname = self.ssl_check_hostname
            if self.ssl_certfile:
                context.load_cert_chain(self.ssl_certfile, self.ssl_keyfile)
            args["ssl_context"] = context
        if self.security_protocol.startswith("SASL"):
            args["sasl_mechanism"] = self.sasl_mechanism
            if self.sasl_mechanism == "OAUTHBEARER":
                if not (self.oauth_token_url and self.oauth_client_id
                        and self.oauth_client_secret):
                    raise ValueError("OAUTHBEARER needs kafka_oauth_token_url, "
                                     "kafka_oauth_client_id and kafka_oauth_client_secret")
                args["sasl_oauth_token_provider"] = ClientCredentialsTokens(
                    self.oauth_token_url, self.oauth_client_id, self.oauth_client_secret,
                    self.oauth_scope)
            else:
                if not (self.sasl_username and self.sasl_password):
                    raise ValueError(f"{self.sasl_mechanism} needs kafka_sasl_username and "
                                     "kafka_sasl_password")
                args["sasl_plain_username"] = self.sasl_username
                args["sasl_plain_password"] = self.sasl_password
        return args


KafkaAddress = str | KafkaConnection
"""Where a Kafka client connects: bootstrap servers (PLAINTEXT), or a whole connection."""


def kafka_client_args(kafka: KafkaAddress) -> dict[str, Any]:
    """The arguments every aiokafka client (producer, consumer, admin) gets: the bootstrap
    servers and, for a `KafkaConnection`, its security settings."""
    if isinstance(kafka, str):
        return {"bootstrap_servers": kafka}
    return {"bootstrap_servers": kafka.bootstrap_servers, **kafka.security_args()}


@dataclass(frozen=True)
class DatabaseTls:
    """PostgreSQL TLS as libpq spells it (sslmode and the certificate files)."""

    sslmode: str | None = None
    rootcert: str | None = None
    cert: str | None = None
    key: str | None = None

    def connect_args(self) -> dict[str, Any]:
        """asyncpg's `ssl` argument, for SQLAlchemy's `connect_args` (empty when unset)."""
        if self.sslmode is None:
            return {}
        if self.sslmode in ("disable", "prefer") or not (self.rootcert or self.cert):
            return {"ssl": self.sslmode}
        context = ssl.create_default_context(cafile=self.rootcert)
        if self.sslmode == "require" and not self.rootcert:
            context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        elif self.sslmode in ("require", "verify-ca"):
            context.check_hostname = False  # the CA is checked, the host name is not
        if self.cert:
            context.load_cert_chain(self.cert, self.key)
        return {"ssl": context}

    def dsn_query(self) -> str:
        """The same settings as DSN query parameters, for plain asyncpg connections
        (LISTEN/NOTIFY)."""
        params = {name: value for name, value in (
            ("sslmode", self.sslmode), ("sslrootcert", self.rootcert),
            ("sslcert", self.cert), ("sslkey", self.key)) if value}
        return urlencode(params)
