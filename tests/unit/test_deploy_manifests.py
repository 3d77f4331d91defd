"""deploy/k8s: both variants render, are valid Kubernetes (offline), and are in step with the code
and with the deployment guide's apply steps."""

import ipaddress
import re
import shlex
import shutil
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import pytest
import yaml

from capture.config import CaptureSettings
from leadloop.events.topology import CONSUMES, DEFAULT_TOPIC_PARTITIONS, SERVICES, topic_of
from tests.support.deploy import (
    COMPOSE_FILE,
    K8S,
    REPO,
    env_names,
    env_prefix,
    expected_topics,
    http_port,
    load_yaml_documents,
    parse_topic_specs,
    render_kustomization,
    run_topics_script,
    settings_class,
    topics_created,
)

# The oldest Kubernetes release the manifests promise to work on, and the newest the bundled
# schemas know: an API removed in between fails one of the two.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())

# Custom resources kubernetes-validate has no schema for: checked against these schemas, which
# hold the fields of the KEDA and Strimzi CRDs that the manifests use (unknown fields fail).
_STR = {"type": "string", "minLength": 1}
_BOOL = {"enum": ["true", "false"]}
_COUNT = {"type": "string", "pattern": "^[0-9]+$"}
# The kafka scaler's trigger metadata keys (KEDA 2.x, pkg/scalers/kafka_scaler.go); credentials
# (username, password, ca, cert, key...) belong in a TriggerAuthentication, not here.
KEDA_KAFKA_METADATA = {
    "bootstrapServers": _STR, "bootstrapServersFromEnv": _STR,
    "consumerGroup": _STR, "consumerGroupFromEnv": _STR,
    "topic": _STR, "topicFromEnv": _STR,
    "partitionLimitation": _STR,
    "lagThreshold": _COUNT, "activationLagThreshold": _COUNT,
    "offsetResetPolicy": {"enum": ["latest", "earliest"]},
    "allowIdleConsumers": _BOOL, "excludePersistentLag": _BOOL,
    "scaleToZeroOnInvalidOffset": _BOOL, "limitToPartitionsWithLag": _BOOL,
    "ensureEvenDistributionOfPartitions": _BOOL,
    "version": _STR,
    "tls": {"enum": ["enable", "disable"]}, "unsafeSsl": _BOOL,
    "sasl": {"enum": ["none", "plaintext", "scram_sha256", "scram_sha512", "oauthbearer",
                      "gssapi"]},
    "saslTokenProvider": {"enum": ["bearer", "aws_msk_iam"]},
    "awsRegion": _STR,
}
# The cpu scaler: metricType sits on the trigger; its metadata holds only the target value.
KEDA_CPU_METADATA = {"value": _COUNT, "containerName": _STR}


def _trigger(kind: str, metadata: dict[str, Any], required: list[str],
             metric_types: list[str] | None = None) -> dict[str, Any]:
    properties: dict[str, Any] = {"type": {"const": kind}, "name": _STR,
                                  "metadata": {"type": "object", "additionalProperties": False,
                                               "required": required, "properties": metadata},
                                  "authenticationRef": {
                                      "type": "object", "additionalProperties": False,
                                      "required": ["name"], "properties": {
                                          "name": _STR, "kind": {"enum": [
                                              "TriggerAuthentication",
                                              "ClusterTriggerAuthentication"]}}}}
    if metric_types:
        properties["metricType"] = {"enum": metric_types}
    return {"type": "object", "additionalProperties": False, "required": ["type", "metadata"],
            "properties": properties}


SCALED_OBJECT = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["scaleTargetRef", "triggers"],
            "properties": {
                "scaleTargetRef": {"type": "object", "additionalProperties": False,
                                   "required": ["name"],
                                   "properties": {"apiVersion": _STR, "kind": _STR,
                                                  "name": _STR}},
                "minReplicaCount": {"type": "integer", "minimum": 0},
                "maxReplicaCount": {"type": "integer", "minimum": 1},
                "pollingInterval": {"type": "integer", "minimum": 1},
                "cooldownPeriod": {"type": "integer", "minimum": 0},
                "advanced": {"type": "object", "additionalProperties": False, "properties": {
                    "horizontalPodAutoscalerConfig": {
                        "type": "object", "additionalProperties": False,
                        "properties": {"name": _STR, "behavior": {"type": "object"}}},
                    "restoreToOriginalReplicaCount": {"type": "boolean"}}},
                "triggers": {"type": "array", "minItems": 1, "items": {"oneOf": [
                    _trigger("kafka", KEDA_KAFKA_METADATA, ["consumerGroup"]),
                    _trigger("cpu", KEDA_CPU_METADATA, ["value"],
                             ["Utilization", "AverageValue"]),
                ]}},
            },
        },
    },
}
KAFKA_TOPIC = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1"},
        "metadata": {"type": "object", "required": ["name", "labels"], "properties": {
            "labels": {"type": "object", "required": ["strimzi.io/cluster"]}}},
        "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["topicName", "partitions", "replicas"],
            "properties": {"topicName": _STR,
                           "partitions": {"type": "integer", "minimum": 1},
                           "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                           "config": {"type": "object",
                                      "additionalProperties": {"type": "string"}}},
        },
    },
}
# The Prometheus Operator's PodMonitor (monitoring.coreos.com/v1), the fields the overlay uses.
_LABELS = {"type": "object", "additionalProperties": {"type": "string"}}
POD_MONITOR = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "monitoring.coreos.com/v1"},
        "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["selector", "podMetricsEndpoints"],
            "properties": {
                "selector": {"type": "object", "additionalProperties": False,
                             "properties": {"matchLabels": _LABELS}},
                "namespaceSelector": {"type": "object"},
                "podMetricsEndpoints": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False, "required": ["port"],
                    "properties": {"port": _STR, "path": _STR,
                                   "scheme": {"enum": ["http", "https"]},
                                   "interval": {"type": "string",
                                                "pattern": "^[0-9]+(ms|s|m|h)$"}}}},
            },
        },
    },
}
# KEDA's TriggerAuthentication: the kafka scaler's parameters, each from a key of a Secret.
KEDA_KAFKA_AUTH_PARAMETERS = ["sasl", "tls", "username", "password", "ca", "cert", "key",
                              "keyPassword", "oauthTokenEndpointUri", "scopes"]
