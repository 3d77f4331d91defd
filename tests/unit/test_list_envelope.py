"""Every list in every service's API is a page in the one envelope (`items`, `next_cursor`,
with `limit` and `cursor`): no GET answers a bare JSON array or an object that only wraps one,
so a new list endpoint cannot slip back to an unbounded or differently shaped answer."""

from typing import Any

import pytest

from leadloop.http_contracts import openapi_documents

DOCUMENTS = openapi_documents()
Schema = dict[str, Any]


def _resolve(schema: Schema, document: Schema) -> Schema:
    while "$ref" in schema:
        schema = document["components"]["schemas"][schema["$ref"].rsplit("/", 1)[-1]]
    return schema


def _get_answers(document: Schema) -> list[tuple[str, Schema, Schema]]:
    """(path, operation, resolved JSON schema) of every GET's successful JSON answer."""
    answers = []
    for path, operations in document["paths"].items():
        operation = operations.get("get")
        if operation is None:
            continue
        for status, answer in operation["responses"].items():
            schema = answer.get("content", {}).get("application/json", {}).get("schema")
            if status.startswith("2") and schema is not None:
                answers.append((path, operation, _resolve(schema, document)))
    return answers


def _is_array(schema: Schema, document: Schema) -> bool:
    return _resolve(schema, document).get("type") == "array"


def _query_parameters(operation: Schema) -> set[str]:
    return {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_no_get_answers_a_bare_json_array(service: str) -> None:
    document = DOCUMENTS[service]
    bare = [path for path, _op, schema in _get_answers(document) if _is_array(schema, document)]
    assert bare == [], f"{service}: answer a page ({{items, next_cursor}}), not an array: {bare}"


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_no_get_answers_an_object_that_only_wraps_an_array(service: str) -> None:
    document = DOCUMENTS[service]
    wrapped = [path for path, _op, schema in _get_answers(document)
               if len(props := schema.get("properties", {})) == 1
               and _is_array(next(iter(props.values())), document)]
    assert wrapped == [], f"{service}: a list is a page (leadloop.pagination.Page): {wrapped}"


@pytest.mark.parametrize("service", sorted(DOCUMENTS))
def test_every_list_is_a_page_with_limit_and_cursor(service: str) -> None:
    document = DOCUMENTS[service]
    lists = [(path, operation, schema) for path, operation, schema in _get_answers(document)
             if operation["operationId"].startswith("list") or "items" in schema.get(
                 "properties", {})]
    assert lists, f"{service} lists nothing? (its dead letters at least)"
    for path, operation, schema in lists:
        properties = schema.get("properties", {})
        assert "items" in properties and _is_array(properties["items"], document), path
        assert "next_cursor" in properties and "next_cursor" in schema["required"], path
        assert {"limit", "cursor"} <= _query_parameters(operation), path
        limit = next(p for p in operation["parameters"] if p["name"] == "limit")["schema"]
        assert limit.get("maximum") is not None, f"{path}: limit must be bounded"
