"""Dockerfiles and docker-compose.yml: valid offline, and in step with the code."""

import configparser
import os
import re
import shlex
import shutil
import subprocess
import tomllib
from fnmatch import fnmatch
from pathlib import Path, PurePosixPath
from typing import Any

import pytest
import yaml

from leadloop.events.topology import SERVICES
from tests.support.deploy import (
    COMPOSE_FILE,
    REPO,
    env_names,
    env_prefix,
    expected_topics,
    go_tool,
    http_port,
    parse_topic_specs,
    run_topics_script,
    topics_created,
)

COMPOSE: dict[str, Any] = yaml.safe_load(COMPOSE_FILE.read_text())


DOCKERFILE = REPO / "Dockerfile"


def _dockerfile(service: str) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) per instruction of the one Dockerfile, continuation lines joined,
    comments dropped, with the build arguments Compose passes for `service` and the image's own
    environment substituted (as Docker does at build time and the shell at run time)."""
    text = DOCKERFILE.read_text()
    values = {"SERVICE": service, "PORT": str(http_port(service)), "APP_SERVICE": service,
              "APP_PORT": str(http_port(service))}
    for name, value in values.items():
        text = text.replace("${" + name + "}", value)
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


# The signing secrets and the admin key's hash have no defaults: Compose takes them from the
# environment or .env.
SIGNING_SECRETS = {name: "0" * 64 for name in (
    "LEADLOOP_NURTURE_LINK_SECRET", "LEADLOOP_NURTURE_WEBHOOK_SECRET",
    "LEADLOOP_CAPTURE_FORM_TOKEN_SECRET", "LEADLOOP_HANDOFF_PAGE_SESSION_SECRET",
    "LEADLOOP_OUTCOMES_DASHBOARD_SESSION_SECRET", "LEADLOOP_COMPOSE_ADMIN_KEY_SHA256")}


def _validate_with_compose_go(path: Path, secrets: dict[str, str] | None = None
                              ) -> subprocess.CompletedProcess[str]:
    # deploy/compose/validate: compose-go, the loader Docker Compose itself uses (interpolation,
    # the Compose Specification's JSON schema, references between services). No engine needed.
    validator = go_tool(REPO / "deploy" / "compose" / "validate", "leadloop-compose-validate")
    env = {k: v for k, v in os.environ.items() if k not in SIGNING_SECRETS}
    return subprocess.run([str(validator), str(path)], capture_output=True, text=True,
                          cwd=REPO, timeout=120,
                          env={**env, **(SIGNING_SECRETS if secrets is None else secrets)})


def test_compose_file_is_valid() -> None:
    result = _validate_with_compose_go(COMPOSE_FILE)
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("missing", sorted(SIGNING_SECRETS))
def test_compose_refuses_to_start_without_each_signing_secret(missing: str) -> None:
    given = {k: v for k, v in SIGNING_SECRETS.items() if k != missing}
    result = _validate_with_compose_go(COMPOSE_FILE, given)
    assert result.returncode != 0 and f"required variable {missing} is missing" in result.stderr


@pytest.mark.parametrize("service", ["capture", "handoff", "nurture", "outcomes"])
def test_compose_signing_secrets_come_from_the_environment_never_the_file(service: str) -> None:
    env = COMPOSE["services"][service]["environment"]
    secrets = {k: v for k, v in env.items() if k.endswith("_SECRET")}
    assert secrets and all(v == f"${{{k}:?" + v.split(":?", 1)[1] for k, v in secrets.items())
    # No published admin key either: only the hash the operator chose.
    assert "${LEADLOOP_COMPOSE_ADMIN_KEY_SHA256:?" in env[env_prefix(service) + "API_KEYS"]


def test_compose_validation_rejects_a_misspelled_key_and_a_bad_condition(tmp_path: Path) -> None:
    text = COMPOSE_FILE.read_text()
    for broken, field in [(text.replace("    restart: unless-stopped", "    restrat: x", 1),
                           "restrat"),
                          (text.replace("condition: service_healthy", "condition: healthy", 1),
                           "condition")]:
        path = tmp_path / "docker-compose.yml"
        path.write_text(broken)
        result = _validate_with_compose_go(path)
        assert result.returncode != 0 and field in result.stderr, result.stderr


def test_compose_file_is_valid_for_the_installed_compose() -> None:
    command = _compose_command()
    if command is None:
        pytest.skip("no `docker compose` or `docker-compose` here; compose-go validated the file")
    # No engine needed: `config` only parses, interpolates and checks against the Compose schema.
    result = subprocess.run([*command, "-f", str(COMPOSE_FILE), "config", "-q"],
                            capture_output=True, text=True, cwd=REPO, timeout=120,
                            env={**os.environ, **SIGNING_SECRETS,
                                 "COMPOSE_PROJECT_NAME": "leadloop"})
    assert result.returncode == 0, result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_every_service_has_its_compose_build_arguments(service: str) -> None:
    # One recipe for five images: the service's name and port are the only build arguments.
    args = COMPOSE["services"][service]["build"]["args"]
    assert args == {"SERVICE": service, "PORT": str(http_port(service))}
    assert re.findall(r"^ARG (\w+)", DOCKERFILE.read_text(), re.M) == [
        "BASE", "SERVICE", "SERVICE", "PORT"]


@pytest.mark.parametrize("service", SERVICES)
def test_image_carries_the_migrations_alembic_runs_from_the_workdir(service: str) -> None:
    instructions = _dockerfile(service)
    workdir = PurePosixPath(_args(instructions, "WORKDIR")[-1])
    copies = {PurePosixPath(dst): src for src, dst in
              (args.split()[-2:] for args in _args(instructions, "COPY") if "--from" not in args)}
    assert copies[workdir / "alembic.ini"] == f"services/{service}/alembic.ini"
    ini = configparser.ConfigParser()
    ini.read(REPO / "services" / service / "alembic.ini")
    script_location = ini.get("alembic", "script_location", vars={"here": str(workdir)})
    assert copies[PurePosixPath(script_location)].rstrip("/") == f"services/{service}/migrations"
    # The migrations step runs `alembic upgrade head` with no -c: alembic.ini in the workdir.
    assert (REPO / "services" / service / "migrations" / "env.py").exists()


@pytest.mark.parametrize("service", SERVICES)
def test_dockerfile_builds_a_slim_non_root_image_that_runs_the_service(service: str) -> None:
    instructions = _dockerfile(service)
    port = str(http_port(service))
    base = _args(instructions, "ARG")[0].removeprefix("BASE=")
    assert re.fullmatch(r"python:3\.\d+(\.\d+)?-slim(-\w+)?@sha256:[0-9a-f]{64}", base), (
        "a slim Python base pinned by digest")
    assert [b.split()[0] for b in _args(instructions, "FROM")] == ["${BASE}", "${BASE}"]
    copies = " ".join(_args(instructions, "COPY"))
    assert "uv.lock" in copies and "shared/" in copies and "services/" in copies
    # Installed from the lock only (fails if it is stale), the service and what it needs.
    installs = [a for a in _args(instructions, "RUN") if "install" in a or "sync" in a]
    assert installs[0].startswith("pip install uv==")
    assert installs[1] == (f"uv sync --frozen --no-default-groups --no-editable "
                           f"--package leadloop-{service}")
    user = _args(instructions, "USER")[-1].split(":")[0]
    assert user.isdigit() and int(user) != 0, "run as a numeric non-root user"
    assert _args(instructions, "EXPOSE") == [port]
    healthcheck = _args(instructions, "HEALTHCHECK")
    assert len(healthcheck) == 1 and f"127.0.0.1:{port}/healthz" in healthcheck[0]
    command = shlex.split(_args(instructions, "CMD")[-1])  # shell form: exec replaces the shell
    assert command[:3] == ["exec", "uvicorn", f"{service}.main:app"]
    assert command[command.index("--port") + 1] == port
    # Behind a proxy the client address comes from X-Forwarded-For of trusted proxies only.
    assert "--proxy-headers" in command and "--forwarded-allow-ips" not in command
    env = " ".join(_args(instructions, "ENV"))
    assert "FORWARDED_ALLOW_IPS=127.0.0.1" in env, "trust no proxy unless configured"


def _uv() -> str | None:
    """uv as `make` uses it (.tools/bin/uv), else one on PATH."""
    local = REPO / ".tools" / "bin" / "uv"
    return str(local) if local.exists() else shutil.which("uv")


def test_image_build_stage_installs_the_service_from_the_lock(tmp_path: Path) -> None:
    # The build stage's COPY and RUN steps replayed without Docker: the context holds only what
    # the Dockerfile copies, and `uv sync --frozen` must install the service, the shared package
    # and their locked dependencies, not the other services, the local stack or any test tool.
    uv = _uv()
    if uv is None:
        pytest.skip("no uv here (make installs one into .tools/)")
    service = "capture"
    instructions = _dockerfile(service)
    build = instructions[:[i for i, (name, _) in enumerate(instructions) if name == "FROM"][1]]
    root = tmp_path / "src"
    for src_dst in _args(build, "COPY"):
        *sources, destination = src_dst.split()
        for source in sources:
            target = root / PurePosixPath(destination).relative_to("/src")
            if source.endswith("/"):
                shutil.copytree(REPO / source, target, ignore=shutil.ignore_patterns(
                    "__pycache__", "*.egg-info", "build"))
            else:
                target = target / Path(source).name if destination.endswith("/") else target
                target.parent.mkdir(parents=True, exist_ok=True)
                shutil.copy(REPO / source, target)
    venv = tmp_path / "venv"
    env = {**os.environ, **dict(pair.split("=", 1) for pair in " ".join(
        _args(build, "ENV")).split()), "UV_PROJECT_ENVIRONMENT": str(venv)}
    [sync] = [a for a in _args(build, "RUN") if a.startswith("uv sync")]
    result = subprocess.run([uv, *shlex.split(sync)[1:]], cwd=root, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr
    probe = subprocess.run(
        [str(venv / "bin" / "python"), "-c", "import importlib.util as u, capture.main; print("
         "[m for m in ('scoring', 'leadloop_devstack', 'pytest', 'playwright') if u.find_spec(m)],"
         " capture.__file__)"], capture_output=True, text=True, timeout=120)
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith("[] "), probe.stdout
    assert "site-packages" in probe.stdout, "installed, not an editable link to the sources"


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
    build = {"context": ".", "dockerfile": "Dockerfile",
             "args": {"SERVICE": service, "PORT": str(http_port(service))}}
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


def test_compose_lists_every_topic_with_its_partitions_and_configs() -> None:
    topics = COMPOSE["services"]["kafka-topics"]
    assert topics["image"] == COMPOSE["services"]["kafka"]["image"]
    assert parse_topic_specs(topics["environment"]["LEADLOOP_TOPICS"]) == expected_topics()


def test_compose_topic_step_creates_each_topic_and_sets_its_configs(tmp_path: Path) -> None:
    topics = COMPOSE["services"]["kafka-topics"]
    script = topics["command"][0].replace("$$", "$")  # compose's escape for a literal $
    env = {k: str(v) for k, v in topics["environment"].items()}
    created = topics_created(run_topics_script(script, env, tmp_path))
    assert {t: (p, c) for t, (p, c, _) in created.items()} == expected_topics()
    assert {rf for _, _, rf in created.values()} == {"1"}  # one broker


def test_postgres_is_healthy_only_once_it_listens_on_tcp() -> None:
    # During first-start initialisation the server runs the init scripts listening on its Unix
    # socket only; a socket check passes then, and the migrations find no databases.
    check = COMPOSE["services"]["postgres"]["healthcheck"]["test"]
    assert check[0] == "CMD-SHELL"
    argv = shlex.split(check[1])
    assert argv[0] == "pg_isready" and argv[argv.index("-h") + 1] == "127.0.0.1"


def test_mail_sink_has_a_web_ui() -> None:
    mailpit = COMPOSE["services"]["mailpit"]
    assert mailpit["image"].startswith("axllent/mailpit:")
    assert "127.0.0.1:8025:8025" in mailpit["ports"]


def test_compose_sales_page_reads_timelines_from_the_outcomes_service() -> None:
    env = COMPOSE["services"]["handoff"]["environment"]
    outcomes = COMPOSE["services"]["outcomes"]
    port = http_port("outcomes")
    assert env["LEADLOOP_HANDOFF_OUTCOMES_URL"] == f"http://outcomes:{port}"
    assert f"127.0.0.1:{port}:{port}" in outcomes["ports"]
    # the key is the operator's, from the environment: never written in the file
    assert env["LEADLOOP_HANDOFF_OUTCOMES_KEY"] == "${LEADLOOP_HANDOFF_OUTCOMES_KEY:-}"
