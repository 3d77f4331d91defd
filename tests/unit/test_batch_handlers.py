"""The typed handler registry: classes from signatures, unknown types refused, lead order kept."""

import uuid
from typing import Any

import pytest

from leadloop.db import UnitOfWork
from leadloop.events import CloudEvent, EventData, event_type_of
from leadloop.events.models import (
    LeadCreated,
    LeadErased,
    LeadScored,
    LeadUpdated,
    event_time_now,
)
from leadloop.handlers import Batch, Handlers, Item


def _erased(lead: uuid.UUID) -> Item[LeadErased]:
    return _item(LeadErased(lead_id=lead, erased_at=event_time_now()))


def _scored(lead: uuid.UUID, score: int) -> Item[LeadScored]:
    return _item(LeadScored(lead_id=lead, score=score, fit_score=score, engagement_score=0,
                            grade="B", model_version=1, is_mql=False, contributions=[],
                            scored_at=event_time_now()))


def _item(event: Any) -> Item[Any]:
    return Item(event, CloudEvent(type=event_type_of(event), source="test",
                                  subject=str(event.lead_id), data={}))


def test_a_handler_is_registered_for_the_classes_its_batch_annotation_names() -> None:
    handlers = Handlers()

    @handlers.handles
    async def on_scored_or_erased(uow: UnitOfWork, batch: Batch[LeadScored | LeadErased]) -> None:
        return None

    assert handlers.event_types == ["leadloop.lead.erased.v1", "leadloop.lead.scored.v1"]
    assert "leadloop.lead.created.v1" not in handlers


def test_a_handler_without_an_event_class_is_refused_at_registration() -> None:
    handlers = Handlers()

    async def untyped(uow: UnitOfWork, batch: list[Any]) -> None:
        return None

    async def of_base_class(uow: UnitOfWork, batch: Batch[EventData]) -> None:
        return None

    with pytest.raises(TypeError, match="Batch"):
        handlers.handles(untyped)
    with pytest.raises(TypeError, match="not a LeadLoop event"):
        handlers.handles(of_base_class)


def test_two_handlers_for_one_event_type_are_refused() -> None:
    handlers = Handlers()

    @handlers.handles
    async def first(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
        return None

    async def second(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
        return None

    with pytest.raises(TypeError, match="already has a handler"):
        handlers.handles(second)


def test_plan_keeps_each_leads_order_across_handlers_in_few_steps() -> None:
    handlers = Handlers()

    @handlers.handles
    async def scored(uow: UnitOfWork, batch: Batch[LeadScored]) -> None:
        return None

    @handlers.handles
    async def erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
        return None

    a, b, c = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    items: list[Item[Any]] = [_scored(a, 1), _scored(b, 1), _erased(c), _scored(a, 2),
                              _erased(a), _scored(b, 2), _scored(a, 3)]
    steps = handlers.plan(items)

    applied: list[Item[Any]] = [item for step in steps for _handler, batch in step
                                for item in batch]
    assert sorted(map(id, applied)) == sorted(map(id, items))  # each once
    for lead in (a, b, c):
        wanted = [i for i in items if i.event.lead_id == lead]
        assert [i for i in applied if i.event.lead_id == lead] == wanted
    # a: scored, scored | erased | scored: three steps, whatever the number of leads.
    assert len(steps) == 3
    assert [len(batch) for _h, batch in steps[0] if _h is scored] == [4]


def test_plan_gives_a_lead_one_handler_per_step() -> None:
    handlers = Handlers()

    @handlers.handles
    async def scored(uow: UnitOfWork, batch: Batch[LeadScored]) -> None:
        return None

    @handlers.handles
    async def updated_or_erased(uow: UnitOfWork,
                                batch: Batch[LeadUpdated | LeadErased]) -> None:
        return None

    lead = uuid.uuid4()
    steps = handlers.plan([_erased(lead), _scored(lead, 5), _erased(lead)])
    assert [[h.__name__ for h, _b in step] for step in steps] == [
        ["updated_or_erased"], ["scored"], ["updated_or_erased"]]


def test_a_filtered_handler_takes_only_the_events_its_filter_wants() -> None:
    handlers = Handlers()

    @handlers.handles_where(lambda data: data.get("score", 0) >= 50)
    async def on_high_scores(uow: UnitOfWork, batch: Batch[LeadScored]) -> None:
        return None

    @handlers.handles_without_personal_data
    async def on_erased(uow: UnitOfWork, batch: Batch[LeadErased]) -> None:
        return None

    scored, erased = "leadloop.lead.scored.v1", "leadloop.lead.erased.v1"
    assert handlers.event_types == [erased, scored]
    assert handlers.wants(scored, {"score": 70}) and not handlers.wants(scored, {"score": 20})
    assert handlers.wants(erased, {}) and not handlers.wants("leadloop.lead.created.v1", {})
    assert handlers.needs_personal_data(scored) and not handlers.needs_personal_data(erased)


def test_types_of_a_handler_can_be_declared_free_of_personal_data_once_registered() -> None:
    handlers = Handlers()

    @handlers.handles
    async def on_scored_or_erased(uow: UnitOfWork, batch: Batch[LeadScored | LeadErased]) -> None:
        return None

    handlers.reads_no_personal_data(LeadErased)
    assert not handlers.needs_personal_data("leadloop.lead.erased.v1")
    assert handlers.needs_personal_data("leadloop.lead.scored.v1")
    with pytest.raises(TypeError, match="no handler"):
        handlers.reads_no_personal_data(LeadUpdated)


def test_a_type_can_be_declared_to_read_only_some_personal_fields() -> None:
    handlers = Handlers()

    @handlers.handles
    async def on_created_or_updated(uow: UnitOfWork,
                                    batch: Batch[LeadCreated | LeadUpdated]) -> None:
        return None

    handlers.reads_personal_fields(LeadUpdated, "email", "properties")
    assert handlers.personal_fields("leadloop.lead.updated.v1") == {"email", "properties"}
    assert handlers.personal_fields("leadloop.lead.created.v1") is None  # all of them
    # Its key is still needed (an erased lead's events are skipped, as before).
    assert handlers.needs_personal_data("leadloop.lead.updated.v1")
    with pytest.raises(TypeError, match="not personal fields: company"):
        handlers.reads_personal_fields(LeadCreated, "email", "company")
    with pytest.raises(TypeError, match="no handler"):
        handlers.reads_personal_fields(LeadScored, "email")


def test_handlers_run_with_the_settings_their_app_binds() -> None:
    from leadloop.settings import MailingServiceSettings, ServiceSettings

    handlers = Handlers()
    bound = ServiceSettings(service_name="scoring", port=9123)
    handlers.bind(bound)
    assert handlers.settings(ServiceSettings) is bound
    with pytest.raises(TypeError, match="not MailingServiceSettings"):
        handlers.settings(MailingServiceSettings)
