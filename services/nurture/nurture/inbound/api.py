"""Nurture's inbound routes: what a mail provider or sales tool reports back after a send.

A reply stops the sequences that exit on `replied`; a hard bounce or a spam complaint
suppresses the lead's email and stops its sequences on every channel (a soft bounce is only
acknowledged: the next send is the retry). Both
find the lead by the message it answered (X-LeadLoop-Message-Id) or by the email address.
"""

from fastapi import APIRouter, Depends, status

from leadloop.app import unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now
from nurture.inbound import service
from nurture.inbound.schemas import BounceIn, InboundAccepted, ReplyIn

router = APIRouter(prefix="/v1", tags=["inbound"])


@router.post("/replies", response_model=InboundAccepted, status_code=status.HTTP_202_ACCEPTED,
             dependencies=[Depends(require_scope("nurture:inbound"))])
async def post_reply(body: ReplyIn, uow: UnitOfWork = Depends(unit_of_work)) -> InboundAccepted:
    """A lead answered one of our emails: a person is talking to us, so sequences that exit on
    a reply stop, and the reply becomes a lead.activity (email_replied)."""
    async with uow:
        lead_ids = await service.leads_addressed(uow, body.message_id, body.email)
        await service.record_reply(uow, lead_ids, body.received_at or event_time_now(),
                                   body.message_id)
        await uow.commit()
    return InboundAccepted(lead_ids=lead_ids, stopped=bool(lead_ids))


@router.post("/bounces", response_model=InboundAccepted, status_code=status.HTTP_202_ACCEPTED,
             dependencies=[Depends(require_scope("nurture:inbound"))])
async def post_bounce(body: BounceIn, uow: UnitOfWork = Depends(unit_of_work)) -> InboundAccepted:
    """A bounce reported after the SMTP handover (a DSN the provider parsed). Hard: the address
    is suppressed and the lead's sequences stop, on every channel. Complaint (the person
    marked it as spam): treated as an unsubscribe, suppressed and announced as
    lead.unsubscribed. Soft (mailbox full, greylisting): nothing changes; the mail server's
    next refusal or a later hard bounce decides."""
    at = body.bounced_at or event_time_now()
    async with uow:
        lead_ids = await service.leads_addressed(uow, body.message_id, body.email)
        if body.kind == "hard":
            await service.record_bounce(uow, lead_ids, at)
        elif body.kind == "complaint":
            await service.record_complaint(uow, lead_ids, at)
        await uow.commit()
    return InboundAccepted(lead_ids=lead_ids, stopped=body.kind != "soft" and bool(lead_ids))