TRIGGER_AUTHENTICATION = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "keda.sh/v1alpha1"},
        "spec": {
            "type": "object", "additionalProperties": False, "required": ["secretTargetRef"],
            "properties": {"secretTargetRef": {"type": "array", "minItems": 1, "items": {
                "type": "object", "additionalProperties": False,
                "required": ["parameter", "name", "key"],
                "properties": {"parameter": {"enum": KEDA_KAFKA_AUTH_PARAMETERS},
                               "name": _STR, "key": _STR}}}},
        },
    },
}
CUSTOM_SCHEMAS = {"ScaledObject": SCALED_OBJECT, "KafkaTopic": KAFKA_TOPIC,
                  "PodMonitor": POD_MONITOR, "TriggerAuthentication": TRIGGER_AUTHENTICATION}

STRIMZI = K8S / "strimzi"
PRODUCTION = REPO / "deploy" / "k8s-overlays" / "production"
RESOURCES = render_kustomization(K8S)  # the default: `kubectl apply -k deploy/k8s`
STRIMZI_RESOURCES = render_kustomization(STRIMZI)
PRODUCTION_RESOURCES = render_kustomization(PRODUCTION)
VARIANTS = {K8S: RESOURCES, STRIMZI: STRIMZI_RESOURCES}


def _key(doc: dict[str, Any]) -> str:
    return f"{doc['kind']}/{doc['metadata'].get('namespace', '-')}/{doc['metadata']['name']}"


# Every distinct resource of either variant, validated once.
ALL = list({_key(d): d for d in RESOURCES + STRIMZI_RESOURCES + PRODUCTION_RESOURCES}.values())
# A name kustomize's configMapGenerator gives: the base name and a hash of the content.
GENERATED = r"{}-[a-z0-9]{{10}}"


def _find(kind: str, name: str, resources: list[dict[str, Any]] = RESOURCES) -> dict[str, Any]:
    """The one `kind` named `name` (a ConfigMap: generated from that name, hash appended)."""
    pattern = GENERATED.format(re.escape(name)) if kind == "ConfigMap" else re.escape(name)
    matches = [d for d in resources
               if d["kind"] == kind and re.fullmatch(pattern, d["metadata"]["name"])]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def _migrations_job(service: str, resources: list[dict[str, Any]] = RESOURCES
                    ) -> dict[str, Any]:
    """The service's migrations Job, named after the release's image tag."""
    tag = _container(_find("Deployment", service, resources))["image"].rsplit(":", 1)[1]
    return _find("Job", f"{service}-migrations-{tag}", resources)


