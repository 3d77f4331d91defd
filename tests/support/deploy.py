"""What the deployment tests read: the repository's deploy files and each service's settings."""

import importlib
import itertools
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from leadloop.events.topology import TOPIC_CONFIGS, all_topics, partitions_of
from leadloop.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
K8S = REPO / "deploy" / "k8s"
COMPOSE_FILE = REPO / "docker-compose.yml"


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


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    """The resources `kubectl apply -k directory` applies, rendered by kustomize's own library
    (deploy/k8s/render), in its output order."""
    renderer = go_tool(K8S / "render", "leadloop-k8s-render")
    result = subprocess.run([str(renderer), str(directory)], capture_output=True, text=True,
                            timeout=120)
    assert result.returncode == 0, f"kustomize could not render {directory}: {result.stderr}"
    return [d for d in yaml.safe_load_all(result.stdout) if d]


def go_tool(source: Path, name: str) -> Path:
    """The Go program in `source`, built into the virtualenv's bin/ (as `make install` does) if it
    is missing or older than its sources. Its modules come from the Go module proxy; the Go build
    cache makes a rebuild quick."""
    binary = Path(sys.prefix) / "bin" / name
    sources = [p for p in source.iterdir() if p.suffix == ".go" or p.name in {"go.mod", "go.sum"}]
    if binary.exists() and all(p.stat().st_mtime <= binary.stat().st_mtime for p in sources):
        return binary
    go = shutil.which("go")
    assert go, f"Go is needed to build {name} from {source.relative_to(REPO)}"
    result = subprocess.run([go, "build", "-o", str(binary), "."], cwd=source,
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"building {name} failed:\n{result.stderr}"
    return binary


def expected_topics(extra_config: dict[str, str] | None = None
                    ) -> dict[str, tuple[int, dict[str, str]]]:
    """topic -> (partitions, configs), as leadloop.events.topology defines them."""
    return {t: (partitions_of(t), {**(extra_config or {}), **TOPIC_CONFIGS[t]})
            for t in all_topics()}


def parse_topic_specs(specs: str) -> dict[str, tuple[int, dict[str, str]]]:
    """The deployments' topic list, one "name:partitions:key=value,..." a word."""
    parsed = {}
    for spec in specs.split():
        name, partitions, configs = spec.split(":", 2)
        assert name not in parsed, f"{name} listed twice"
        parsed[name] = (int(partitions), dict(c.split("=", 1) for c in configs.split(",") if c))
    return parsed


def run_topics_script(script: str, env: dict[str, str], tmp: Path) -> list[list[str]]:
    """Run the topic-creation script with kafka-topics.sh and kafka-configs.sh stand-ins that
    record their arguments; returns each call as [tool, *arguments]."""
    log = tmp / "calls"
    for tool in ("kafka-topics.sh", "kafka-configs.sh"):
        stub = tmp / tool
        stub.write_text(f'#!/bin/sh\nprintf "%s\\0" {tool} "$@" >> "{log}"\necho >> "{log}"\n')
        stub.chmod(0o755)
    result = subprocess.run(["/bin/sh", "-c", script], capture_output=True, text=True,
                            timeout=60, env={"PATH": os.environ["PATH"], **env,
                                             "KAFKA_BIN": str(tmp)})
    assert result.returncode == 0, result.stderr
    return [line.split("\0")[:-1] for line in log.read_text().splitlines() if line]


def topics_created(calls: list[list[str]]) -> dict[str, tuple[int, dict[str, str], str]]:
    """topic -> (partitions, configs, replication factor) from the recorded calls, checking
    that creation is idempotent and that every topic gets its configs (also when it exists)."""
    created: dict[str, tuple[int, str]] = {}
    configs: dict[str, dict[str, str]] = {}
    for tool, *args in calls:
        opts = dict(itertools.pairwise(args))  # each option -> its value
        if tool == "kafka-topics.sh":
            assert "--create" in args and "--if-not-exists" in args
            created[opts["--topic"]] = (int(opts["--partitions"]),
                                        opts["--replication-factor"])
        else:
            assert args[args.index("--entity-type") + 1] == "topics" and "--alter" in args
            configs[opts["--entity-name"]] = dict(
                c.split("=", 1) for c in opts["--add-config"].split(","))
    assert set(created) == set(configs), "every created topic gets its configs set"
    return {t: (p, configs[t], rf) for t, (p, rf) in created.items()}
