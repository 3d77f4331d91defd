"""Leads closed as not converted: the closure a report asks for and the one outcomes keeps."""

from dataclasses import dataclass
from datetime import datetime
from uuid import UUID


@dataclass(frozen=True, slots=True)
class ClosureReport:
    """A lead closed as not converted, as sales or an integration reports it."""

    lead_id: UUID
    reason: str
    note: str | None = None
    closed_at: datetime | None = None  # None: now


@dataclass(frozen=True, slots=True)
class Closure:
    """A lead's closure as outcomes stores it (and announces it: lead.closed)."""

    closure_id: UUID
    lead_id: UUID
    reason: str
    note: str | None
    closed_at: datetime

    def answers(self, report: ClosureReport) -> bool:
        """Whether `report` is this closure again (a repeat is answered, not refused)."""
        return (self.reason, self.note) == (report.reason, report.note) and (
            report.closed_at is None or report.closed_at == self.closed_at)
