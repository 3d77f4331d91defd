"""The local stack's settings: environment variables prefixed LEADLOOP_STACK_."""

from pathlib import Path

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from leadloop.events.topology import SERVICES

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
    topic_partitions: int = 12
    ports: dict[str, int] = Field(default_factory=lambda: dict(DEFAULT_PORTS))
    # Use existing clusters instead of starting local ones. DATABASE_URL names a server
    # (e.g. postgresql://user:pw@db:5432/); each service gets its own database on it.
    kafka_bootstrap_servers: str | None = Field(
        default=None,
        validation_alias=AliasChoices("LEADLOOP_STACK_KAFKA_BOOTSTRAP_SERVERS",
                                      "KAFKA_BOOTSTRAP_SERVERS"),
    )
    database_url: str | None = Field(
        default=None, validation_alias=AliasChoices("LEADLOOP_STACK_DATABASE_URL", "DATABASE_URL")
    )
    services: tuple[str, ...] = SERVICES

    @property
    def bootstrap_servers(self) -> str:
        """Kafka to use: the existing cluster, or the local broker."""
        return self.kafka_bootstrap_servers or f"{self.host}:{self.kafka_port}"

    def server_url(self) -> str:
        """The PostgreSQL server (no database) as an asyncpg DSN."""
        if self.database_url:
            return self.database_url.replace("postgresql+asyncpg://", "postgresql://", 1)
        return f"postgresql://postgres@{self.host}:{self.postgres_port}"

    def database_url_for(self, service: str) -> str:
        """The SQLAlchemy URL of `service`'s own database."""
        base = self.server_url().rstrip("/")
        if base.count("/") > 2:  # a database was named: replace it
            base = base.rsplit("/", 1)[0]
        return base.replace("postgresql://", "postgresql+asyncpg://", 1) + f"/{service}"
