"""Alembic support shared by every service: each service's env.py is three lines that call this."""

import asyncio

from alembic import context
from sqlalchemy import MetaData, pool
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import create_async_engine

from leadloop.connections import DatabaseTls
from leadloop.infra_tables import infra_metadata, keyring_metadata

_SHARED_METADATA = [infra_metadata, keyring_metadata]


def _migrate(connection: Connection, metadata: MetaData) -> None:
    context.configure(connection=connection, target_metadata=[metadata, *_SHARED_METADATA])
    with context.begin_transaction():
        context.run_migrations()


async def _run_online(database_url: str, metadata: MetaData, tls: DatabaseTls) -> None:
    engine = create_async_engine(database_url, poolclass=pool.NullPool,
                                 connect_args=tls.connect_args())
    async with engine.connect() as connection:
        await connection.run_sync(_migrate, metadata)
    await engine.dispose()


def run_migrations(database_url: str, metadata: MetaData, tls: DatabaseTls | None = None
                   ) -> None:
    """Run the service's pending migrations against `database_url` (over TLS as `tls`
    says; online mode only)."""
    if context.is_offline_mode():
        context.configure(url=database_url, target_metadata=[metadata, *_SHARED_METADATA],
                          literal_binds=True)
        with context.begin_transaction():
            context.run_migrations()
        return
    asyncio.run(_run_online(database_url, metadata, tls or DatabaseTls()))
