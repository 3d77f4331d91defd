"""The layout every service keeps, so a newcomer finds a feature in one place (see each service's
README): shared pieces at the top of the package, everything else in a folder per feature with
`api.py` (router), `schemas.py` (HTTP models), `service.py` (use cases), `repository.py`
(queries, typed results), `domain.py` (pure rules), `worker.py` and `handlers.py`.

Checked by reading the source (ast), so a drift fails here with the file and the rule it breaks.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("capture", "scoring", "handoff", "nurture", "outcomes")
TOP_LEVEL = {"__init__", "__main__", "main", "config", "tables", "exceptions", "handlers", "cli"}
"""The only modules at the top of a service package: what every feature shares."""
FLAT_SUFFIXES = ("_api", "_repository", "_queries", "_schemas", "_service", "_worker")
"""File-name prefixes standing in for folders: `webhook_api.py` belongs in `webhooks/api.py`."""
UNTYPED_RESULTS = {"Any", "Row", "RowMapping", "Result", "CursorResult", "Record"}


def _package(service: str) -> Path:
    return ROOT / "services" / service / service


def _modules(service: str) -> list[Path]:
    return sorted(p for p in _package(service).rglob("*.py") if "__pycache__" not in p.parts)


def _imports(tree: ast.Module) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
            names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
    return names


def _names_in(annotation: ast.expr | None) -> set[str]:
    if annotation is None:
        return set()
    found = set()
    for node in ast.walk(annotation):
        if isinstance(node, ast.Name):
            found.add(node.id)
        elif isinstance(node, ast.Attribute):
            found.add(node.attr)
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(_names_in(ast.parse(node.value, mode="eval").body))
    return found


@pytest.mark.parametrize("service", SERVICES)
def test_only_shared_pieces_sit_at_the_top_of_a_service(service: str) -> None:
    strays = [p.name for p in _package(service).glob("*.py") if p.stem not in TOP_LEVEL]
    assert not strays, f"{service}: move into a feature folder: {strays}"


@pytest.mark.parametrize("service", SERVICES)
def test_features_are_folders_not_file_name_prefixes(service: str) -> None:
    flat = [str(p.relative_to(_package(service))) for p in _modules(service)
            if p.stem.endswith(FLAT_SUFFIXES)]
    assert not flat, f"{service}: a feature folder's api/repository/schemas/service: {flat}"


@pytest.mark.parametrize("service", SERVICES)
def test_routers_live_in_api_modules(service: str) -> None:
    misplaced = [str(p.relative_to(_package(service))) for p in _modules(service)
                 if p.stem != "api" and "APIRouter(" in p.read_text()]
    assert not misplaced, f"{service}: routers belong in a feature's api.py: {misplaced}"


@pytest.mark.parametrize("service", SERVICES)
def test_only_routers_import_http_schemas(service: str) -> None:
    """HTTP models convert to domain commands at the router; nothing below it knows them."""
    offenders = []
    for path in _modules(service):
        if path.stem in {"api", "schemas"}:
            continue
        schema_imports = [name for name in _imports(ast.parse(path.read_text()))
                          if name.startswith(f"{service}.")
                          and (name.endswith(".schemas") or ".schemas." in name)]
        if schema_imports:
            offenders.append(f"{path.relative_to(_package(service))}: {sorted(schema_imports)}")
    assert not offenders, f"{service}: only api.py may import schemas: {offenders}"


@pytest.mark.parametrize("service", SERVICES)
def test_only_routers_speak_http_errors(service: str) -> None:
    """Below the routers a refusal is a domain exception (a leadloop.problems.Refusal the app
    answers); only api.py and main.py raise or map fastapi's HTTPException."""
    offenders = [str(p.relative_to(_package(service))) for p in _modules(service)
                 if p.stem not in {"api", "main"}
                 and any(name.endswith("HTTPException")
                         for name in _imports(ast.parse(p.read_text())))]
    assert not offenders, f"{service}: HTTPException below the routers: {offenders}"


@pytest.mark.parametrize("service", SERVICES)
def test_repositories_return_typed_results(service: str) -> None:
    """Every repository function says what it returns: a frozen dataclass, a typed row, a
    scalar; never Any or a raw SQLAlchemy/asyncpg row."""
    untyped = []
    for path in _modules(service):
        if path.stem != "repository":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
                    and not node.name.startswith("_")):
                bad = _names_in(node.returns) & UNTYPED_RESULTS
                if node.returns is None or bad:
                    untyped.append(f"{path.relative_to(_package(service))}:{node.name} "
                                   f"{sorted(bad) or 'no annotation'}")
    assert not untyped, f"{service}: repository results must be typed: {untyped}"


@pytest.mark.parametrize("service", SERVICES)
def test_one_exceptions_module_and_typed_settings(service: str) -> None:
    package = _package(service)
    assert (package / "exceptions.py").exists(), f"{service}: exceptions.py at the top"
    strays = []
    for path in _modules(service):
        text = path.read_text()
        if path.stem != "exceptions" and any(
                isinstance(node, ast.ClassDef) and any(
                    _names_in(base) & {"Exception", "ValueError", "LookupError", "RuntimeError"}
                    for base in node.bases)
                for node in ast.walk(ast.parse(text))):
            strays.append(f"{path.relative_to(package)} defines an exception")
        if "get_settings(" in text or "getattr(settings" in text:
            strays.append(f"{path.relative_to(package)} reads settings untyped")
    assert not strays, f"{service}: {strays}"


def test_no_service_imports_another() -> None:
    crossings = []
    for service in SERVICES:
        for path in _modules(service):
            for name in _imports(ast.parse(path.read_text())):
                other = name.split(".")[0]
                if other in SERVICES and other != service:
                    crossings.append(f"{service}/{path.name} imports {name}")
    assert not crossings, crossings
