"""Dockerfiles and docker-compose.yml: valid offline, and in step with the code."""

import os
import re
import shlex
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from typing import Any

import pytest
import yaml

from leadloop.events.topology import SERVICES, all_topics
from tests.unit.deploy_support import (
    COMPOSE_FILE,
    REPO,
    TOPIC_PARTITIONS,
    env_names,
    env_prefix,
    http_port,
)

COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())


def _dockerfile(service: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction, continuation lines joined, comments dropped."""
    text = (REPO / "services" / service / "Dockerfile").read_text()
    lines = [ln for ln in text.splitlines() if not ln.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    return [(ln.split(None, 1)[0].upper(), ln.split(None, 1)[1] if " " in ln.strip() else "")
            for ln in joined.splitlines() if ln.strip()]


def _args(instructions: list[tuple[str, str]], name: str) -> list[str]:
    return [args for instruction, args in instructions if instruction == name]


def _compose_command() -> list[str] | None:
    if shutil.which("docker"):
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True)
        if probe.returncode == 0:
            return ["docker", "compose"]
    if shutil.which("docker-compose"):
        return ["docker-compose"]
    return None


def test_compose_file_is_valid() -> None:
    command = _compose_command()
    if command is None:
        message = ("neither `docker compose` nor `docker-compose` is installed "
                   "(apt-get install --no-install-recommends docker-compose)")
        if os.environ.get("CI"):
            pytest.fail(message)
        pytest.skip(message)
    # No engine needed: `config` only parses, interpolates and checks against the Compose schema.
    result = subprocess.run([*command, "-f", str(COMPOSE_FILE), "config", "-q"],
                            capture_output=True, text=True, cwd=REPO, timeout=120,
                            env={**os.environ, "COMPOSE_PROJECT_NAME": "leadloop"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_builds_a_slim_non_root_image_that_runs_the_service(service: str) -> None:
    instructions = _dockerfile(service)
    port = str(http_port(service))
    assert all(base.split()[0] == "python:3.11-slim" for base in _args(instructions, "FROM"))
    copies = " ".join(_args(instructions, "COPY"))
    assert "shared/" in copies and f"services/{service}/" in copies
    installs = " ".join(a for a in _args(instructions, "RUN") if "pip install" in a)
    assert "/src/shared" in installs and f"/src/services/{service}" in installs
    user = _args(instructions, "USER")[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, "run as a numeric non-root user"
    assert _args(instructions, "EXPOSE") == [port]
    healthcheck = _args(instructions, "HEALTHCHECK")
    assert len(healthcheck) == 1 and f"127.0.0.1:{port}/healthz" in healthcheck[0]
    command = yaml.safe_load(_args(instructions, "CMD")[-1])  # exec form is a JSON list
    assert command[:2] == ["uvicorn", f"{service}.main:app"]
    assert command[command.index("--port") + 1] == port


@pytest.mark.parametrize("package", ["shared/leadloop", *(f"services/{s}/{s}" for s in SERVICES)])
def test_image_install_carries_every_data_file_the_package_reads(package: str) -> None:
    # The images install packages (not editable), so a file that package-data does not list
    # (templates, scripts) works in the repository and is missing in the container.
    root = REPO / package
    data = sorted(p.relative_to(root).as_posix() for p in root.rglob("*")
                  if p.is_file() and p.suffix not in {".py", ".pyc"}
                  and "__pycache__" not in p.parts
                  and not any(part.startswith(".") for part in p.relative_to(root).parts))
    pyproject = tomllib.loads((root.parent / "pyproject.toml").read_text())
    patterns = pyproject.get("tool", {}).get("setuptools", {}).get("package-data", {})
    listed = patterns.get(root.name, [])
    assert [f for f in data if not any(fnmatch(f, pattern) for pattern in listed)] == [], (
        f"add them to [tool.setuptools.package-data] {root.name} in {package}/../pyproject.toml")


@pytest.mark.parametrize("service", SERVICES)
def test_compose_runs_the_service_after_its_migrations(service: str) -> None:
    services = COMPOSE["services"]
    app, migrations = services[service], services[f"{service}-migrations"]
    build = {"context": ".", "dockerfile": f"services/{service}/Dockerfile"}
    assert app["build"] == build and migrations["build"] == build
    assert app["image"] == migrations["image"]
    assert migrations["command"] == ["alembic", "upgrade", "head"]
    assert app["depends_on"][f"{service}-migrations"] == {
        "condition": "service_completed_successfully"}
    assert app["depends_on"]["kafka-topics"] == {"condition": "service_completed_successfully"}
    assert migrations["depends_on"]["postgres"] == {"condition": "service_healthy"}
    port = http_port(service)
    assert app["ports"] == [f"127.0.0.1:{port}:{port}"]


@pytest.mark.parametrize("service", SERVICES)
def test_compose_environment_is_read_by_the_service_settings(service: str) -> None:
    env = COMPOSE["services"][service]["environment"]
    assert set(env) <= env_names(service), "variables the settings would silently ignore"
    prefix = env_prefix(service)
    assert env[prefix + "KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    database_url = env[prefix + "DATABASE_URL"]
    assert database_url.startswith("postgresql+asyncpg://")
    assert database_url.endswith(f"@postgres:5432/{service}"), "one database per service"


def test_postgres_creates_one_database_per_service() -> None:
    mounts = COMPOSE["services"]["postgres"]["volumes"]
    script = next(m.split(":")[0] for m in mounts if "docker-entrypoint-initdb.d" in m)
    created = re.findall(r"CREATE DATABASE (\w+);", (REPO / script).read_text())
    assert sorted(created) == sorted(SERVICES)


def test_kafka_runs_in_kraft_mode_from_the_official_image() -> None:
    kafka = COMPOSE["services"]["kafka"]
    assert kafka["image"].startswith("apache/kafka:")
    assert set(kafka["environment"]["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    assert kafka["environment"]["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_compose_creates_every_topic_with_its_partitions() -> None:
    topics = COMPOSE["services"]["kafka-topics"]
    assert topics["image"] == COMPOSE["services"]["kafka"]["image"]
    assert sorted(topics["environment"]["LEADLOOP_TOPICS"].split()) == sorted(all_topics())
    assert int(topics["environment"]["LEADLOOP_TOPIC_PARTITIONS"]) == TOPIC_PARTITIONS
    script = topics["command"][0]
    assert "--if-not-exists" in shlex.split(script.replace("\\\n", " "))


def test_mail_sink_has_a_web_ui() -> None:
    mailpit = COMPOSE["services"]["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    assert "127.0.0.1:8025:8025" in mailpit["ports"]