def _container(pod_owner: dict[str, Any]) -> dict[str, Any]:
    containers = pod_owner["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


def _env(container: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in container.get("env", []) if "value" in e}


def _kafka_reference(container: dict[str, Any], name: str) -> str:
    """The ConfigMap the container's variable `name` takes the Kafka address from."""
    [var] = [e for e in container["env"] if e["name"] == name]
    ref = var["valueFrom"]["configMapKeyRef"]
    assert ref["key"] == "KAFKA_BOOTSTRAP_SERVERS"
    return str(ref["name"])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize("doc", ALL, ids=[_key(d) for d in ALL])
def test_manifest_is_valid_kubernetes(version: str, doc: dict[str, Any]) -> None:
    if doc["kind"] in CUSTOM_SCHEMAS:
        jsonschema.validate(doc, CUSTOM_SCHEMAS[doc["kind"]])
        return
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(str(p) for p in e.path)
        pytest.fail(f"{_key(doc)}: {where}: {e.message}")


def test_strict_validation_rejects_a_misspelled_field() -> None:
    deployment = _find("Deployment", "capture")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


@pytest.mark.parametrize(("key", "value"), [("lagTreshold", "200"),  # typo of lagThreshold
                                            ("offsetResetPolicy", "earlist"),
                                            ("password", "secret")])  # TriggerAuthentication's
def test_keda_schema_rejects_unknown_or_invalid_kafka_trigger_metadata(key: str,
                                                                      value: str) -> None:
    scaled = _find("ScaledObject", "scoring")
    valid = scaled["spec"]["triggers"][0]
    assert valid["type"] == "kafka"
    metadata = {k: v for k, v in valid["metadata"].items() if k != "lagThreshold"}
    broken_trigger = {**valid, "metadata": {**metadata, key: value}}
    broken = {**scaled, "spec": {**scaled["spec"], "triggers": [broken_trigger]}}
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(broken, SCALED_OBJECT)


def test_every_manifest_file_is_part_of_a_variant() -> None:
    # (the migrations Jobs' "-release" becomes the image tag when rendered)
    rendered = {(d["kind"], re.sub(r"-migrations-.*", "-migrations-release", d["metadata"]["name"]))
                for d in RESOURCES + STRIMZI_RESOURCES + PRODUCTION_RESOURCES}
    on_disk = {(d["kind"], d["metadata"]["name"])
               for p in [*K8S.rglob("*.yaml"), *PRODUCTION.rglob("*.yaml")]
               if p.name != "kustomization.yaml" for d in load_yaml_documents(p)}
    assert on_disk - rendered == set(), "manifests no kustomization.yaml applies"


def test_strimzi_variant_is_the_default_with_kafka_topics_instead_of_the_job() -> None:
    default = {_key(d): d for d in RESOURCES}
    strimzi = {_key(d): d for d in STRIMZI_RESOURCES}
    assert set(default) - set(strimzi) == {"Job/leadloop/leadloop-topics"}
    assert {k.split("/")[0] for k in set(strimzi) - set(default)} == {"KafkaTopic"}
    assert all(strimzi[k] == default[k] for k in set(default) & set(strimzi))


def test_strimzi_topics_have_the_topology_partitions_and_configs() -> None:
    topics = {d["spec"]["topicName"]: d for d in STRIMZI_RESOURCES if d["kind"] == "KafkaTopic"}
    assert {t: (d["spec"]["partitions"], d["spec"]["config"]) for t, d in topics.items()} == \
        expected_topics({"min.insync.replicas": "2"})
    for name, doc in topics.items():
        assert doc["metadata"]["namespace"] == "kafka", name  # where the Topic Operator watches
        assert int(doc["spec"]["config"]["min.insync.replicas"]) < doc["spec"]["replicas"], name


def test_topics_job_creates_every_topic_with_its_partitions_and_configs(tmp_path: Path) -> None:
    container = _container(_find("Job", "leadloop-topics"))
    # what the kubelet resolves from the one Kafka address
    kafka = _find("ConfigMap", "leadloop-kafka")
    assert _kafka_reference(container, "KAFKA_BOOTSTRAP") == kafka["metadata"]["name"]
    env = {**_env(container), "KAFKA_BOOTSTRAP": kafka["data"]["KAFKA_BOOTSTRAP_SERVERS"]}
    assert parse_topic_specs(env["LEADLOOP_TOPICS"]) == expected_topics(
        {"min.insync.replicas": "2"})
    assert container["command"][:2] == ["/bin/sh", "-c"]
    created = topics_created(run_topics_script(container["command"][2], env, tmp_path))
    assert {t: (p, c) for t, (p, c, _) in created.items()} == expected_topics(
        {"min.insync.replicas": "2"})
    assert {rf for _, _, rf in created.values()} == {"3"}
    assert {int(c["min.insync.replicas"]) for _, c, _ in created.values()} == {2}


def test_topics_job_is_compose_step_on_the_services_kafka() -> None:
    # One script for both deployments, from the same image; the same broker as the services.
    compose = yaml.safe_load(COMPOSE_FILE.read_text())["services"]["kafka-topics"]
    container = _container(_find("Job", "leadloop-topics"))
    assert container["image"] == compose["image"]
    assert container["command"][2] == compose["command"][0].replace("$$", "$")
    kafka = _find("ConfigMap", "leadloop-kafka")["metadata"]["name"]
    assert _kafka_reference(container, "KAFKA_BOOTSTRAP") == kafka
    for service in SERVICES:
        deployment = _container(_find("Deployment", service))
        variable = env_prefix(service) + "KAFKA_BOOTSTRAP_SERVERS"
        assert _kafka_reference(deployment, variable) == kafka


@pytest.mark.parametrize("service", SERVICES)
def test_service_runs_with_probes_resources_and_its_settings(service: str) -> None:
    namespaces = {d["metadata"].get("namespace") for d in RESOURCES
                  if d["metadata"].get("labels", {}).get("app.kubernetes.io/name") == service}
    assert namespaces == {"leadloop"}
    deployment = _find("Deployment", service)
    container = _container(deployment)
    assert container["ports"] == [{"name": "http", "containerPort": http_port(service),
                                   "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    config_name = _find("ConfigMap", f"{service}-config")["metadata"]["name"]
    assert container["envFrom"] == [{"configMapRef": {"name": config_name}},
                                    {"secretRef": {"name": f"{service}-secrets"}}]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    config = _find("ConfigMap", f"{service}-config")["data"]
    uvicorn = {"FORWARDED_ALLOW_IPS"}  # read by uvicorn, not by the settings
    assert set(config) <= env_names(service) | uvicorn, "ConfigMap keys nothing reads"
    assert {e["name"] for e in container["env"]} <= env_names(service)


def test_capture_trusts_forwarded_addresses_only_from_named_proxy_networks() -> None:
    # Per-IP rate limits count X-Forwarded-For's client only when the peer is a trusted proxy;
    # "*" would let any pod (or a client through a proxy that appends) pick its own address.
    trusted = _find("ConfigMap", "capture-config")["data"]["FORWARDED_ALLOW_IPS"]
    networks = [ipaddress.ip_network(part.strip()) for part in trusted.split(",")]
    assert networks and not all(n.is_loopback for n in networks), (
        "only loopback trusted: behind the ingress every client would share its address")


def test_capture_tmp_holds_several_imports() -> None:
    # Each running import spools its CSV (up to import_max_bytes) to /tmp, twice over while an
    # upload is stored and read back; an emptyDir over its sizeLimit gets the pod evicted.
    volumes = _find("Deployment", "capture")["spec"]["template"]["spec"]["volumes"]
    tmp = next(v for v in volumes if v["name"] == "tmp")
    units = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30}
    size = re.fullmatch(r"(\d+)(Ki|Mi|Gi)", tmp["emptyDir"]["sizeLimit"])
    assert size, tmp
    limit = int(size[1]) * units[size[2]]
    assert limit >= 4 * CaptureSettings.model_fields["import_max_bytes"].default


@pytest.mark.parametrize("service", SERVICES)
def test_service_pdb_and_autoscaler_select_the_deployment_pods(service: str) -> None:
    deployment = _find("Deployment", service)
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    selector = deployment["spec"]["selector"]["matchLabels"]
    assert selector.items() <= pod_labels.items()
    svc = _find("Service", service)
    assert svc["spec"]["selector"] == selector
    assert [p["targetPort"] for p in svc["spec"]["ports"]] == ["http"]
    assert _find("PodDisruptionBudget", service)["spec"]["selector"]["matchLabels"] == selector
    # Migration pods must never receive traffic nor count towards the budget.
    job = _migrations_job(service)
    assert not selector.items() <= job["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_job_runs_alembic_with_the_service_image_and_settings(service: str) -> None:
    job_container = _container(_migrations_job(service))
    service_container = _container(_find("Deployment", service))
    assert job_container["command"] == ["alembic", "upgrade", "head"]
    assert job_container["image"] == service_container["image"]
    assert job_container["envFrom"] == service_container["envFrom"]


@pytest.mark.parametrize("service", SERVICES)
def test_consumers_scale_on_lag_of_every_topic_they_consume(service: str) -> None:
    target = {"apiVersion": "apps/v1", "kind": "Deployment", "name": service}
    if not CONSUMES[service]:
        hpa = _find("HorizontalPodAutoscaler", service)
        assert hpa["spec"]["scaleTargetRef"] == target
        assert hpa["spec"]["minReplicas"] >= 2
        return
    scaled = _find("ScaledObject", service)["spec"]
    assert scaled["scaleTargetRef"] == target
    assert 2 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"] \
        <= DEFAULT_TOPIC_PARTITIONS
    lag = [t["metadata"] for t in scaled["triggers"] if t["type"] == "kafka"]
    assert sorted(m["topic"] for m in lag) == sorted(topic_of(s) for s in CONSUMES[service])
    assert {m["consumerGroup"] for m in lag} == {service}  # the runner's group id
    assert any(t["type"] == "cpu" for t in scaled["triggers"]), "the HTTP side scales on CPU"
    others = [d for d in RESOURCES if d["kind"] == "HorizontalPodAutoscaler"
              and d["spec"]["scaleTargetRef"]["name"] == service]
    assert others == [], "an HPA beside KEDA's would fight it over the replica count"


# --- The deployment guide's apply steps, replayed on the rendered manifests -------------------

def _readme_kubernetes_commands() -> list[str]:
    """The commands of the first sh block under "## Kubernetes" in the deployment guide,
    continuations joined; comments kept (they name the Secrets to create likewise)."""
    guide = (REPO / "docs" / "guides" / "ops" / "deploying.md").read_text()
    section = guide.split("\n## Kubernetes\n", 1)[1]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block, "the deployment guide's Kubernetes section has no sh block"
    return [line.strip() for line in block[1].replace("\\\n", " ").splitlines() if line.strip()]


def _selector_matches(selector: str, labels: dict[str, str]) -> bool:
    """kubectl's label selector: comma-separated k=v, k!=v, k in (..), k notin (..), k, !k."""
    requirements = re.findall(r"[^,(]+(?:\([^)]*\))?", selector)
    for requirement in (r.strip() for r in requirements):
        if m := re.fullmatch(r"([\w./-]+)\s+(in|notin)\s+\(([^)]*)\)", requirement):
            values = {v.strip() for v in m[3].split(",")}
            if (labels.get(m[1]) in values) != (m[2] == "in"):
                return False
        elif m := re.fullmatch(r"([\w./-]+)\s*(==|=|!=)\s*([\w./-]*)", requirement):
            if (labels.get(m[1]) == m[3]) != (m[2] != "!="):
                return False
        elif m := re.fullmatch(r"(!?)([\w./-]+)", requirement):
            if (m[2] in labels) == bool(m[1]):
                return False
        else:
            raise AssertionError(f"cannot read the selector requirement {requirement!r}")
    return True


def test_selector_reader_follows_kubectl() -> None:
    labels = {"app.kubernetes.io/component": "config", "app": "x"}
    assert _selector_matches("app.kubernetes.io/component in (config,migrations)", labels)
    assert not _selector_matches("app.kubernetes.io/component in (migrations, topics)", labels)
    assert _selector_matches("app=x,app.kubernetes.io/component notin (service)", labels)
    assert not _selector_matches("app!=x", labels)
    assert not _selector_matches("app=x,!app", labels)


def _option(argv: list[str], *names: str) -> str | None:
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name:
                return argv[i + 1]
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _references(pod_owner: dict[str, Any]) -> set[tuple[str, str]]:
    """(kind, name) of every ConfigMap and Secret a pod template needs to start."""
    pod = pod_owner["spec"]["template"]["spec"]
    found = set()
    for container in pod.get("initContainers", []) + pod["containers"]:
        for source in container.get("envFrom", []):
            for field, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
                if field in source and not source[field].get("optional"):
                    found.add((kind, source[field]["name"]))
        for var in container.get("env", []):
            for field, kind in (("configMapKeyRef", "ConfigMap"), ("secretKeyRef", "Secret")):
                ref = var.get("valueFrom", {}).get(field)
                if ref and not ref.get("optional"):
                    found.add((kind, ref["name"]))
    for volume in pod.get("volumes", []):
        if "configMap" in volume and not volume["configMap"].get("optional"):
            found.add(("ConfigMap", volume["configMap"]["name"]))
        if "secret" in volume and not volume["secret"].get("optional"):
            found.add(("Secret", volume["secret"]["secretName"]))
    return found


@pytest.mark.parametrize("variant", [K8S, STRIMZI], ids=["deploy/k8s", "deploy/k8s/strimzi"])
def test_readme_apply_steps_work_on_a_first_install(variant: Path) -> None:
    # Replays the guide's commands in order on a cluster that has nothing yet (with the
    # Strimzi variant's directory in place of deploy/k8s, as the guide says): every pod a step
    # starts finds its namespace, ConfigMaps and Secrets, and no service starts before the Jobs
    # it needs have been waited for.
    commands = _readme_kubernetes_commands()
    applied: dict[str, dict[str, Any]] = {}
    secret_names = re.compile(r"\b(?:{})-secrets\b".format("|".join(SERVICES)))
    user_secrets = {("Secret", name) for c in commands for name in secret_names.findall(c)}
    waited: set[str] = set()
    for command in commands:
        if command.startswith("#"):
            continue
        argv = shlex.split(command)
        if argv[:2] != ["kubectl", "apply"]:
            if argv[:2] == ["kubectl", "-n"] and argv[3] == "wait":
                selector = _option(argv, "-l", "--selector") or ""
                waited |= {k for k, d in applied.items() if d["kind"] == "Job" and
                           _selector_matches(selector, d["metadata"].get("labels", {}))}
            continue
        if (path := _option(argv, "-f", "--filename")) is not None:
            step = load_yaml_documents(REPO / path)
        else:
            directory = _option(argv, "-k", "--kustomize")
            assert directory == "deploy/k8s", command
            selector = _option(argv, "-l", "--selector")
            step = [d for d in VARIANTS[variant] if selector is None
                    or _selector_matches(selector, d["metadata"].get("labels", {}))]
        namespaces = {d["metadata"]["name"] for d in applied.values() if d["kind"] == "Namespace"}
        available = {(d["kind"], d["metadata"]["name"]) for d in applied.values()
                     if d["metadata"].get("namespace") == "leadloop"} | user_secrets
        step_keys = {_key(d) for d in step}
        for doc in step:
            namespace = doc["metadata"].get("namespace")
            assert namespace is None or namespace in namespaces | {
                d["metadata"]["name"] for d in step if d["kind"] == "Namespace"} | {"kafka"}, (
                f"{command}: {_key(doc)} before its namespace")
            if doc["kind"] in ("Job", "Deployment"):
                same_step = {(d["kind"], d["metadata"]["name"]) for d in step}
                missing = _references(doc) - available - same_step
                assert missing == set(), f"{command}: {_key(doc)} needs {sorted(missing)}"
            if doc["kind"] == "Deployment":
                jobs = {k for k in applied if k.startswith("Job/")} | {
                    k for k in step_keys if k.startswith("Job/")}
                assert jobs <= waited, f"{command}: {_key(doc)} starts before {jobs - waited}"
        applied |= {_key(d): d for d in step}
    assert set(applied) == {_key(d) for d in VARIANTS[variant]} | {"Namespace/-/leadloop"}, (
        "the guide's steps do not apply everything")


SIGNING_SECRETS = {"capture": ["LEADLOOP_CAPTURE_FORM_TOKEN_SECRET"],
                   "handoff": ["LEADLOOP_HANDOFF_PAGE_SESSION_SECRET"],
                   "nurture": ["LEADLOOP_NURTURE_LINK_SECRET", "LEADLOOP_NURTURE_WEBHOOK_SECRET"],
                   "outcomes": ["LEADLOOP_OUTCOMES_DASHBOARD_SESSION_SECRET"]}


@pytest.mark.parametrize("service", sorted(SIGNING_SECRETS))
def test_signing_secrets_come_from_the_services_secret_drawn_at_random(service: str) -> None:
    # Never a value in the manifests (a ConfigMap is readable and published here): the
    # Deployment reads them from <service>-secrets, which the deployment guide creates with
    # random values.
    config = _find("ConfigMap", f"{service}-config")["data"]
    assert not [k for k in config if k.endswith("SECRET")]
    assert {"secretRef": {"name": f"{service}-secrets"}} in \
        _container(_find("Deployment", service))["envFrom"]
    created = [c for c in _readme_kubernetes_commands()
               if c.startswith(f"kubectl -n leadloop create secret generic {service}-secrets")]
    assert len(created) == 1
    for name in SIGNING_SECRETS[service]:
        assert f'--from-literal={name}="$(openssl rand -hex 32)"' in created[0]


# --- Config rolls pods, migrations rerun per release, one Kafka address ----------------------

def _render_copy(tmp_path: Path, edit: tuple[str, str, str]) -> list[dict[str, Any]]:
    """deploy/k8s copied, one file edited (path, old, new), rendered."""
    copy = tmp_path / "k8s"
    shutil.copytree(K8S, copy, ignore=shutil.ignore_patterns("render"))
    path, old, new = edit
    text = (copy / path).read_text()
    assert old in text
    (copy / path).write_text(text.replace(old, new, 1))
    return render_kustomization(copy)


def test_a_config_edit_rolls_the_service_pods(tmp_path: Path) -> None:
    edited = _render_copy(tmp_path, ("handoff/config.env", "LEADLOOP_HANDOFF_LOG_LEVEL=INFO",
                                     "LEADLOOP_HANDOFF_LOG_LEVEL=DEBUG"))
    before = _container(_find("Deployment", "handoff"))["envFrom"][0]["configMapRef"]["name"]
    after = _container(_find("Deployment", "handoff", edited))["envFrom"][0]["configMapRef"]
    assert before != after["name"], "the pod template must change with the config"
    assert _find("ConfigMap", "handoff-config", edited)["metadata"]["name"] == after["name"]
    # the other services' pods are left alone
    assert _find("Deployment", "capture", edited) == _find("Deployment", "capture")


def test_a_new_image_tag_names_a_new_migrations_job(tmp_path: Path) -> None:
    edited = _render_copy(tmp_path, ("app/kustomization.yaml", "newTag: 0.1.0", "newTag: 0.2.0"))
    job = _migrations_job(SERVICES[0], edited)
    assert job["metadata"]["name"] == f"{SERVICES[0]}-migrations-0.2.0"
    assert _container(job)["image"].endswith(":0.2.0")
    assert _migrations_job(SERVICES[1], edited)["metadata"]["name"] == \
        _migrations_job(SERVICES[1])["metadata"]["name"], "only the service whose tag changed"


def test_the_kafka_address_is_written_in_one_place() -> None:
    address = _find("ConfigMap", "leadloop-kafka")["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    holders = [p.relative_to(K8S).as_posix() for p in K8S.rglob("*")
               if p.is_file() and p.suffix in {".yaml", ".env"} and address in p.read_text()]
    assert holders == ["app/kafka.env"]
    for service in SERVICES:
        if not CONSUMES[service]:
            continue
        container = _container(_find("Deployment", service))
        for trigger in _find("ScaledObject", service)["spec"]["triggers"]:
            if trigger["type"] == "kafka":  # KEDA reads the address from the pods' variable
                variable = trigger["metadata"]["bootstrapServersFromEnv"]
                assert _kafka_reference(container, variable)


# --- The production overlay -----------------------------------------------------------------

def test_production_overlay_changes_the_kafka_address_and_rolls_every_service() -> None:
    kafka = _find("ConfigMap", "leadloop-kafka", PRODUCTION_RESOURCES)
    assert kafka["data"]["KAFKA_BOOTSTRAP_SERVERS"] != \
        _find("ConfigMap", "leadloop-kafka")["data"]["KAFKA_BOOTSTRAP_SERVERS"]
    for service in SERVICES:
        container = _container(_find("Deployment", service, PRODUCTION_RESOURCES))
        variable = env_prefix(service) + "KAFKA_BOOTSTRAP_SERVERS"
        assert _kafka_reference(container, variable) == kafka["metadata"]["name"]
        config = _find("ConfigMap", f"{service}-config", PRODUCTION_RESOURCES)["data"]
        assert set(config) <= env_names(service) | {"FORWARDED_ALLOW_IPS"}, "names nothing reads"


def _pods(resources: list[dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Labels of the pods each workload starts, by workload key."""
    return {_key(d): d["spec"]["template"]["metadata"]["labels"] for d in resources
            if d["kind"] in ("Deployment", "Job")}


def _selects(selector: dict[str, Any], labels: dict[str, str]) -> bool:
    if not selector.get("matchLabels", {}).items() <= labels.items():
        return False
    for expression in selector.get("matchExpressions", []):
        assert expression["operator"] == "In"
        if labels.get(expression["key"]) not in expression["values"]:
            return False
    return True


def test_production_ingress_reaches_existing_services_over_tls() -> None:
    ingress = _find("Ingress", "leadloop", PRODUCTION_RESOURCES)
    hosts = set(ingress["spec"]["tls"][0]["hosts"])
    backends = {}
    for rule in ingress["spec"]["rules"]:
        assert rule["host"] in hosts, f"{rule['host']} without TLS"
        for path in rule["http"]["paths"]:
            backends[rule["host"]] = path["backend"]["service"]
    for backend in backends.values():
        service = _find("Service", backend["name"], PRODUCTION_RESOURCES)
        assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}
    exposed = {b["name"] for b in backends.values()}
    assert "capture" in exposed and "nurture" in exposed, "forms and mail links are public"
    assert "scoring" not in exposed, "admin-only APIs stay inside the cluster"
    public_url = _find("ConfigMap", "capture-config", PRODUCTION_RESOURCES)["data"][
        "LEADLOOP_CAPTURE_PUBLIC_URL"]
    assert public_url.removeprefix("https://") in backends


def test_production_network_policies_let_in_only_the_ingress_and_prometheus() -> None:
    policies = [d for d in PRODUCTION_RESOURCES if d["kind"] == "NetworkPolicy"]
    pods = _pods(PRODUCTION_RESOURCES)
    deny = [p for p in policies if p["spec"]["podSelector"] == {} and "ingress" not in p["spec"]]
    assert deny and deny[0]["spec"]["policyTypes"] == ["Ingress"], "default deny for every pod"
    ingress = _find("Ingress", "leadloop", PRODUCTION_RESOURCES)
    exposed = {path["backend"]["service"]["name"] for rule in ingress["spec"]["rules"]
               for path in rule["http"]["paths"]}
    sources: dict[str, set[str]] = {}
    for policy in policies:
        for rule in policy["spec"].get("ingress", []):
            namespaces = {f["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"]
                          for f in rule["from"]}
            assert [p["port"] for p in rule["ports"]] == ["http"]
            for key, labels in pods.items():
                if _selects(policy["spec"]["podSelector"], labels):
                    sources.setdefault(key, set()).update(namespaces)
    for service in SERVICES:
        expected = {"monitoring"} | ({"ingress-nginx"} if service in exposed else set())
        assert sources[f"Deployment/leadloop/{service}"] == expected, service
    assert not any(k.startswith("Job/") for k in sources), "nothing needs to reach a Job"


def test_production_pod_monitor_scrapes_every_service_and_no_job() -> None:
    monitor = _find("PodMonitor", "leadloop", PRODUCTION_RESOURCES)["spec"]
    selected = {k for k, labels in _pods(PRODUCTION_RESOURCES).items()
                if _selects(monitor["selector"], labels)}
    assert selected == {f"Deployment/leadloop/{s}" for s in SERVICES}
    [endpoint] = monitor["podMetricsEndpoints"]
    assert endpoint["path"] == "/metrics"
    for service in SERVICES:
        ports = _container(_find("Deployment", service, PRODUCTION_RESOURCES))["ports"]
        assert endpoint["port"] in {p["name"] for p in ports}


# --- Managed Kafka and PostgreSQL: SASL and TLS from Secrets --------------------------------

def _resolved_env(container: dict[str, Any], resources: list[dict[str, Any]]
                  ) -> tuple[dict[str, str], dict[str, tuple[str, str]]]:
    """The container's variables as the kubelet sets them from values and ConfigMaps, and
    those taken from Secrets (variable -> (Secret, key))."""
    config_maps = {d["metadata"]["name"]: d.get("data", {}) for d in resources
                   if d["kind"] == "ConfigMap"}
    values: dict[str, str] = {}
    secrets: dict[str, tuple[str, str]] = {}
    for var in container.get("env", []):
        if "value" in var:
            values[var["name"]] = var["value"]
        elif ref := var["valueFrom"].get("configMapKeyRef"):
            data = config_maps[ref["name"]]
            assert ref["key"] in data or ref.get("optional"), (var["name"], ref)
            if ref["key"] in data:
                values[var["name"]] = data[ref["key"]]
        elif ref := var["valueFrom"].get("secretKeyRef"):
            secrets[var["name"]] = (ref["name"], ref["key"])
    return values, secrets


def _secret_file(pod: dict[str, Any], container: dict[str, Any], path: str) -> tuple[str, str]:
    """(Secret, key) of the file at `path` in the container, from its volume mounts."""
    volumes = {v["name"]: v for v in pod["volumes"]}
    for mount in container["volumeMounts"]:
        prefix = mount["mountPath"].rstrip("/") + "/"
        if path.startswith(prefix):
            secret = volumes[mount["name"]]["secret"]
            name = path.removeprefix(prefix)
            items = {i["path"]: i["key"] for i in secret.get("items", [])}
            return secret["secretName"], items.get(name, name) if items else name
    raise AssertionError(f"nothing is mounted at {path}")


@pytest.mark.parametrize("service", SERVICES)
def test_production_services_reach_kafka_over_sasl_ssl_and_postgres_over_verified_tls(
        service: str, monkeypatch: pytest.MonkeyPatch) -> None:
    prefix = env_prefix(service)
    deployment = _find("Deployment", service, PRODUCTION_RESOURCES)
    pod, container = deployment["spec"]["template"]["spec"], _container(deployment)
    values, secrets = _resolved_env(container, PRODUCTION_RESOURCES)
    # The login comes from the Secret, never from a ConfigMap.
    assert secrets[prefix + "KAFKA_SASL_USERNAME"] == ("leadloop-kafka-client", "username")
    assert secrets[prefix + "KAFKA_SASL_PASSWORD"] == ("leadloop-kafka-client", "password")
    # What the service's settings make of it (Secret values stand in for the kubelet's).
    for name, value in {**values, prefix + "KAFKA_SASL_USERNAME": "leadloop",
                        prefix + "KAFKA_SASL_PASSWORD": "pw"}.items():
        monkeypatch.setenv(name, value)
    settings = settings_class(service)()
    kafka, database = settings.kafka, settings.database_tls
    assert (kafka.security_protocol, kafka.sasl_mechanism) == ("SASL_SSL", "SCRAM-SHA-512")
    assert kafka.sasl_password == "pw"
    assert database.sslmode == "verify-full"
    assert kafka.ssl_cafile and database.rootcert
    assert _secret_file(pod, container, kafka.ssl_cafile) == ("leadloop-kafka-client", "ca.crt")
    assert _secret_file(pod, container, database.rootcert) == ("leadloop-database-ca", "ca.crt")
    # The migrations Job reaches the same database the same way.
    job = _migrations_job(service, PRODUCTION_RESOURCES)
    job_values, _ = _resolved_env(_container(job), PRODUCTION_RESOURCES)
    assert job_values[prefix + "DATABASE_SSL_ROOTCERT"] == database.rootcert
    assert _secret_file(job["spec"]["template"]["spec"], _container(job), database.rootcert) \
        == ("leadloop-database-ca", "ca.crt")


@pytest.mark.parametrize("service", SERVICES)
def test_an_in_cluster_install_needs_no_kafka_or_database_secret(service: str) -> None:
    # deploy/k8s (PLAINTEXT in-cluster broker): every reference to the managed-service
    # Secrets is optional, so the pods start without them, and the settings stay unset.
    deployment = _find("Deployment", service)
    values, secrets = _resolved_env(_container(deployment), RESOURCES)
    assert {name for name, _ in secrets.values()} == {"leadloop-kafka-client"}
    assert all(v["valueFrom"]["secretKeyRef"].get("optional")
               for v in _container(deployment)["env"]
               if "secretKeyRef" in v.get("valueFrom", {}))
    assert all(v["secret"].get("optional") for v in deployment["spec"]["template"]["spec"][
        "volumes"] if "secret" in v)
    assert not [n for n in values if "SASL" in n or "SSL" in n or "SECURITY" in n]


def test_production_kafka_triggers_log_in_with_the_services_kafka_secret() -> None:
    auth = _find("TriggerAuthentication", "leadloop-kafka", PRODUCTION_RESOURCES)
    assert auth["metadata"]["namespace"] == "leadloop"
    refs = {r["parameter"]: (r["name"], r["key"]) for r in auth["spec"]["secretTargetRef"]}
    assert set(refs) == {"sasl", "tls", "username", "password", "ca"}
    # The same Secret and keys the services log in with (username, password, ca.crt).
    container = _container(_find("Deployment", "scoring", PRODUCTION_RESOURCES))
    _, secrets = _resolved_env(container, PRODUCTION_RESOURCES)
    assert refs["username"] == secrets["LEADLOOP_SCORING_KAFKA_SASL_USERNAME"]
    assert refs["password"] == secrets["LEADLOOP_SCORING_KAFKA_SASL_PASSWORD"]
    assert refs["ca"] == ("leadloop-kafka-client", "ca.crt")
    for service in SERVICES:
        if not CONSUMES[service]:
            continue
        triggers = _find("ScaledObject", service, PRODUCTION_RESOURCES)["spec"]["triggers"]
        kafka = [t for t in triggers if t["type"] == "kafka"]
        assert kafka and all(t.get("authenticationRef") == {"name": "leadloop-kafka"}
                             for t in kafka), service
        # the base, on the in-cluster broker, has no login to give
        base = _find("ScaledObject", service)["spec"]["triggers"]
        assert not any("authenticationRef" in t for t in base)


def test_sales_page_reads_timelines_from_the_outcomes_service_with_a_secret_key() -> None:
    config = _find("ConfigMap", "handoff-config")["data"]
    host = config["LEADLOOP_HANDOFF_OUTCOMES_URL"].removeprefix("http://").split("/")[0]
    name, _, namespace = host.partition(".")
    service = _find("Service", name)
    assert namespace.startswith(service["metadata"]["namespace"] + ".")
    assert 80 in [p["port"] for p in service["spec"]["ports"]]  # no port in the URL
    assert "LEADLOOP_HANDOFF_OUTCOMES_KEY" not in config  # a key: from handoff-secrets
    [created] = [c for c in _readme_kubernetes_commands()
                 if c.startswith("kubectl -n leadloop create secret generic handoff-secrets")]
    assert "--from-literal=LEADLOOP_HANDOFF_OUTCOMES_KEY=" in created
