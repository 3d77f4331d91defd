"""How LeadLoop installs: one uv workspace locked in uv.lock; `make run` installs only what running
needs and builds no Go; `make test` adds the tool groups and the Go validators."""

import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.support.deploy import REPO

ROOT = tomllib.loads((REPO / "pyproject.toml").read_text())
LOCK = tomllib.loads((REPO / "uv.lock").read_text())
PACKAGES = {p["name"]: p for p in LOCK["package"]}
MEMBERS = [REPO / "shared", *sorted((REPO / "services").glob("*/")), REPO / "deploy" / "local"]
TEST_ONLY = {"playwright", "schemathesis", "pytest", "hypothesis", "testcontainers", "mypy",
             "ruff", "mkdocs", "kubernetes-validate", "standardwebhooks"}


def _closure(names: list[str]) -> set[str]:
    """Every locked package `names` need, through their dependencies and the extras they ask
    for (on any platform: the lock is universal)."""
    seen: set[tuple[str, str]] = set()
    todo = [(n.split("[")[0].split(">")[0].split("=")[0].lower(), "") for n in names]
    todo += [(n.split("[")[0].lower(), n.split("[")[1].split("]")[0]) for n in names if "[" in n]
    while todo:
        name, extra = todo.pop()
        if (name, extra) in seen:
            continue
        seen.add((name, extra))
        package = PACKAGES[name]
        wanted = (package.get("optional-dependencies", {}).get(extra, []) if extra
                  else package.get("dependencies", []))
        for dep in wanted:
            todo.append((dep["name"], ""))
            todo += [(dep["name"], e) for e in dep.get("extra", [])]
    return {name for name, _ in seen}


def test_every_workspace_member_is_locked_with_a_version() -> None:
    members = {tomllib.loads((m / "pyproject.toml").read_text())["project"]["name"]: m
               for m in MEMBERS if (m / "pyproject.toml").exists()}
    assert set(LOCK["manifest"]["members"]) == set(members) | {ROOT["project"]["name"]}
    for name, folder in members.items():
        project = tomllib.loads((folder / "pyproject.toml").read_text())["project"]
        assert project.get("version"), f"{name} has no version"
        assert PACKAGES[name]["source"] == {"editable": str(folder.relative_to(REPO))}


def test_running_installs_no_test_lint_or_docs_tool() -> None:
    runtime = _closure(ROOT["project"]["dependencies"])
    assert {"leadloop-capture", "leadloop-devstack", "fastapi", "aiokafka"} <= runtime
    assert runtime & TEST_ONLY == set()
    tools = _closure([d for group in ROOT["dependency-groups"].values() for d in group])
    assert TEST_ONLY <= tools, "the tool groups carry what the tests, lint and docs use"


@pytest.mark.parametrize("tool", ["ruff", "mypy"])
def test_linters_are_pinned_to_the_locked_version(tool: str) -> None:
    pins = [d for d in ROOT["dependency-groups"]["lint"] if d.startswith(f"{tool}==")]
    assert pins == [f"{tool}=={PACKAGES[tool]['version']}"]


def _dry_run(target: str, tmp_path: Path) -> str:
    """The commands `make TARGET` would run on a machine with no virtualenv yet."""
    result = subprocess.run(["make", "-n", target, f"VENV={tmp_path / 'venv'}", "UV=uv"],
                            cwd=REPO, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_make_run_syncs_the_lock_without_tools_or_go(tmp_path: Path) -> None:
    commands = _dry_run("run", tmp_path)
    assert "uv sync --frozen --inexact --no-default-groups" in commands
    assert "go build" not in commands and "--group" not in commands
    assert "leadloop --help" in commands, "make run tells how to use the CLI"


def test_make_test_checks_prerequisites_first_then_syncs_every_group(tmp_path: Path) -> None:
    commands = _dry_run("test", tmp_path).splitlines()
    first = next(i for i, c in enumerate(commands) if "prerequisites.sh" in c)
    sync = next(i for i, c in enumerate(commands) if "uv sync --frozen --all-groups" in c)
    assert first < sync < next(i for i, c in enumerate(commands) if "go build" in c)


def test_prerequisite_check_names_the_install_command_of_what_is_missing(tmp_path: Path) -> None:
    bash = shutil.which("bash")
    assert bash
    result = subprocess.run([bash, str(REPO / "tests" / "prerequisites.sh"), "chromium", "go"],
                            env={"PATH": str(tmp_path), "LEADLOOP_CHROMIUM": str(tmp_path / "no")},
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "apt-get install chromium" in result.stderr
    assert "apt-get install golang-go" in result.stderr
