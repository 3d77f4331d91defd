"""The whole local stack: start in order, stop in reverse, and the knobs failure tests need."""

import asyncio
import json
import time
from collections.abc import Mapping
from email.message import EmailMessage

from leadloop.events.topology import all_topics
from leadloop_devstack.config import StackSettings
from leadloop_devstack.kafka import (
    LocalKafka,
    SaslSslListener,
    ensure_topics,
    resolve_classpath,
    wait_for_kafka,
)
from leadloop_devstack.keys import (
    SALES_PAGE_KEY,
    api_keys_setting,
    dev_admin_key,
    dev_secrets,
    kept_secret,
)
from leadloop_devstack.postgres import LocalPostgres, ensure_databases
from leadloop_devstack.services import ServiceProcess, run_migrations, service_env_prefix
from leadloop_devstack.smtp import SmtpSink, read_mail

# Services that send mail through the local SMTP sink: nurture's sequences, outcomes' digest,
# handoff's fallback queue alerts to managers, capture's consent confirmations.
MAILING_SERVICES = ("nurture", "outcomes", "handoff", "capture")
LOCAL_DIGEST_RECIPIENT = "marketing-and-sales@leadloop.example"


class Stack:
    """PostgreSQL, Kafka and the services, as configured by `StackSettings`."""

    def __init__(self, settings: StackSettings | None = None,
                 service_env: Mapping[str, str] | None = None) -> None:
        self.settings = settings or StackSettings()
        home = self.settings.home
        self.postgres = (None if self.settings.database_url else
                         LocalPostgres(home, self.settings.host, self.settings.postgres_port,
                                       self.settings.postgres_options))
        sasl_ssl = None if self.settings.kafka_sasl_ssl_port is None else SaslSslListener(
            self.settings.kafka_sasl_ssl_port, password=kept_secret(home / "kafka-scram"))
        self.kafka = (None if self.settings.kafka_bootstrap_servers else
                      LocalKafka(home, self.settings.host, self.settings.kafka_port,
                                 self.settings.kafka_controller_port,
                                 self.settings.topic_partitions,
                                 self.settings.kafka_jvm_options, sasl_ssl))
        self.smtp = SmtpSink(home, self.settings.host, self.settings.smtp_port)
        self.admin_key = dev_admin_key(home)
        # Setting -> value of every signing secret (nurture's links and webhooks, capture's form
        # tokens), random and kept in <home>/dev-secrets.env.
        self.secrets = dev_secrets(home)
        self.extra_env = dict(service_env or {})
        self.services = {
            name: ServiceProcess(name, self.settings.host, self.settings.ports[name],
                                 self._env_for(name), home / "logs" / f"{name}.log")
            for name in self.settings.services
        }
        self._classpath: str | None = None
        self.timings: dict[str, float] = {}

    @property
    def bootstrap_servers(self) -> str:
        """Kafka's bootstrap servers."""
        return self.settings.bootstrap_servers

    def url(self, service: str) -> str:
        """Base URL of a service."""
        return self.services[service].url

    def _env_for(self, service: str) -> dict[str, str]:
        prefix = service_env_prefix(service)
        env = {
            f"{prefix}DATABASE_URL": self.settings.database_url_for(service),
            f"{prefix}KAFKA_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            f"{prefix}HOST": self.settings.host,
            f"{prefix}PORT": str(self.settings.ports[service]),
            f"{prefix}API_KEYS": api_keys_setting(self.admin_key),
            **{name: value for name, value in self.secrets.items() if name.startswith(prefix)},
        }
        if self.kafka is not None and self.kafka.sasl_ssl and self.settings.kafka_sasl_ssl_services:
            secure = self.kafka.secure_connection(ca_file=self.kafka.dir / "tls" / "ca.pem")
            env.update({
                f"{prefix}KAFKA_BOOTSTRAP_SERVERS": secure.bootstrap_servers,
                f"{prefix}KAFKA_SECURITY_PROTOCOL": secure.security_protocol,
                f"{prefix}KAFKA_SASL_MECHANISM": secure.sasl_mechanism,
                f"{prefix}KAFKA_SASL_USERNAME": secure.sasl_username or "",
                f"{prefix}KAFKA_SASL_PASSWORD": secure.sasl_password or "",
                f"{prefix}KAFKA_SSL_CAFILE": secure.ssl_cafile or ""})
        if service == "outcomes":  # a new user sees the digest arrive in the SMTP sink
            env[f"{prefix}DIGEST_RECIPIENTS"] = LOCAL_DIGEST_RECIPIENT
            env[f"{prefix}API_KEYS"] = api_keys_setting(
                self.admin_key, sales_page_key=self.secrets[SALES_PAGE_KEY])
        if service == "handoff":  # the sales page shows timelines from outcomes
            env[f"{prefix}OUTCOMES_URL"] = \
                f"http://{self.settings.host}:{self.settings.ports['outcomes']}"
        if service in MAILING_SERVICES:  # nurture, the digest and queue alerts mail via the sink
            env[f"{prefix}SMTP_HOST"] = self.settings.host
            env[f"{prefix}SMTP_PORT"] = str(self.smtp.port)
        if service == "capture":  # the GDPR export asks every other service for its part
            env[f"{prefix}EXPORT_PEERS"] = json.dumps({
                name: f"http://{self.settings.host}:{port}"
                for name, port in self.settings.ports.items() if name != "capture"})
        return {**env, **{k: v for k, v in self.extra_env.items() if k.startswith(prefix)}}

    async def start(self) -> None:
        """Bring everything up and return when every service is ready."""
        started = time.monotonic()
        await asyncio.gather(self._start_postgres(), self._start_kafka(), self._start_smtp())
        self.timings["infrastructure_s"] = time.monotonic() - started
        await asyncio.gather(*(run_migrations(name, svc.env)
                               for name, svc in self.services.items()))
        self.timings["migrations_s"] = time.monotonic() - started
        for service in self.services.values():
            service.start()
        await asyncio.gather(*(s.wait_ready() for s in self.services.values()))
        self.timings["ready_s"] = time.monotonic() - started

    async def _start_smtp(self) -> None:
        self.smtp.start()  # on smtp_port, or a free port when another stack holds it
        await self.smtp.wait_ready()
        for name in MAILING_SERVICES:
            service = self.services.get(name)
            setting = f"{service_env_prefix(name)}SMTP_PORT"
            if service is not None and setting not in self.extra_env:
                service.env[setting] = str(self.smtp.port)

    def received_mail(self) -> list[EmailMessage]:
        """Every message the local SMTP sink received (also in <home>/mail/*.eml)."""
        return read_mail(self.smtp.maildir)

    async def _start_postgres(self) -> None:
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.start)
        await ensure_databases(self.settings.server_url(),
                               [self.settings.database_name(s) for s in self.settings.services])

    async def _start_kafka(self) -> None:
        if self.kafka is not None:
            self._classpath = await asyncio.to_thread(
                resolve_classpath, self.settings.home / "kafka")
            await asyncio.to_thread(self.kafka.start, self._classpath)
            await self.kafka.wait_ready()
        else:
            await wait_for_kafka(self.bootstrap_servers, 30)
        await ensure_topics(self.bootstrap_servers, all_topics(), self.settings.topic_partitions)

    async def stop(self) -> None:
        """Stop services first (they drain and commit), then Kafka, then PostgreSQL."""
        await asyncio.gather(*(asyncio.to_thread(s.stop) for s in self.services.values()))
        await asyncio.to_thread(self.smtp.stop)
        if self.kafka is not None:
            await asyncio.to_thread(self.kafka.stop)
        if self.postgres is not None:
            await asyncio.to_thread(self.postgres.stop)

    # --- for failure tests --------------------------------------------------------------------

    def kill_service(self, name: str) -> None:
        """SIGKILL one service."""
        self.services[name].kill()

    async def start_service(self, name: str) -> None:
        """Start one service again and wait until it is ready."""
        self.services[name].start()
        await self.services[name].wait_ready()

    async def restart_kafka(self) -> None:
        """Stop the broker and start it again on the same data."""
        assert self.kafka is not None and self._classpath is not None, "Kafka is not ours"
        await asyncio.to_thread(self.kafka.stop)
        await asyncio.to_thread(self.kafka.start, self._classpath)
        await self.kafka.wait_ready()

    async def restart_postgres(self) -> None:
        """Stop PostgreSQL (fast mode: sessions are cut) and start it again on the same data."""
        assert self.postgres is not None, "PostgreSQL is not ours"
        await asyncio.to_thread(self.postgres.stop)
        await asyncio.to_thread(self.postgres.start)
