"""Every service's OpenAPI document makes a typed client with openapi-python-client, without
a warning, and the client works against the running stack: a lead created and read back
through capture's, one call through each other service's."""

import importlib
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import pytest

from leadloop.events.topology import SERVICES
from leadloop_devstack.stack import Stack

pytestmark = pytest.mark.e2e

BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def clients(stack: Stack, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """One generated client package per service (`<service>_client`), from its live
    /openapi.json, importable from the returned folder."""
    root = tmp_path_factory.mktemp("clients")
    sys.path.insert(0, str(root))
    yield root
    sys.path.remove(str(root))


def _generate(stack: Stack, service: str, root: Path) -> ModuleType:
    document = root / f"{service}.json"
    document.write_bytes(httpx.get(f"{stack.url(service)}/openapi.json").content)
    result = subprocess.run(
        [str(BIN / "openapi-python-client"), "generate", "--path", str(document),
         "--meta", "none", "--output-path", str(root / f"{service}_client")],
        capture_output=True, text=True, timeout=300,
        # Its post-generation hooks run ruff: the one of this environment.
        env={**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ.get('PATH', '')}"})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "warning" not in output.lower(), output
    return importlib.import_module(f"{service}_client")


def _operation(package: ModuleType, operation_id: str) -> Any:
    """The generated module of an operation (`api/<tag>/<snake_case id>.py`)."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in operation_id)
    found = sorted(Path(package.__file__ or "").parent.glob(f"api/*/{snake}.py"))
    assert found, f"{operation_id} was not generated"
    tag = found[0].parent.name
    return importlib.import_module(f"{package.__name__}.api.{tag}.{snake}")


@pytest.mark.parametrize("service", SERVICES)
def test_a_generated_client_works_against_the_running_service(
        stack: Stack, clients: Path, service: str) -> None:
    package = _generate(stack, service, clients)
    client = package.AuthenticatedClient(base_url=stack.url(service), token=stack.admin_key)
    if service == "capture":
        lead_in = importlib.import_module(f"{package.__name__}.models").LeadIn
        email = f"gen-{uuid.uuid4().hex[:10]}@example.com"
        created = _operation(package, "createLead").sync_detailed(
            client=client, body=lead_in.from_dict({"email": email, "first_name": "Gen"}))
        assert created.status_code == 201, created.content
        lead_id = created.parsed.lead_id
        read = _operation(package, "getLead").sync_detailed(lead_id, client=client)
        assert read.status_code == 200, read.content
        assert read.parsed.lead_id == lead_id
        assert read.parsed.profile.to_dict()["email"] == email
        missing = _operation(package, "getLead").sync_detailed(uuid.uuid4(), client=client)
        assert missing.status_code == 404
        assert missing.parsed.status == 404 and missing.parsed.title == "Not Found"
        return
    operation = {"scoring": "listModels", "handoff": "listReps", "nurture": "listSequences",
                 "outcomes": "getFunnel"}[service]
    answer = _operation(package, operation).sync_detailed(client=client)
    assert answer.status_code == 200, answer.content
    assert answer.parsed is not None, f"{operation}'s answer did not parse: {answer.content!r}"
