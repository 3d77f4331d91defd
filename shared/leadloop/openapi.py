"""What every service's OpenAPI document says the same way: stable operation ids, the error
answers each operation can give (as RFC 9457 problems), and an example for every request body.

Operation ids are camelCase verb phrases (`createLead`, `getLead`, `listForms`): generated
clients name their methods after them, so they are part of the contract. By default they come
from the endpoint function's name (`post_` reads as `create`); a service names the rest in
`create_service_app(operation_ids=...)` and a test holds every id to a verb and unique.
"""

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute
from pydantic import BaseModel

from leadloop.problems import PROBLEM_JSON, FieldError, Problem

# What a function name's first word becomes in an operation id.
_VERB_ALIASES = {"post": "create", "show": "get", "find": "find"}

OPERATION_VERBS = frozenset({
    "accept", "activate", "assign", "backtest", "create", "deactivate", "delete", "diff",
    "erase", "export", "find", "get", "list", "merge", "mint", "pause", "purge", "record",
    "reject", "render", "replace", "replay", "rebuild", "reset", "revoke", "rotate", "search",
    "send", "submit", "track", "train", "undo", "update",
})
"""The verbs an operation id may start with; a new one is a deliberate addition here."""


def operation_id_generator(overrides: Mapping[str, str]) -> Callable[[APIRoute], str]:
    """FastAPI's `generate_unique_id_function`: `overrides[function name]`, else the function
    name in camelCase with its verb normalised (`post_lead` -> `createLead`)."""

    def operation_id(route: APIRoute) -> str:
        if route.name in overrides:
            return overrides[route.name]
        first, *rest = route.name.split("_")
        words = [_VERB_ALIASES.get(first, first), *rest]
        return words[0] + "".join(word.capitalize() for word in words[1:])

    return operation_id


_OPS_OPERATION_IDS = {
    "healthz": "getHealth", "readyz": "getReadiness", "metrics": "getMetrics",
    "asyncapi": "getAsyncApi", "list_letters": "listDeadLetters",
    "purge_letters": "purgeDeadLetters", "show_letter": "getDeadLetter",
    "replay_letter": "replayDeadLetter",
}
"""The shared routes' ids (health, metrics, dead letters), the same in every service."""


def with_shared_operation_ids(overrides: Mapping[str, str]) -> dict[str, str]:
    """A service's operation-id overrides plus those of the routes every service has."""
    return {**_OPS_OPERATION_IDS, **overrides}


def _problem_answer(description: str, headers: dict[str, Any] | None = None
                    ) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "description": description,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}}
    if headers:
        answer["headers"] = headers
    return answer


_RETRY_AFTER = {"Retry-After": {"description": "Seconds to wait before retrying",
                                "schema": {"type": "integer"}}}

_UNAUTHENTICATED = _problem_answer("No API key, or an unknown one")
_FORBIDDEN = _problem_answer("The API key lacks the scope this operation needs")
_NOT_FOUND = _problem_answer("Nothing with this id")
_TOO_LARGE = _problem_answer("The request body is larger than the service accepts")
_INVALID = _problem_answer("The request is invalid: each bad field, where, and why")
_RATE_LIMITED = _problem_answer("Too many requests; retry after the given seconds",
                                _RETRY_AFTER)
_UNAVAILABLE = _problem_answer("The database or broker is briefly unavailable; retry",
                               _RETRY_AFTER)

_OPS_PATHS = frozenset({"/healthz", "/readyz", "/metrics", "/asyncapi.json"})


def document(app: FastAPI, rate_limited: frozenset[tuple[str, str]] = frozenset(),
             models: Sequence[type[BaseModel]] = ()) -> dict[str, Any]:
    """The service's OpenAPI document: FastAPI's, with every operation's error answers as
    problems, and the 422 schema replaced by the problem we send. `rate_limited` names the
    (METHOD, path) operations that can answer 429; `models` are schemas that only an
    operation's `openapi_extra` refers to (FastAPI adds only those it sees in signatures)."""
    if app.openapi_schema is not None:
        return app.openapi_schema
    schema = get_openapi(title=app.title, version=app.version, description=app.description,
                         routes=app.routes)
    schemas = schema.setdefault("components", {}).setdefault("schemas", {})
    every: list[type[BaseModel]] = [Problem, FieldError, *models]
    for model in every:
        rendered = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(rendered.pop("$defs", {}))
        schemas[model.__name__] = rendered
    for unused in ("HTTPValidationError", "ValidationError"):
        schemas.pop(unused, None)
    for path, operations in schema.get("paths", {}).items():
        for method, operation in operations.items():
            _add_error_answers(path, method.upper(), operation, rate_limited)
            for media in operation.get("requestBody", {}).get("content", {}).values():
                if "example" not in media and "examples" not in media and "schema" in media:
                    media["example"] = example_of(media["schema"], schemas)
    app.openapi_schema = schema
    return schema


