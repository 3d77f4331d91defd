"""The local stack's settings: which PostgreSQL databases and ports the services get."""

from pathlib import Path

import pytest

from leadloop_devstack.config import DEFAULT_PORTS, StackSettings
from leadloop_devstack.postgres import admin_dsn
from leadloop_devstack.services import ServiceProcess


@pytest.fixture(autouse=True)
def _no_stack_env(monkeypatch: pytest.MonkeyPatch) -> None:
    """The settings read the environment; a developer's own LEADLOOP_STACK_* must not leak in."""
    for name in ("DATABASE_URL", "KAFKA_BOOTSTRAP_SERVERS", "LEADLOOP_STACK_DATABASE_URL",
                 "LEADLOOP_STACK_KAFKA_BOOTSTRAP_SERVERS", "LEADLOOP_STACK_PORTS",
                 "LEADLOOP_STACK_DATABASE_PREFIX"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.parametrize(("database_url", "capture_url"), [
    # a server without a database
    ("postgresql://u:p@db:5432", "postgresql+asyncpg://u:p@db:5432/capture"),
    ("postgresql://u:p@db:5432/", "postgresql+asyncpg://u:p@db:5432/capture"),
    # the usual URL names a database: it is replaced, not appended to
    ("postgresql://u:p@db:5432/postgres", "postgresql+asyncpg://u:p@db:5432/capture"),
    ("postgresql+asyncpg://u:p@db:5432/postgres", "postgresql+asyncpg://u:p@db:5432/capture"),
    # what testcontainers' PostgresContainer(driver=None) hands out
    ("postgresql://test:test@localhost:49153/test",
     "postgresql+asyncpg://test:test@localhost:49153/capture"),
    # options and awkward passwords survive
    ("postgresql://u:p%40ss@db/app?ssl=require", "postgresql+asyncpg://u:p%40ss@db/capture?ssl=require"),
])
def test_each_service_gets_its_own_database_on_the_named_server(
        database_url: str, capture_url: str) -> None:
    settings = StackSettings(database_url=database_url)
    assert settings.database_url_for("capture") == capture_url


def test_the_local_server_is_used_when_no_database_url_is_set() -> None:
    settings = StackSettings(host="127.0.0.1", postgres_port=6543)
    assert settings.server_url() == "postgresql://postgres@127.0.0.1:6543"
    assert settings.database_url_for("scoring") == \
        "postgresql+asyncpg://postgres@127.0.0.1:6543/scoring"


def test_a_database_prefix_keeps_two_stacks_apart_on_one_server() -> None:
    settings = StackSettings(database_url="postgresql://u@db/postgres", database_prefix="b_")
    assert settings.database_name("handoff") == "b_handoff"
    assert settings.database_url_for("handoff") == "postgresql+asyncpg://u@db/b_handoff"


@pytest.mark.parametrize(("database_url", "connects_to"), [
    ("postgresql://u:p@db:5432", "postgresql://u:p@db:5432/postgres"),
    ("postgresql://u:p@db:5432/", "postgresql://u:p@db:5432/postgres"),
    ("postgresql://u:p@db:5432/postgres", "postgresql://u:p@db:5432/postgres"),
    # a user who may only reach their own database creates the others from there
    ("postgresql://test:test@localhost:49153/test", "postgresql://test:test@localhost:49153/test"),
    ("postgresql+asyncpg://u@db/app?ssl=require", "postgresql://u@db/app?ssl=require"),
])
def test_databases_are_created_from_a_database_the_url_names_or_postgres(
        database_url: str, connects_to: str) -> None:
    assert admin_dsn(StackSettings(database_url=database_url).server_url()) == connects_to


def test_ports_named_in_the_environment_replace_only_those_services(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADLOOP_STACK_PORTS", '{"capture": 9001}')
    settings = StackSettings()
    assert settings.ports == {**DEFAULT_PORTS, "capture": 9001}


def test_existing_clusters_are_named_by_the_documented_variables(
        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADLOOP_STACK_DATABASE_URL", "postgresql://u@db:5432/postgres")
    monkeypatch.setenv("LEADLOOP_STACK_KAFKA_BOOTSTRAP_SERVERS", "kafka:9092")
    settings = StackSettings()
    assert settings.bootstrap_servers == "kafka:9092"
    assert settings.database_url_for("outcomes") == "postgresql+asyncpg://u@db:5432/outcomes"


def test_local_services_trust_no_proxy_unless_one_is_named(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)
    service = ServiceProcess("capture", "127.0.0.1", 8001, {}, tmp_path / "capture.log")
    assert "--no-proxy-headers" in service.command()
    assert "--proxy-headers" not in service.command()

    named = ServiceProcess("capture", "127.0.0.1", 8001, {"FORWARDED_ALLOW_IPS": "10.0.0.7"},
                           tmp_path / "capture.log")
    command = named.command()
    assert command[command.index("--forwarded-allow-ips") + 1] == "10.0.0.7"
