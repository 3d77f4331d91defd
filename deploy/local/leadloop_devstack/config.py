"""The local stack's settings: environment variables prefixed LEADLOOP_STACK_."""

from pathlib import Path

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import URL, make_url

from leadloop.events.topology import DEFAULT_TOPIC_PARTITIONS, SERVICES

REPO_ROOT = Path(__file__).resolve().parents[3]

DEFAULT_PORTS = {"capture": 8001, "scoring": 8002, "handoff": 8003, "nurture": 8004,
                 "outcomes": 8005}


class StackSettings(BaseSettings):
    """Where the stack keeps its state and which ports it uses."""

    model_config = SettingsConfigDict(env_prefix="LEADLOOP_STACK_", extra="ignore")

    home: Path = Field(default=REPO_ROOT / ".leadloop", description="state: data, logs, keys")
    host: str = "127.0.0.1"
    postgres_port: int = 5432
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    # The local SMTP sink nurture mails through (0, or taken: a free port is used).
    smtp_port: int = 1025
    topic_partitions: int = DEFAULT_TOPIC_PARTITIONS
    # Extra server options for the local PostgreSQL (`-c name=value ...`); the benchmarks load
    # pg_stat_statements with it to count statements per service.
    postgres_options: str = ""
    # Extra JVM options for the local Kafka broker (after the defaults, so they win).
    kafka_jvm_options: str = ""
    # Opt-in: a second listener of the local broker that behaves like a managed Kafka
    # (SASL_SSL with SCRAM-SHA-256/512, a CA made at start-up under <home>/kafka/tls). Off by
    # default: plaintext is faster. With kafka_sasl_ssl_services the services use it too.
    # SCRAM users are stored when the broker's storage is formatted: use a fresh home.
    kafka_sasl_ssl_port: int | None = None
    kafka_sasl_ssl_services: bool = False
    # Only the services named here move: {"capture": 9001} keeps the other defaults.
    ports: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PORTS))
    # Use existing clusters instead of starting local ones. DATABASE_URL names a server, with or
    # without a database (postgresql://user:pw@db:5432/ or .../postgres): each service gets its
    # own database on that server, named <database_prefix><service>.
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LEADLOOP_STACK_KAFKA_BOOTSTRAP_SERVERS",
                                      "KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LEADLOOP_STACK_DATABASE_URL", "DATABASE_URL")
    )
    # Lets two stacks share one PostgreSQL server without sharing databases.
    database_prefix: str = ""
    services: tuple[str, ...] = SERVICES

    @field_validator("ports", mode="after")
    @classmethod
    def _keep_default_ports(cls, ports: dict[str, int]) -> dict[str, int]:
        return {**DEFAULT_PORTS, **ports}

    @property
    def bootstrap_servers(self) -> str:
        """Kafka to use: the existing cluster, or the local broker."""
        return self.kafka_bootstrap_servers or f"{self.host}:{self.kafka_port}"

    def _server(self) -> URL:
        if self.database_url:
            return make_url(self.database_url)
        return URL.create("postgresql", username="postgres", host=self.host,
                          port=self.postgres_port)

    def server_url(self) -> str:
        """The PostgreSQL server as an asyncpg DSN, with the database DATABASE_URL names, if any
        (`ensure_databases` connects to it, or to `postgres` when none is named)."""
        return _render(self._server().set(drivername="postgresql"))

    def database_name(self, service: str) -> str:
        """The name of `service`'s own database."""
        return f"{self.database_prefix}{service}"

    def database_url_for(self, service: str) -> str:
        """The SQLAlchemy URL of `service`'s own database: DATABASE_URL's server, user and
        options, with the database name replaced."""
        return _render(self._server().set(drivername="postgresql+asyncpg",
                                          database=self.database_name(service)))


def _render(url: URL) -> str:
    return url.render_as_string(hide_password=False)
