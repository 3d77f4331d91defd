"""What the deployment tests read: the repository's deploy files and each service's settings."""

import importlib
from pathlib import Path
from typing import Any

import yaml

from leadloop.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
COMPOSE_FILE = REPO / "docker-compose.yml"
# Every topic gets this many partitions: the most consumer pods a group can use.
TOPIC_PARTITIONS = 12


def settings_class(service: str) -> type[ServiceSettings]:
    """The ServiceSettings subclass in services/<service>/<service>/config.py."""
    module = importlib.import_module(f"{service}.config")
    found = [v for v in vars(module).values()  # defined there, not imported bases
             if isinstance(v, type) and issubclass(v, ServiceSettings)
             and v.__module__ == module.__name__]
    assert len(found) == 1, f"{service}.config should define exactly one settings class"
    return found[0]


def env_prefix(service: str) -> str:
    """The service's environment prefix, e.g. LEADLOOP_CAPTURE_."""
    return str(settings_class(service).model_config["env_prefix"]).upper()


def env_names(service: str) -> set[str]:
    """Every environment variable the service's settings read."""
    prefix = env_prefix(service)
    return {prefix + name.upper() for name in settings_class(service).model_fields}


def http_port(service: str) -> int:
    """The port the service listens on by default (what its images and manifests must use)."""
    return int(settings_class(service).model_fields["port"].default)


def load_yaml_documents(path: Path) -> list[dict[str, Any]]:
    """The non-empty YAML documents in a file."""
    return [d for d in yaml.safe_load_all(path.read_text()) if d]


def kustomize_resources(directory: Path, namespace: str | None = None
                        ) -> list[tuple[Path, dict[str, Any], str | None]]:
    """(file, document, namespace) for every manifest a kustomization pulls in, recursively.

    Covers the subset of kustomize these manifests use: `resources` (files or folders with their
    own kustomization.yaml) and `namespace`; `kubectl kustomize deploy/k8s` renders the same.
    """
    kustomization = yaml.safe_load((directory / "kustomization.yaml").read_text())
    namespace = kustomization.get("namespace", namespace)
    found = []
    for entry in kustomization.get("resources", []):
        target = directory / entry
        assert target.exists(), f"{directory / 'kustomization.yaml'} lists missing {entry}"
        if target.is_dir():
            found += kustomize_resources(target, namespace)
        else:
            found += [(target, doc, namespace) for doc in load_yaml_documents(target)]
    return found
