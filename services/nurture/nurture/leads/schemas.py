"""HTTP models of what nurture did with a lead: its enrollments and the messages it was sent."""

from datetime import datetime
from uuid import UUID

from pydantic import BaseModel

from leadloop.pagination import Page
from nurture.leads.domain import Enrollment, EnrollmentStatus, Message
from nurture.sequences.domain import ExitReason


class EnrollmentOut(BaseModel):
    """One enrollment of a lead in a sequence version."""

    enrollment_id: UUID
    sequence_key: str
    sequence_version: int
    status: EnrollmentStatus
    current_step: int
    exit_reason: ExitReason | None
    enrolled_at: datetime
    next_step_due_at: datetime | None
    exited_at: datetime | None
    completed_at: datetime | None

    @classmethod
    def of(cls, enrollment: Enrollment) -> "EnrollmentOut":
        """The API view of an enrollment."""
        return cls(enrollment_id=enrollment.id, **enrollment.model_dump(
            exclude={"id", "lead_id", "step_started_at", "last_sent_at"}))


class LeadEnrollments(Page[EnrollmentOut]):
    """A page of one lead's enrollments, oldest first."""

    lead_id: UUID


class MessageOut(Message):
    """One message sent (or refused) to a lead."""


class LeadMessages(Page[MessageOut]):
    """A page of the messages a lead was sent, oldest first."""

    lead_id: UUID
