"""Published event contracts: the code's schemas may only change compatibly within a version."""

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from leadloop.events.contracts import (
    all_event_schemas,
    asyncapi_document,
    breaking_changes,
)
from leadloop.events.models import EVENT_TYPES
from leadloop.events.topology import CONSUMES, PUBLISHES, SERVICES
from leadloop.events.write_contracts import handled_event_types

PUBLISHED = Path(__file__).resolve().parents[2] / "contracts" / "events"


def _published() -> dict[str, dict[str, Any]]:
    return {p.stem: json.loads(p.read_text()) for p in sorted(PUBLISHED.glob("*.json"))}


@pytest.mark.parametrize("event_type", sorted(_published()))
def test_published_event_schema_is_still_honoured(event_type: str) -> None:
    current = all_event_schemas()
    assert event_type in current, f"{event_type} was published and must stay (add a new version)"
    problems = breaking_changes(_published()[event_type], current[event_type])
    assert problems == [], f"{event_type} changed incompatibly; publish a new version: {problems}"


def test_every_event_in_the_code_is_published() -> None:
    unpublished = set(EVENT_TYPES) - set(_published())
    assert not unpublished, f"run `make contracts` to publish {sorted(unpublished)}"


def test_every_published_type_is_in_the_discriminated_union() -> None:
    assert {t for types in PUBLISHES.values() for t in types} <= set(EVENT_TYPES)


def _lead_created() -> dict[str, Any]:
    return all_event_schemas()["leadloop.lead.created.v1"]


def test_adding_an_optional_property_is_compatible() -> None:
    new = copy.deepcopy(_lead_created())
    new["properties"]["note"] = {"type": "string"}
    assert breaking_changes(_lead_created(), new) == []


def test_removing_a_property_is_breaking() -> None:
    new = copy.deepcopy(_lead_created())
    del new["properties"]["form_id"]
    assert breaking_changes(_lead_created(), new) == ["$.form_id: removed"]


def test_making_a_required_property_optional_is_breaking() -> None:
    new = copy.deepcopy(_lead_created())
    new["required"].remove("created_at")
    assert breaking_changes(_lead_created(), new) == ["$.created_at: no longer required"]


def test_changing_a_nested_type_is_breaking() -> None:
    new = copy.deepcopy(_lead_created())
    new["$defs"]["LeadProfile"]["properties"]["company_size"] = {"type": "string"}
    problems = breaking_changes(_lead_created(), new)
    assert "$.profile.company_size: now also accepts string" in problems


def test_adding_an_enum_value_is_breaking() -> None:
    old = all_event_schemas()["leadloop.lead.rejected.v1"]
    new = copy.deepcopy(old)
    new["$defs"]["RejectionReason"]["enum"].append("too_far")
    assert breaking_changes(old, new) == ["$.reason_code: new enum values ['too_far']"]


@pytest.mark.parametrize("service", SERVICES)
def test_asyncapi_document_lists_what_the_service_publishes(service: str) -> None:
    document = asyncapi_document(service)
    assert document["asyncapi"].startswith("3.")
    names = {m["name"] for m in document["components"]["messages"].values()}
    assert set(PUBLISHES[service]) <= names
    assert document["operations"][f"{service}_publishes"]["action"] == "send"


@pytest.mark.parametrize("service", [s for s in SERVICES if CONSUMES[s]])
def test_asyncapi_receive_operations_list_exactly_the_types_the_handlers_take(
        service: str) -> None:
    handled = handled_event_types()[service]
    document = asyncapi_document(service, handled)
    received = {ref["$ref"].rsplit("/", 1)[1]
                for name, operation in document["operations"].items()
                if operation["action"] == "receive" for ref in operation["messages"]}
    assert received == {t.removeprefix("leadloop.").replace(".", "_") for t in handled}
    assert len(handled) == len(received)
