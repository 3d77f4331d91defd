"""deploy/k8s: valid against the Kubernetes schemas (offline), and in step with the code."""

from typing import Any

import jsonschema
import kubernetes_validate
import pytest

from leadloop.events.topology import CONSUMES, SERVICES, all_topics, topic_of
from tests.unit.deploy_support import (
    K8S,
    TOPIC_PARTITIONS,
    env_names,
    env_prefix,
    http_port,
    kustomize_resources,
)

# The oldest Kubernetes release the manifests promise to work on, and the newest the bundled
# schemas know: an API removed in between fails one of the two.
KUBERNETES_VERSIONS = ("1.30", kubernetes_validate.latest_version())

# Custom resources kubernetes-validate has no schema for: checked against these schemas, which
# hold the fields of the KEDA and Strimzi CRDs that the manifests use (unknown fields fail).
_STR = {"type": "string", "minLength": 1}
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
                "advanced": {"type": "object"},
                "triggers": {"type": "array", "minItems": 1, "items": {
                    "type": "object", "additionalProperties": False,
                    "required": ["type", "metadata"],
                    "properties": {"type": _STR, "name": _STR, "metricType": _STR,
                                   "metadata": {"type": "object",
                                                "additionalProperties": {"type": "string"}}}}},
            },
        },
    },
}
KAFKA_TOPIC = {
    "type": "object",
    "required": ["apiVersion", "kind", "metadata", "spec"],
    "properties": {
        "apiVersion": {"const": "kafka.strimzi.io/v1beta2"},
        "metadata": {"type": "object", "required": ["name", "labels"], "properties": {
            "labels": {"type": "object", "required": ["strimzi.io/cluster"]}}},
        "spec": {
            "type": "object", "additionalProperties": False,
            "required": ["topicName", "partitions", "replicas"],
            "properties": {"topicName": _STR,
                           "partitions": {"type": "integer", "minimum": 1},
                           "replicas": {"type": "integer", "minimum": 1, "maximum": 32767},
                           "config": {"type": "object"}},
        },
    },
}
CUSTOM_SCHEMAS = {"ScaledObject": SCALED_OBJECT, "KafkaTopic": KAFKA_TOPIC}

RESOURCES = kustomize_resources(K8S)


def _ids(resources: list[tuple[Any, dict[str, Any], Any]]) -> list[str]:
    return [f"{path.relative_to(K8S)}:{doc['kind']}/{doc['metadata']['name']}"
            for path, doc, _ in resources]


def _find(kind: str, name: str) -> dict[str, Any]:
    matches = [doc for _, doc, _ in RESOURCES
               if doc["kind"] == kind and doc["metadata"]["name"] == name]
    assert len(matches) == 1, f"expected one {kind} {name}, found {len(matches)}"
    return matches[0]


def _container(pod_owner: dict[str, Any]) -> dict[str, Any]:
    containers = pod_owner["spec"]["template"]["spec"]["containers"]
    assert len(containers) == 1
    return dict(containers[0])


@pytest.mark.parametrize("version", KUBERNETES_VERSIONS)
@pytest.mark.parametrize(("path", "doc", "namespace"), RESOURCES, ids=_ids(RESOURCES))
def test_manifest_is_valid_kubernetes(version: str, path: Any, doc: dict[str, Any],
                                      namespace: str | None) -> None:
    if doc["kind"] in CUSTOM_SCHEMAS:
        jsonschema.validate(doc, CUSTOM_SCHEMAS[doc["kind"]])
        return
    try:
        kubernetes_validate.validate(doc, version, strict=True)
    except kubernetes_validate.ValidationError as e:
        where = ".".join(str(p) for p in e.path)
        pytest.fail(f"{path.relative_to(K8S)} {doc['kind']}: {where}: {e.message}")


def test_strict_validation_rejects_a_misspelled_field() -> None:
    deployment = _find("Deployment", "capture")
    broken = {**deployment, "spec": {**deployment["spec"], "replica": 2}}
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(broken, KUBERNETES_VERSIONS[0], strict=True)


def test_every_manifest_file_is_part_of_the_kustomization() -> None:
    listed = {path for path, _, _ in RESOURCES}
    on_disk = {p for p in K8S.rglob("*.yaml") if p.name != "kustomization.yaml"}
    assert on_disk - listed == set(), "manifests no kustomization.yaml applies"


def test_topics_match_the_event_topology_with_their_partitions() -> None:
    topics = {doc["spec"]["topicName"]: doc["spec"] for _, doc, _ in RESOURCES
              if doc["kind"] == "KafkaTopic"}
    assert sorted(topics) == sorted(all_topics())
    for name, spec in topics.items():
        assert spec["partitions"] == TOPIC_PARTITIONS, name
        assert int(spec["config"]["min.insync.replicas"]) < spec["replicas"], name


@pytest.mark.parametrize("service", SERVICES)
def test_service_runs_with_probes_resources_and_its_settings(service: str) -> None:
    namespaces = {ns for _, doc, ns in RESOURCES if doc["metadata"].get("labels", {})
                  .get("app.kubernetes.io/name") == service}
    assert namespaces == {"leadloop"}
    deployment = _find("Deployment", service)
    container = _container(deployment)
    assert container["ports"] == [{"name": "http", "containerPort": http_port(service),
                                   "protocol": "TCP"}]
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "http"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "http"}
    for kind in ("requests", "limits"):
        assert set(container["resources"][kind]) == {"cpu", "memory"}
    assert container["envFrom"] == [{"configMapRef": {"name": f"{service}-config"}},
                                    {"secretRef": {"name": f"{service}-secrets"}}]
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsNonRoot"] is True
    config = _find("ConfigMap", f"{service}-config")["data"]
    assert set(config) <= env_names(service), "ConfigMap keys the settings do not read"
    assert env_prefix(service) + "KAFKA_BOOTSTRAP_SERVERS" in config


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
    job = _find("Job", f"{service}-migrations")
    assert not selector.items() <= job["spec"]["template"]["metadata"]["labels"].items()


@pytest.mark.parametrize("service", SERVICES)
def test_migrations_job_runs_alembic_with_the_service_image_and_settings(service: str) -> None:
    job_container = _container(_find("Job", f"{service}-migrations"))
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
    assert 2 <= scaled["minReplicaCount"] <= scaled["maxReplicaCount"] <= TOPIC_PARTITIONS
    lag = [t["metadata"] for t in scaled["triggers"] if t["type"] == "kafka"]
    assert sorted(m["topic"] for m in lag) == sorted(topic_of(s) for s in CONSUMES[service])
    assert {m["consumerGroup"] for m in lag} == {service}  # the runner's group id
    assert any(t["type"] == "cpu" for t in scaled["triggers"]), "the HTTP side scales on CPU"
    others = [doc for _, doc, _ in RESOURCES if doc["kind"] == "HorizontalPodAutoscaler"
              and doc["spec"]["scaleTargetRef"]["name"] == service]
    assert others == [], "an HPA beside KEDA's would fight it over the replica count"
