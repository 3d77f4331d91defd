"""The one `leadloop` command, as installed: each service's subcommands are there."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

# The console script next to this interpreter: what `make install` put on the PATH.
LEADLOOP = Path(sys.executable).parent / "leadloop"


def _leadloop(*args: str) -> subprocess.CompletedProcess[str]:
    assert LEADLOOP.exists(), f"{LEADLOOP} is not installed"
    return subprocess.run([str(LEADLOOP), *args], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})  # no LEADLOOP_* from the developer


def test_help_lists_the_subcommands_of_every_service() -> None:
    result = _leadloop("--help")
    assert result.returncode == 0, result.stderr
    listed = set(re.findall(r"^ {4}(\w+) ", result.stdout, re.MULTILINE))
    assert listed == {"demo", "import", "rebuild"}, result.stdout


@pytest.mark.parametrize(("command", "option"), [
    ("import", "--mapping"),  # capture's
    ("demo", "--minutes"),  # outcomes'
    ("rebuild", "read model"),  # outcomes'
])
def test_each_subcommand_has_its_own_help(command: str, option: str) -> None:
    result = _leadloop(command, "--help")
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"usage: leadloop {command}")
    assert option in result.stdout


def test_import_without_a_key_says_how_to_give_one() -> None:
    result = _leadloop("import", "leads.csv")
    assert result.returncode == 2
    assert "--key or LEADLOOP_API_KEY" in result.stderr


def test_an_unknown_subcommand_is_refused() -> None:
    result = _leadloop("export")
    assert result.returncode == 2
    assert "invalid choice: 'export'" in result.stderr
