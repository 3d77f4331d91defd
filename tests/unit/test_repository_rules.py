"""Rules of the repository that no single module can see: service boundaries, and the committed
contracts being what the code generates."""

import ast
from pathlib import Path

import pytest

from leadloop.events.topology import SERVICES
from leadloop.events.write_contracts import write_contracts
from tests.support.deploy import REPO


def _imported_roots(path: Path) -> set[str]:
    """The top-level packages a module imports (absolute imports only)."""
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("service", SERVICES)
def test_a_service_never_imports_another_service(service: str) -> None:
    # Its package and its migrations: everything under services/<service>/.
    sources = [p for p in (REPO / "services" / service).rglob("*.py")
               if ".egg-info" not in str(p)]
    assert sources, f"no sources under services/{service}"
    others = set(SERVICES) - {service}
    crossings = {str(p.relative_to(REPO)): sorted(_imported_roots(p) & others) for p in sources}
    assert {path: found for path, found in crossings.items() if found} == {}


def test_the_import_scan_sees_both_import_forms(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import scoring.rules\nfrom handoff import policy\nfrom . import local\n")
    assert _imported_roots(module) == {"scoring", "handoff"}


def test_committed_contracts_are_what_the_code_generates(tmp_path: Path) -> None:
    committed_root = REPO / "contracts"
    generated = {p.relative_to(tmp_path): p.read_bytes() for p in write_contracts(tmp_path)}
    committed = {p.relative_to(committed_root): p.read_bytes()
                 for p in committed_root.rglob("*.json")}
    assert sorted(map(str, generated)) == sorted(map(str, committed)), "run `make contracts`"
    stale = sorted(str(path) for path, body in generated.items() if committed[path] != body)
    assert stale == [], f"contracts/ is out of date ({stale}): run `make contracts`"