def _add_error_answers(path: str, method: str, operation: dict[str, Any],
                       rate_limited: frozenset[tuple[str, str]]) -> None:
    answers = operation.setdefault("responses", {})
    if "422" in answers or operation.get("parameters") or "requestBody" in operation:
        answers["422"] = _INVALID
    if path in _OPS_PATHS:
        return
    if operation.get("security"):
        answers.setdefault("401", _UNAUTHENTICATED)
        answers.setdefault("403", _FORBIDDEN)
    if "{" in path:
        answers.setdefault("404", _NOT_FOUND)
    if "requestBody" in operation or method in ("POST", "PUT", "PATCH"):
        answers.setdefault("413", _TOO_LARGE)
    if (method, path) in rate_limited:
        answers.setdefault("429", _RATE_LIMITED)
    answers.setdefault("503", _UNAVAILABLE)
    for status, answer in answers.items():
        # Answers a route declared itself (409, 404 with a model): say they are problems.
        if status[0] in "45" and "content" not in answer:
            answers[status] = {**_problem_answer(answer.get("description", "")),
                               **{k: v for k, v in answer.items() if k != "content"}}
        elif status[0] in "45" and "application/json" in answer.get("content", {}):
            answer["content"] = {PROBLEM_JSON: {
                "schema": {"$ref": "#/components/schemas/Problem"}}}


_FORMAT_EXAMPLES = {
    "email": "ada@example.com", "uuid": "3fa85f64-5717-4562-b3fc-2c963f66afa6",
    "date-time": "2026-01-15T09:30:00Z", "date": "2026-01-15", "time": "09:30:00",
    "uri": "https://example.com/", "duration": "P1D", "ipv4": "192.0.2.1",
}


# A plain string field whose name says what it holds (pydantic validates these in code).
_NAME_EXAMPLES = {"email": "ada@example.com", "currency": "EUR", "url": "https://example.com/",
                  "country": "DE", "phone": "+4930123456", "timezone": "Europe/Berlin",
                  "name": "Example"}


def example_of(node: dict[str, Any], schemas: dict[str, Any], depth: int = 0,
               name: str = "") -> Any:
    """A value valid against `node`: its own example or default where it has one, else the
    smallest one its constraints allow (required fields only). Models that declare
    `examples` get them used instead; a test validates every example against its schema."""
    while "$ref" in node:
        node = schemas[node["$ref"].rsplit("/", 1)[-1]]
    for key in ("examples", "example", "default", "const"):
        if key in node:
            value = node[key]
            return value[0] if key == "examples" and isinstance(value, list) and value else value
    if "enum" in node:
        return node["enum"][0]
    options = node.get("anyOf") or node.get("oneOf") or node.get("allOf")
    if options:
        usable = [o for o in options if o.get("type") != "null"] or options
        return example_of(usable[0], schemas, depth + 1, name)
    kind = node.get("type")
    if kind == "object" or "properties" in node:
        return {field: example_of(sub, schemas, depth + 1, field)
                for field, sub in node.get("properties", {}).items()
                if field in node.get("required", ()) and depth < 8}
    if kind == "array":
        count = max(1, node.get("minItems", 1)) if "items" in node else 0
        return [example_of(node["items"], schemas, depth + 1) for _ in range(count)]
    if kind == "integer":
        low = node.get("minimum", node.get("exclusiveMinimum", 0) + 1)
        return min(max(low, 1), node.get("maximum", max(low, 1)))
    if kind == "number":
        low = node.get("minimum", node.get("exclusiveMinimum", 0.0) + 0.5)
        return min(max(low, 1.0), node.get("maximum", max(low, 1.0)))
    if kind == "boolean":
        return False
    if kind == "string":
        hint = next((v for k, v in _NAME_EXAMPLES.items() if name.endswith(k)), "example")
        text = _FORMAT_EXAMPLES.get(node.get("format", ""), hint)
        if "pattern" in node:  # the first known sample the pattern accepts (e.g. an email)
            text = next((c for c in (text, *_FORMAT_EXAMPLES.values(), *_NAME_EXAMPLES.values())
                         if re.search(node["pattern"], c)), text)
        text = text.ljust(node.get("minLength", 0), "x")
        return text[:node["maxLength"]] if "maxLength" in node else text
    return None
