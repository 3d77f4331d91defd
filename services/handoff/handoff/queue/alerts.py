"""Nothing waits unseen: a lead in the fallback queue alerts its team's managers, and again while
it stays there.

A lead handed to nobody gets a durable `queue_alert` timer due at once, written with its
assignment (in the batch's one timer statement). The SLA timer worker fires it: it publishes
lead.queue_alert (Kafka and webhook subscribers), schedules the email to the managers as its own
`queue_alert_mail` timer, and re-arms itself LEADLOOP_HANDOFF_QUEUE_REALERT_S later. The email
is a timer of its own so that a mail server that is down delays the email (retried like any
failed timer) but never the webhook. Once the lead leaves the queue, both timers are moot.

A team's managers: the reps its reps report to, and reps of the team others report to.
"""

from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import make_msgid, parseaddr
from typing import Any

import aiosmtplib

from handoff.assignments import repository
from handoff.config import HandoffSettings
from handoff.routing.reference import Rep, RoutingTables, routing_tables
from handoff.sla import repository as sla_repository
from handoff.sla.domain import TimerKind
from handoff.webhooks import outbound
from leadloop.db import UnitOfWork
from leadloop.events.models import LeadQueueAlert, RepRef

REARMED = "alerted"


def managers_of(tables: RoutingTables, team: str) -> list[Rep]:
    """Who is alerted about the team's fallback queue, in rotation order."""
    members = tables.team(team)
    ids = {rep.profile.manager_id for rep in members if rep.profile.manager_id is not None}
    ids |= {rep.id for rep in members
            if any(r.profile.manager_id == rep.id for r in tables.reps)}
    return [rep for rep in tables.reps if rep.id in ids]


async def alert(uow: UnitOfWork, timer: Any, now: datetime, settings: HandoffSettings) -> str:
    """Publish the alert for a queued assignment (the claimed timer row), schedule its email
    and re-arm the timer."""
    conn = uow.connection
    managers = managers_of(await routing_tables(conn), timer.team)
    waited = max((now - timer.handed_off_at).total_seconds(), 0.0)
    await outbound.publish(uow, LeadQueueAlert(
        lead_id=timer.lead_id, assignment_id=timer.id, team=timer.team,
        reason=timer.routing_reason, queued_at=timer.handed_off_at, alert=timer.rounds + 1,
        waited_s=waited, alerted_at=now,
        managers=[RepRef(id=m.id, name=m.name, email=m.email, team=m.team) for m in managers]))
    if managers:
        await sla_repository.schedule(conn, timer.id, TimerKind.queue_alert_mail.value, now)
    await sla_repository.rearm(conn, timer.timer_id,
                               now + timedelta(seconds=settings.queue_realert_s))
    return REARMED


async def mail(uow: UnitOfWork, timer: Any, now: datetime, settings: HandoffSettings) -> str:
    """Email the team's managers about the queued lead; raises when the mail server does not
    take it (the timer worker retries)."""
    conn = uow.connection
    managers = managers_of(await routing_tables(conn), timer.team)
    lead = await repository.get_lead(conn, timer.lead_id)
    if not managers or lead is None:
        return "moot"
    message = alert_email(lead, timer, managers, now, settings)
    await aiosmtplib.send(message, hostname=settings.smtp_host, port=settings.smtp_port,
                          username=settings.smtp_username, password=settings.smtp_password,
                          start_tls=settings.smtp_starttls, timeout=settings.smtp_timeout_s)
    return "mailed"


def alert_email(lead: Any, timer: Any, managers: list[Rep], now: datetime,
                settings: HandoffSettings) -> EmailMessage:
    """The email telling managers a lead waits in their team's fallback queue (pure)."""
    name = " ".join(p for p in (lead.first_name, lead.last_name) if p) or lead.email
    waited_min = max(int((now - timer.handed_off_at).total_seconds() // 60), 0)
    message = EmailMessage()
    message["From"] = settings.mail_from
    message["To"] = ", ".join(m.email for m in managers)
    message["Subject"] = (f"Lead waiting in the fallback queue of {timer.team}: {name}"
                          f"{' (' + lead.company + ')' if lead.company else ''}")
    message["Message-ID"] = make_msgid(domain=parseaddr(settings.mail_from)[1].split("@")[-1]
                                       or "leadloop.example")
    link = f"{settings.base_url}/sales/leads/{timer.lead_id}"
    message.set_content(
        f"{name} <{lead.email}>{', ' + lead.company if lead.company else ''}, score "
        f"{lead.score} ({lead.grade}), has waited {waited_min} min in the fallback queue of "
        f"team {timer.team}: no rep could take it.\n\nWhy: {timer.routing_reason}\n\n"
        f"Assign it to a rep: {link}\n")
    return message
