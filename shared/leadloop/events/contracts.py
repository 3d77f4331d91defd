"""JSON Schemas and AsyncAPI 3 documents generated from the event models, and the check that a
published schema only changes compatibly within a version.

Compatible means: a consumer written against the old schema still reads every new payload.
So within one version a property may be added, but none removed, none made optional, no type or
format changed, and no enum value added.
"""

from collections.abc import Mapping, Sequence
from typing import Any

from leadloop.events.models import EVENT_TYPES
from leadloop.events.topology import CONSUMES, PUBLISHES, SERVICES, topic_of

Schema = dict[str, Any]


def event_schema(event_type: str) -> Schema:
    """The JSON Schema of one event's data, as it appears on the wire."""
    return EVENT_TYPES[event_type].model_json_schema(mode="serialization")


def all_event_schemas() -> dict[str, Schema]:
    """Every event type's JSON Schema, keyed by type."""
    return {event_type: event_schema(event_type) for event_type in sorted(EVENT_TYPES)}


def _message_name(event_type: str) -> str:
    return event_type.removeprefix("leadloop.").replace(".", "_")


def asyncapi_document(service: str, handled: Sequence[str] | None = None) -> Schema:
    """The AsyncAPI 3 document of what `service` sends and receives; with `handled` (the event
    types its handlers take), each receive operation lists exactly those messages."""
    channels: Schema = {}
    operations: Schema = {}
    components: Schema = {"messages": {}, "schemas": {}}

    def add_channel(producer: str) -> None:
        messages = {}
        for event_type in PUBLISHES[producer]:
            name = _message_name(event_type)
            messages[name] = {"$ref": f"#/components/messages/{name}"}
            components["schemas"][name] = event_schema(event_type)
            components["messages"][name] = {
                "name": event_type,
                "title": EVENT_TYPES[event_type].__name__,
                "summary": (EVENT_TYPES[event_type].__doc__ or "").strip(),
                "contentType": "application/json",
                "headers": _cloudevents_headers(event_type),
                "payload": {"$ref": f"#/components/schemas/{name}"},
            }
        channels[producer] = {
            "address": topic_of(producer),
            "description": f"Events published by {producer}, keyed by lead id.",
            "messages": messages,
        }

    add_channel(service)
    operations[f"{service}_publishes"] = {
        "action": "send",
        "channel": {"$ref": f"#/channels/{service}"},
    }
    for producer in CONSUMES[service]:
        if producer != service:
            add_channel(producer)
        operation: Schema = {"action": "receive", "channel": {"$ref": f"#/channels/{producer}"}}
        if handled is not None:
            operation["messages"] = [
                {"$ref": f"#/channels/{producer}/messages/{_message_name(event_type)}"}
                for event_type in PUBLISHES[producer] if event_type in handled]
        operations[f"{service}_consumes_{producer}"] = operation
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": f"LeadLoop {service}",
            "version": "1.0.0",
            "description": "CloudEvents 1.0 over Kafka, binary content mode: attributes in "
            "ce_* headers, data as JSON in the record value, key = lead id.",
        },
        "defaultContentType": "application/json",
        "channels": channels,
        "operations": operations,
        "components": components,
    }


def _cloudevents_headers(event_type: str) -> Schema:
    constant = {"type": "string"}
    return {
        "type": "object",
        "required": ["ce_specversion", "ce_id", "ce_source", "ce_type", "ce_subject"],
        "properties": {
            "ce_specversion": {"const": "1.0"},
            "ce_id": {"type": "string", "format": "uuid"},
            "ce_source": constant,
            "ce_type": {"const": event_type},
            "ce_subject": {"type": "string", "description": "lead id"},
            "ce_time": {"type": "string", "format": "date-time"},
            "ce_traceparent": {"type": "string", "description": "W3C trace context"},
        },
    }


def all_asyncapi_documents(handled: Mapping[str, Sequence[str]] | None = None
                           ) -> dict[str, Schema]:
    """One AsyncAPI document per service (`handled`: each consuming service's handled types)."""
    return {service: asyncapi_document(service, (handled or {}).get(service))
            for service in SERVICES}


# --- compatibility -------------------------------------------------------------------------


def breaking_changes(old: Schema, new: Schema) -> list[str]:
    """Every change from `old` to `new` that a consumer of `old` would trip over."""
    problems: list[str] = []
    _compare(old, new, old.get("$defs", {}), new.get("$defs", {}), "$", problems)
    return problems


def compare_schemas(old: Schema, new: Schema, old_defs: Schema, new_defs: Schema, path: str,
                    problems: list[str]) -> None:
    """Append to `problems` what a reader of `old` would trip over in `new` (definitions
    referenced by `$ref` are looked up by name in `old_defs` / `new_defs`)."""
    _compare(old, new, old_defs, new_defs, path, problems)


def _resolve(node: Schema, defs: Schema) -> Schema:
    while "$ref" in node:
        node = defs[node["$ref"].rsplit("/", 1)[-1]]
    return node


def _variants(node: Schema, defs: Schema) -> list[Schema]:
    node = _resolve(node, defs)
    if "anyOf" in node:
        return [v for option in node["anyOf"] for v in _variants(option, defs)]
    return [node]


def _kind(node: Schema) -> str:
    if "enum" in node or "const" in node:
        return "enum"
    return str(node.get("type", "any"))


def _compare(old: Schema, new: Schema, old_defs: Schema, new_defs: Schema, path: str,
             problems: list[str]) -> None:
    old_variants = {_kind(v): v for v in _variants(old, old_defs)}
    new_variants = {_kind(v): v for v in _variants(new, new_defs)}
    for kind in new_variants.keys() - old_variants.keys():
        problems.append(f"{path}: now also accepts {kind}")
    for kind, old_v in old_variants.items():
        new_v = new_variants.get(kind)
        if new_v is None:
            continue  # narrowing what is sent cannot surprise a consumer
        if old_v.get("format") != new_v.get("format"):
            problems.append(f"{path}: format {old_v.get('format')} -> {new_v.get('format')}")
        if kind == "enum":
            old_values = set(map(str, old_v.get("enum", [old_v.get("const")])))
            added = set(map(str, new_v.get("enum", [new_v.get("const")]))) - old_values
            if added:
                problems.append(f"{path}: new enum values {sorted(added)}")
        elif kind == "object":
            _compare_objects(old_v, new_v, old_defs, new_defs, path, problems)
        elif kind == "array" and "items" in old_v:
            _compare(old_v["items"], new_v.get("items", {}), old_defs, new_defs, f"{path}[]",
                     problems)


def _compare_objects(old: Schema, new: Schema, old_defs: Schema, new_defs: Schema, path: str,
                     problems: list[str]) -> None:
    old_props, new_props = old.get("properties", {}), new.get("properties", {})
    for name in old_props.keys() - new_props.keys():
        problems.append(f"{path}.{name}: removed")
    for name in set(old.get("required", [])) - set(new.get("required", [])):
        if name in new_props:
            problems.append(f"{path}.{name}: no longer required")
    for name in old_props.keys() & new_props.keys():
        _compare(old_props[name], new_props[name], old_defs, new_defs, f"{path}.{name}", problems)
