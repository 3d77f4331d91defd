"""Integration fixtures: a fresh database and fresh topics per test, on the stack's servers."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

import asyncpg
import pytest_asyncio
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.consumer import ConsumerRunner, ConsumerTuning
from leadloop.db import create_engine
from leadloop.events.topology import dead_letter_topic_of, topic_of
from leadloop.handlers import Handlers
from leadloop.infra_tables import create_infra_schema
from leadloop_devstack.postgres import admin_dsn, ensure_databases
from leadloop_devstack.services import run_migrations, service_env_prefix
from leadloop_devstack.stack import Stack
from tests.support import eventually

# Each service's newest schema, migrated once per server and test session into a template
# database (the service's own Alembic migrations, as the stack runs them). A test's fresh
# database is a copy of it, CREATE DATABASE … TEMPLATE (a fraction of a second), not an Alembic
# run of its own (a Python process importing the service, 2 to 5 s on two cores): the same schema.
_templates: dict[tuple[str, str], str] = {}


async def _template_of(stack: Stack, service: str) -> str:
    """The name of the database holding `service`'s newest schema on the stack's server."""
    server = stack.settings.server_url()
    if (server, service) not in _templates:
        name = f"template_{service}_{uuid.uuid4().hex[:8]}"
        await ensure_databases(server, [stack.settings.database_name(name)])
        await run_migrations(service, {f"{service_env_prefix(service)}DATABASE_URL":
                                       stack.settings.database_url_for(name)})
        _templates.setdefault((server, service), name)
    return _templates[(server, service)]


async def migrated_database(stack: Stack, service: str, tag: str) -> str:
    """A fresh database for `service` at its newest migration; returns its URL."""
    template = stack.settings.database_name(await _template_of(stack, service))
    name = f"{tag}_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_dsn(stack.settings.server_url()))
    try:
        await conn.execute(
            f'CREATE DATABASE "{stack.settings.database_name(name)}" TEMPLATE "{template}"')
    finally:
        await conn.close()
    return stack.settings.database_url_for(name)


@asynccontextmanager
async def migrated_engine(stack: Stack, service: str, tag: str, *, pool_size: int = 2
                          ) -> AsyncIterator[AsyncEngine]:
    """An engine on a fresh database for `service` at its newest migration, disposed after."""
    engine = create_engine(await migrated_database(stack, service, tag), pool_size=pool_size)
    try:
        yield engine
    finally:
        await engine.dispose()


@dataclass
class Sandbox:
    """A service name of its own, its database (outbox + inbox) and its topics."""

    service: str
    engine: AsyncEngine
    database_url: str
    bootstrap_servers: str

    @property
    def topic(self) -> str:
        return topic_of(self.service)

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic_of(self.service)

    @asynccontextmanager
    async def consuming(self, producer: AIOKafkaProducer, handlers: Handlers,
                        engine: AsyncEngine | None = None) -> AsyncIterator[ConsumerRunner]:
        """The consumer runner on this sandbox's topic while the block runs (stopped and
        awaited after it): two attempts a batch and quick retries, so a poison event is parked
        on the dead-letter topic within a second."""
        runner = ConsumerRunner(
            service=self.service, engine=engine or self.engine, producer=producer,
            bootstrap_servers=self.bootstrap_servers, topics=[self.topic], handlers=handlers,
            tuning=ConsumerTuning(max_attempts=2, retry_backoff_s=0.01, retry_backoff_max_s=0.05))
        task = asyncio.create_task(runner.run())
        try:
            yield runner
        finally:
            runner.stop()
            await task


@pytest_asyncio.fixture
async def sandbox(stack: Stack) -> AsyncIterator[Sandbox]:
    """An isolated service identity for one test."""
    service = f"it{uuid.uuid4().hex[:10]}"
    await ensure_databases(stack.settings.server_url(), [stack.settings.database_name(service)])
    url = stack.settings.database_url_for(service)
    engine = create_engine(url, pool_size=5)
    async with engine.begin() as conn:
        await conn.run_sync(create_infra_schema)
    admin = AIOKafkaAdminClient(bootstrap_servers=stack.bootstrap_servers)
    await admin.start()
    topics = [topic_of(service), dead_letter_topic_of(service)]
    await admin.create_topics([NewTopic(topics[0], 12, 1), NewTopic(topics[1], 1, 1)])
    # create_topics returns before partitions have leaders; producing earlier can stall.
    async def leaders_elected() -> None:
        described = await admin.describe_topics(topics)
        for topic in described:
            assert topic["error_code"] == 0 and topic["partitions"], topic
            assert all(p["leader"] >= 0 for p in topic["partitions"]), topic
    await eventually(leaders_elected)
    await admin.close()
    yield Sandbox(service, engine, url, stack.bootstrap_servers)
    await engine.dispose()
