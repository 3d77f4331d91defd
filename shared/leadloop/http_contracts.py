"""Published HTTP contracts: each service's OpenAPI document in `contracts/openapi/`, and the
check that the code's document still serves every client written against the published one.

An HTTP change breaks a client when it removes a path or an operation, stops answering a
success status, removes or un-requires a field of an answer, widens what an answer may hold
(a client reads it), or narrows what a request may hold: a new required field or parameter,
a type or enum value no longer accepted (a client writes it). Adding operations, optional
request fields and answer fields is compatible.
"""

import importlib
from typing import Any

from leadloop.events.contracts import compare_schemas

Schema = dict[str, Any]

SERVICES = ("capture", "scoring", "handoff", "nurture", "outcomes")
_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


def openapi_documents() -> dict[str, Schema]:
    """Each installed service's OpenAPI document, as written to `contracts/openapi/`."""
    documents = {}
    for service in SERVICES:
        try:
            module = importlib.import_module(f"{service}.main")
        except ImportError:
            continue  # that service is not installed here
        documents[service] = module.app.openapi()
    return documents


def http_breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Every change from `old` to `new` that a client of `old` would trip over."""
    problems: list[str] = []
    old_defs = old.get("components", {}).get("schemas", {})
    new_defs = new.get("components", {}).get("schemas", {})
    for path, old_ops in old.get("paths", {}).items():
        new_ops = new.get("paths", {}).get(path)
        if new_ops is None:
            problems.append(f"{path}: removed")
            continue
        for method in _METHODS:
            if method not in old_ops:
                continue
            where = f"{method.upper()} {path}"
            if method not in new_ops:
                problems.append(f"{where}: removed")
                continue
            _compare_operation(old_ops[method], new_ops[method], old_defs, new_defs, where,
                               problems)
    return problems


def _compare_operation(old: Schema, new: Schema, old_defs: Schema, new_defs: Schema,
                       where: str, problems: list[str]) -> None:
    if old.get("operationId") != new.get("operationId"):
        problems.append(f"{where}: operationId {old.get('operationId')} -> "
                        f"{new.get('operationId')} (generated clients name methods after it)")
    old_params = {(p["in"], p["name"]): p for p in old.get("parameters", [])}
    for key, param in {(p["in"], p["name"]): p for p in new.get("parameters", [])}.items():
        if key not in old_params:
            if param.get("required"):
                problems.append(f"{where}: new required {key[0]} parameter {key[1]}")
            continue
        _compare_input(old_params[key].get("schema", {}), param.get("schema", {}), old_defs,
                       new_defs, f"{where} {key[0]} {key[1]}", problems)
        if param.get("required") and not old_params[key].get("required"):
            problems.append(f"{where}: {key[0]} parameter {key[1]} is now required")
    old_body, new_body = _json_schema(old.get("requestBody")), _json_schema(
        new.get("requestBody"))
    if old_body is not None and new_body is not None:
        _compare_input(old_body, new_body, old_defs, new_defs, f"{where} body", problems)
    elif new_body is not None and new.get("requestBody", {}).get("required"):
        problems.append(f"{where}: now requires a body")
    for status, answer in old.get("responses", {}).items():
        if not status.startswith("2"):
            continue
        if status not in new.get("responses", {}):
            problems.append(f"{where}: no longer answers {status}")
            continue
        old_schema = _json_schema(answer)
        new_schema = _json_schema(new["responses"][status])
        if old_schema is not None and new_schema is not None:
            compare_schemas(old_schema, new_schema, old_defs, new_defs,
                            f"{where} {status}", problems)


def _json_schema(part: Schema | None) -> Schema | None:
    content = (part or {}).get("content", {})
    for media_type in ("application/json", "application/problem+json"):
        if media_type in content:
            schema: Schema = content[media_type].get("schema", {})
            return schema
    return None


def _resolve(node: Schema, defs: Schema) -> Schema:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _variants(node: Schema, defs: Schema) -> dict[str, Schema]:
    node = _resolve(node, defs)
    if "anyOf" in node or "oneOf" in node:
        found: dict[str, Schema] = {}
        for option in node.get("anyOf") or node.get("oneOf") or []:
            found.update(_variants(option, defs))
        return found
    kind = "enum" if "enum" in node or "const" in node else str(node.get("type", "any"))
    return {kind: node}


def _compare_input(old: Schema, new: Schema, old_defs: Schema, new_defs: Schema, path: str,
                   problems: list[str]) -> None:
    """What a client sends: `new` must accept everything `old` accepted."""
    old_variants, new_variants = _variants(old, old_defs), _variants(new, new_defs)
    if "any" in new_variants:
        return
    for kind, old_v in old_variants.items():
        new_v = new_variants.get(kind)
        if new_v is None:
            problems.append(f"{path}: no longer accepts {kind}")
            continue
        if kind == "enum":
            before = set(map(str, old_v.get("enum", [old_v.get("const")])))
            removed = before - set(map(str, new_v.get("enum", [new_v.get("const")])))
            if removed:
                problems.append(f"{path}: no longer accepts {sorted(removed)}")
        elif kind == "object":
            old_props, new_props = old_v.get("properties", {}), new_v.get("properties", {})
            for name in set(new_v.get("required", [])) - set(old_v.get("required", [])):
                problems.append(f"{path}.{name}: new required field")
            for name in old_props.keys() & new_props.keys():
                _compare_input(old_props[name], new_props[name], old_defs, new_defs,
                               f"{path}.{name}", problems)
        elif kind == "array" and "items" in old_v:
            _compare_input(old_v["items"], new_v.get("items", {}), old_defs, new_defs,
                           f"{path}[]", problems)
        for bound in ("maxLength", "maximum", "maxItems"):
            if bound in new_v and new_v[bound] < old_v.get(bound, float("inf")):
                problems.append(f"{path}: {bound} lowered to {new_v[bound]}")
        for bound in ("minLength", "minimum", "minItems"):
            if bound in new_v and new_v[bound] > old_v.get(bound, float("-inf")):
                problems.append(f"{path}: {bound} raised to {new_v[bound]}")
