"""Nurture's HTTP response models."""

from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from nurture.domain import (
    Enrollment,
    EnrollmentStatus,
    EntryRule,
    ExitReason,
    SequenceStep,
)


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
        return cls(enrollment_id=enrollment.id,
                   **enrollment.model_dump(exclude={"id", "lead_id"}))


class LeadEnrollments(BaseModel):
    """Every enrollment of one lead, oldest first."""

    lead_id: UUID
    enrollments: list[EnrollmentOut]


class SequenceOut(BaseModel):
    """One version of a sequence."""

    key: str
    version: int
    entry_rule: EntryRule
    active: bool
    steps: list[SequenceStep]
    created_at: datetime

    @classmethod
    def of(cls, row: Any) -> "SequenceOut":
        """The API view of a stored sequence version."""
        return cls.model_validate(row._asdict())


class SequenceList(BaseModel):
    """Every version of every sequence."""

    sequences: list[SequenceOut]
