"""Published HTTP contracts (contracts/openapi/): the code's API may only change compatibly,
every operation has a stable verb id, documents its error answers as problems, and shows a
request example that its own schema accepts."""

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from leadloop.http_contracts import http_breaking_changes, openapi_documents
from leadloop.openapi import OPERATION_VERBS

PUBLISHED = Path(__file__).resolve().parents[2] / "contracts" / "openapi"
CURRENT = openapi_documents()


def _published() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(PUBLISHED.glob("*.json"))}


def _operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method.upper(), path, operation)
            for path, operations in document["paths"].items()
            for method, operation in operations.items()]


@pytest.mark.parametrize("service", sorted(_published()))
def test_published_http_api_is_still_honoured(service: str) -> None:
    problems = http_breaking_changes(_published()[service], CURRENT[service])
    assert problems == [], f"{service}'s HTTP API changed incompatibly: {problems}"


def test_every_service_publishes_its_current_document() -> None:
    assert set(_published()) == set(CURRENT)
    stale = [s for s in CURRENT if _published()[s] != CURRENT[s]]
    assert not stale, f"run `make contracts` and commit contracts/openapi ({stale})"


@pytest.mark.parametrize("service", sorted(CURRENT))
def test_operation_ids_are_unique_camel_case_verb_phrases(service: str) -> None:
    ids = [op["operationId"] for _m, _p, op in _operations(CURRENT[service])]
    assert len(ids) == len(set(ids)), ids
    for operation_id in ids:
        verb = re.match(r"[a-z]+", operation_id)
        assert verb and verb.group(0) in OPERATION_VERBS, operation_id
        assert re.fullmatch(r"[a-z]+(?:[A-Z][a-z0-9]*)*", operation_id), operation_id


@pytest.mark.parametrize("service", sorted(CURRENT))
def test_every_operation_documents_its_error_answers_as_problems(service: str) -> None:
    for method, path, operation in _operations(CURRENT[service]):
        answers = operation["responses"]
        if path in ("/healthz", "/readyz", "/metrics", "/asyncapi.json"):
            continue
        expected = {"503"}
        if operation.get("security"):
            expected |= {"401", "403"}
        if "{" in path:
            expected |= {"404"}
        if "requestBody" in operation:
            expected |= {"413", "422"}
        assert expected <= set(answers), (method, path, sorted(answers))
        for status, answer in answers.items():
            if status[0] in "45":
                assert list(answer["content"]) == ["application/problem+json"], (path, status)


def test_public_form_routes_document_their_rate_limit() -> None:
    submit = CURRENT["capture"]["paths"]["/v1/forms/{form_id}/submissions"]["post"]
    assert "Retry-After" in submit["responses"]["429"]["headers"]


@pytest.mark.parametrize("service", sorted(CURRENT))
def test_every_request_body_has_an_example_its_schema_accepts(service: str) -> None:
    document = CURRENT[service]
    for method, path, operation in _operations(document):
        for media in operation.get("requestBody", {}).get("content", {}).values():
            assert "example" in media, (method, path)
            schema = {**media["schema"], "components": document["components"]}
            errors = [e.message for e in Draft202012Validator(
                schema, format_checker=FormatChecker()).iter_errors(media["example"])]
            assert errors == [], (method, path, errors)


def _defaults(node: Any, where: str = "") -> list[tuple[str, dict[str, Any]]]:
    found = []
    if isinstance(node, dict):
        if "default" in node:
            found.append((where, node))
        for key, value in node.items():
            found += _defaults(value, f"{where}/{key}")
    elif isinstance(node, list):
        for n, value in enumerate(node):
            found += _defaults(value, f"{where}/{n}")
    return found


@pytest.mark.parametrize("service", sorted(CURRENT))
def test_every_default_validates_against_its_own_schema(service: str) -> None:
    document = CURRENT[service]
    for where, node in _defaults(document["components"]):
        schema = {k: v for k, v in node.items() if k != "default"}
        schema["components"] = document["components"]
        errors = [e.message for e in Draft202012Validator(
            schema, format_checker=FormatChecker()).iter_errors(node["default"])]
        assert errors == [], (where, errors)
        # openapi-python-client refuses an object default on a nullable (anyOf) field.
        if "anyOf" in node:
            assert not isinstance(node["default"], dict | list), where


# What the check catches, on a copy of capture's document.

def _capture() -> dict[str, Any]:
    return copy.deepcopy(CURRENT["capture"])


def test_removing_an_operation_is_breaking() -> None:
    new = _capture()
    del new["paths"]["/v1/leads/{lead_id}"]["get"]
    assert http_breaking_changes(CURRENT["capture"], new) == ["GET /v1/leads/{lead_id}: removed"]


def test_removing_a_response_field_is_breaking() -> None:
    new = _capture()
    del new["components"]["schemas"]["LeadAccepted"]["properties"]["lead_id"]
    problems = http_breaking_changes(CURRENT["capture"], new)
    assert "POST /v1/leads 201.lead_id: removed" in problems


def test_a_new_required_request_field_is_breaking() -> None:
    new = _capture()
    lead_in = new["components"]["schemas"]["LeadIn"]
    lead_in["properties"]["company_size"] = {"type": "integer"}
    lead_in["required"] = [*lead_in.get("required", []), "company_size"]
    assert "POST /v1/leads body.company_size: new required field" in \
        http_breaking_changes(CURRENT["capture"], new)


def test_narrowing_a_request_type_is_breaking() -> None:
    new = _capture()
    email = new["components"]["schemas"]["LeadIn"]["properties"]["email"]
    email["maxLength"] = 20
    assert any("email: maxLength lowered" in p
               for p in http_breaking_changes(CURRENT["capture"], new))


def test_adding_an_operation_and_an_optional_field_is_compatible() -> None:
    new = _capture()
    new["paths"]["/v1/leads/{lead_id}"]["patch"] = {"operationId": "updateLead",
                                                    "responses": {"200": {}}}
    new["components"]["schemas"]["LeadIn"]["properties"]["note"] = {"type": "string"}
    new["components"]["schemas"]["LeadAccepted"]["properties"]["note"] = {"type": "string"}
    assert http_breaking_changes(CURRENT["capture"], new) == []
