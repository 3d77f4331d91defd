"""Events of leads created in bulk are sealed with the key just issued, exactly as the unit of
work would seal them, so that sealing at commit has nothing left to do."""

import uuid
from typing import Any

from capture.leads.keys import publish_sealed
from leadloop.events.models import LeadCreated, LeadProfile, event_time_now
from leadloop.pii import has_personal_data, new_data_key, reveal


class RecordingUnitOfWork:
    def __init__(self) -> None:
        self.validated: list[tuple[str, str, dict[str, Any]]] = []
        self.published: list[Any] = []

    def publish_validated(self, event_type: str, subject: str, data: dict[str, Any]) -> None:
        self.validated.append((event_type, subject, data))

    def publish(self, event: Any) -> None:
        self.published.append(event)


def test_a_new_leads_event_is_sealed_with_its_fresh_key_and_opens_to_the_same_data() -> None:
    lead_id, key = uuid.uuid4(), new_data_key()
    event = LeadCreated(lead_id=lead_id, profile=LeadProfile(
        email="ann@example.com", first_name="Ann", phone="+4930123456",
        properties={"budget": "10k"}), created_at=event_time_now())
    uow = RecordingUnitOfWork()
    publish_sealed(uow, event, key)  # type: ignore[arg-type]
    [(event_type, subject, data)] = uow.validated
    assert (event_type, subject) == ("leadloop.lead.created.v1", str(lead_id))
    assert not has_personal_data(data), "nothing left for the commit to seal"
    assert data["profile"]["email"] != "ann@example.com"
    assert reveal(data, subject, key) == event.model_dump(mode="json")


def test_without_a_fresh_key_the_event_goes_the_usual_way() -> None:
    event = LeadCreated(lead_id=uuid.uuid4(), profile=LeadProfile(email="bo@example.com"),
                        created_at=event_time_now())
    uow = RecordingUnitOfWork()
    publish_sealed(uow, event, None)  # type: ignore[arg-type]
    assert uow.published == [event] and not uow.validated
