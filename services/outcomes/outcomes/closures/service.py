"""Leads closed as not converted: sales or an integration says a lead is done without a deal
(no response, chose a competitor, ...). Each closure is announced as lead.closed: the funnel
counts it as a side exit, scoring learns from it as a negative outcome beside lost deals.

A lead is closed once: the same report again is answered with the stored closure; a different
one, a lead that was won, or an erased lead is refused (409).
"""

import uuid

from leadloop.db import UnitOfWork
from leadloop.events.models import LeadClosed, event_time_now
from outcomes.closures import repository
from outcomes.closures.domain import Closure, ClosureReport
from outcomes.exceptions import ClosureRefused
from outcomes.funnel.repository import lead_is_erased


async def close_lead(uow: UnitOfWork, report: ClosureReport) -> tuple[Closure, bool]:
    """Store a lead's closure and announce it once; (the closure, whether it is new)."""
    conn = uow.connection
    if await lead_is_erased(conn, report.lead_id):
        raise ClosureRefused("this lead was erased; nothing more is recorded about it")
    if await repository.has_won_deal(conn, report.lead_id):
        raise ClosureRefused("this lead has a won deal: it converted")
    closure = Closure(closure_id=uuid.uuid4(), lead_id=report.lead_id, reason=report.reason,
                      note=report.note, closed_at=report.closed_at or event_time_now())
    if await repository.insert_closure_if_new(conn, closure):
        uow.publish(LeadClosed(closure_id=closure.closure_id, lead_id=closure.lead_id,
                               reason=closure.reason, note=closure.note,
                               closed_at=closure.closed_at))
        return closure, True
    stored = await repository.lock_closure(conn, report.lead_id)
    assert stored is not None  # the conflict was on this lead's row
    if not stored.answers(report):
        raise ClosureRefused(f"this lead was closed already on {stored.closed_at.isoformat()} "
                             f"as '{stored.reason}'")
    return stored, False
