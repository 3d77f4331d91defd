"""The step scheduler: durable timers as enrollment rows, claimed with SKIP LOCKED.

One transaction per batch: claim due enrollments and lock their leads, decide each one's next
step (guards, waits, branches), deliver the sends, then store positions, messages and
nurture.message_sent events together. A crash before commit leaves the rows due as they were,
so a restart neither skips a step nor (short of a crash between the SMTP server's 250 and the
commit) repeats one; each message keeps a stable Message-ID for that last case
(message_id_for: derived from the enrollment and step, the same on every attempt).
"""

import asyncio
import logging
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx

from leadloop.app import Runtime, settings_of
from leadloop.events.models import NurtureMessageSent, event_time_now
from leadloop.worker import run_worker
from nurture.config import NurtureSettings
from nurture.content import catalog as content_catalog
from nurture.content.catalog import TemplateCatalog
from nurture.content.sms import sms_length
from nurture.content.templates import render
from nurture.leads import domain
from nurture.leads.domain import EnrollmentStatus
from nurture.sending import engine, guards, repository
from nurture.sending.channels import Outcome, SmtpPool, send_webhook
from nurture.sending.mail import MailContext, personalize, render_email
from nurture.sending.repository import DueEnrollment
from nurture.sequences.domain import ExitReason, Sequence
from nurture.sequences.steps import Channel, SendEmailStep, SendStep

log = logging.getLogger(__name__)
# Names message ids: uuid5(namespace, "<enrollment id>/<step>").
MESSAGE_NAMESPACE = uuid.UUID("6f0c1d2e-8a43-5b7e-9c1f-3d2a4b5c6e7f")
RETRY_AFTER = timedelta(seconds=60)
# An erased lead's enrollments are deleted by the erasure handler; one seen here is being
# erased right now, and "unsubscribed" is the stored reason closest to "forget me".
_STOP_EXIT = {guards.StopReason.unsubscribed: ExitReason.unsubscribed,
              guards.StopReason.bounced: ExitReason.bounced,
              guards.StopReason.erased: ExitReason.unsubscribed}


@dataclass
class Planned:
    """What one claimed enrollment does in this round."""

    due: DueEnrollment
    sequence: Sequence
    position: engine.Position
    send: SendEmailStep | SendStep | None = None
    message_id: uuid.UUID | None = None
    # The targets of the message's tracked links, stored with it: a click redirects only there.
    links: tuple[str, ...] = ()


def message_id_for(enrollment_id: uuid.UUID, step: int) -> uuid.UUID:
    """The one id of an enrollment step's message, the same on every attempt: it is the
    Message-ID a mail server sees and the Idempotency-Key a channel adapter sees, so a retry
    after a transient failure (or a crash after the server accepted) can be dropped as a
    duplicate by the receiver."""
    return uuid.uuid5(MESSAGE_NAMESPACE, f"{enrollment_id}/{step}")


def _move(item: DueEnrollment, position: engine.Position, *, due: datetime | None,
          status: EnrollmentStatus = EnrollmentStatus.active, exit_reason: str | None = None,
          now: datetime | None = None) -> dict[str, Any]:
    return {"b_id": item.id, "b_status": status.value, "b_step": position.step,
            "b_started": position.step_started_at, "b_last_sent": position.last_sent_at,
            "b_due": due, "b_exit": exit_reason,
            "b_exited": now if status == EnrollmentStatus.exited else None,
            "b_completed": now if status == EnrollmentStatus.completed else None}


def _message_row(item: DueEnrollment, step: int, send: SendEmailStep | SendStep, status: str,
                 error: str | None, now: datetime,
                 links: tuple[str, ...] = ()) -> dict[str, Any]:
    """A messages row: sent, failed (refused for good) or skipped (a guard's reason in
    `error`, so GET /v1/leads/{id}/messages says why a step sent nothing)."""
    return {"id": message_id_for(item.id, step), "enrollment_id": item.id,
            "lead_id": item.lead_id, "sequence_key": item.sequence_key,
            "sequence_version": item.sequence_version, "step": step,
            "channel": send.channel.value, "template": send.template, "status": status,
            "error": error, "sent_at": now, "links": list(links)}


class Scheduler:
    """Runs due steps until the service stops."""

    def __init__(self, runtime: Runtime, settings: NurtureSettings) -> None:
        self.runtime = runtime
        self.settings = settings
        self.smtp = SmtpPool(settings)
        self.http = httpx.AsyncClient(timeout=10)
        self.mail = MailContext(settings.base_url, settings.link_secret, settings.mail_from,
                                settings.sales_phone)

    async def run(self) -> None:
        """Run due steps until the service stops, in the shared worker loop."""
        try:
            await run_worker(self.runtime, "scheduler", self.round, backoff_max_s=10.0,
                             interval_s=self.settings.scheduler_poll_interval_s)
        finally:
            await self.smtp.close()
            await self.http.aclose()

    async def round(self, _runtime: Runtime) -> bool:
        """One batch; True when it was full (more are due: go again at once), False when a
        partial or empty one waits the poll interval."""
        return await self.tick() >= self.settings.scheduler_batch_size

    async def tick(self) -> int:
        """One batch, in one transaction; returns how many enrollments it claimed."""
        async with self.runtime.unit_of_work() as uow:
            conn = uow.connection
            now = event_time_now()
            claimed = await repository.claim_due(conn, now, self.settings.scheduler_batch_size)
            if not claimed:
                return 0
            lead_ids = list({c.lead_id for c in claimed})
            seqs = await repository.sequence_versions(
                conn, [(c.sequence_key, c.sequence_version) for c in claimed])
            sent = await repository.recent_sends(conn, lead_ids,
                                                   repository.cap_window_start(now))
            blocked = await repository.suppressed(conn, [c.lead.email for c in claimed])
            done = await repository.engagements_since(conn, _watched_since(claimed, seqs, now))
            moves: list[dict[str, Any]] = []
            skipped: list[dict[str, Any]] = []
            plans: list[Planned] = []
            for item in claimed:
                seq = seqs[(item.sequence_key, item.sequence_version)]
                facts = engine.LeadFacts(engagements=done.get(item.lead_id, []),
                                         score=item.lead.score)
                plan = self._plan(item, seq, facts, sent.setdefault(item.lead_id, []), now,
                                  moves, skipped, blocked.get(item.lead.email or ""))
                if plan is not None:
                    plans.append(plan)
            templates = await content_catalog.current(conn)
            outcomes = await asyncio.gather(*(self._deliver(p, now, templates)
                                              for p in plans))
            message_rows, bounced = self._apply(uow, plans, outcomes, done, now, moves)
            await repository.insert_messages(conn, message_rows + skipped)
            await repository.save_positions(conn, moves)
            await repository.mark_bounced(conn, bounced, now)
            refused = set(bounced)
            await repository.suppress(conn, [c.lead.email for c in claimed
                                               if c.lead_id in refused], "bounced")
            await uow.commit()
            return len(claimed)

    def _plan(self, item: DueEnrollment, seq: Sequence, facts: engine.LeadFacts,
              sent_at: list[datetime], now: datetime, moves: list[dict[str, Any]],
              skipped: list[dict[str, Any]], suppressed: str | None = None) -> Planned | None:
        """Decide without I/O; a send is returned for delivery, everything else is a move."""
        position = engine.Position(item.current_step, item.step_started_at, item.last_sent_at)
        reason = domain.exit_due(item.lead, seq, item.enrolled_at)
        if reason is not None:
            moves.append(_move(item, position, due=None, status=EnrollmentStatus.exited,
                               exit_reason=reason.value, now=now))
            return None
        local_zone = item.lead.local_zone
        zone = guards.zone_of(local_zone, self.settings.default_time_zone)
        for _ in range(len(seq.steps) + 1):  # skips move on; each step is visited once
            action = engine.next_action(seq.steps, position, facts, now, zone)
            if isinstance(action, engine.Sleep):
                moves.append(_move(item, action.position, due=action.due))
                return None
            if isinstance(action, engine.Complete):
                moves.append(_move(item, action.position, due=None,
                                   status=EnrollmentStatus.completed, now=now))
                return None
            # `suppressed`: the address is on the list, maybe through another lead record.
            recipient = guards.Recipient(
                email=item.lead.email, email_consent=item.lead.email_consent,
                time_zone=local_zone,
                unsubscribed=item.lead.unsubscribed_at is not None
                or suppressed == "unsubscribed",
                bounced=item.lead.bounced_at is not None or suppressed == "bounced",
                erased=item.lead.is_erased,
                phone=item.lead.phone, postal_address=item.lead.postal_address)
            decision = guards.decide(recipient, action.step.channel, seq.guards, now, sent_at,
                                     self.settings.default_time_zone)
            match decision:
                case guards.Send():
                    sent_at.append(now)  # later enrollments of this lead see it in the caps
                    return Planned(item, seq, action.position, action.step,
                                   message_id_for(item.id, action.position.step))
                case guards.Skip(reason=why):
                    skipped.append(_message_row(item, action.position.step, action.step,
                                                "skipped", why.value, now))
                    position = engine.after_skip(action.position, now)
                case guards.Defer(until=until):
                    moves.append(_move(item, action.position, due=until))
                    return None
                case guards.Stop(reason=stop):
                    moves.append(_move(item, action.position, due=None,
                                       status=EnrollmentStatus.exited,
                                       exit_reason=_STOP_EXIT[stop].value, now=now))
                    return None
        raise AssertionError("a sequence has finitely many steps")  # pragma: no cover

    async def _deliver(self, plan: Planned, now: datetime, templates: TemplateCatalog
                       ) -> Outcome:
        assert plan.send is not None and plan.message_id is not None
        lead, send = plan.due.lead, plan.send
        template = templates.get(send.template, send.template_version)
        if template is None:  # a sequence stored before templates were data, naming none
            return Outcome(ok=False, skipped=f"no_template: '{send.template}' does not exist")
        values, links = personalize(self.mail, plan.message_id, lead.template_lead(),
                                    lead.score, lead.rep)
        try:
            content = render(template, values)
        except Exception as exc:  # checked when saved; a lead's odd property must not stall
            log.exception("rendering %s v%s failed", template.key, template.version)
            return Outcome(ok=False, error=f"template: {type(exc).__name__}: {exc}"[:300])
        plan.links = tuple(links)
        if send.channel == Channel.email:
            assert lead.email is not None
            return await self.smtp.send(render_email(
                self.mail, content, plan.message_id, lead.email,
                [("X-LeadLoop-Sequence", f"{plan.sequence.key}/{plan.position.step}")], now,
                links))
        payload: dict[str, Any] = {
            "message_id": str(plan.message_id), "lead_id": str(lead.lead_id),
            "channel": send.channel.value, "template": template.key,
            "template_version": template.version, "sequence": plan.sequence.key,
            "step": plan.position.step,
            "content": {"subject": content.subject, "text": content.text},
            "to": {"phone": lead.phone, "email": lead.email, "first_name": lead.first_name,
                   "last_name": lead.last_name, "company": lead.company}}
        if send.channel in (Channel.fax, Channel.direct_mail):
            payload["content"]["html"] = content.html  # the letter or page, as written
        if send.channel == Channel.direct_mail:
            payload["to"]["postal_address"] = lead.postal_address
        if send.channel == Channel.sms:
            length = sms_length(content.text)
            if length.segments > self.settings.sms_max_segments:
                return Outcome(ok=False, skipped=(
                    f"sms_too_long: {length.segments} segments ({length.encoding}, "
                    f"{length.units} units) over the limit of "
                    f"{self.settings.sms_max_segments}"))
            payload["content"]["sms"] = {"encoding": length.encoding,
                                         "segments": length.segments}
        webhook = plan.sequence.webhooks[send.channel]
        return await send_webhook(self.http, webhook.url,
                                  webhook.secret or self.settings.webhook_secret, payload,
                                  self.settings.webhook_networks)

    def _apply(self, uow: Any, plans: list[Planned], outcomes: list[Outcome],
               done: dict[uuid.UUID, list[engine.Engagement]], now: datetime,
               moves: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[uuid.UUID]]:
        """Positions, message rows and events from the delivery outcomes."""
        rows: list[dict[str, Any]] = []
        bounced: list[uuid.UUID] = []
        for plan, outcome in zip(plans, outcomes, strict=True):
            assert plan.send is not None and plan.message_id is not None
            item = plan.due
            if not outcome.ok and not outcome.permanent:
                log.warning("send failed, retrying later: %s", outcome.error)
                moves.append(_move(item, plan.position, due=now + RETRY_AFTER))
                continue
            if outcome.skipped is not None:  # e.g. an SMS too long: the sequence goes on
                rows.append(_message_row(item, plan.position.step, plan.send, "skipped",
                                         outcome.skipped[:500], now))
                self._next(item, plan, engine.after_skip(plan.position, now), done, now, moves)
                continue
            rows.append(_message_row(item, plan.position.step, plan.send,
                                     "sent" if outcome.ok else "failed", outcome.error, now,
                                     plan.links))
            if not outcome.ok:
                if plan.send.channel == Channel.email:
                    bounced.append(item.lead_id)
                moves.append(_move(item, plan.position, due=None,
                                   status=EnrollmentStatus.exited,
                                   exit_reason=ExitReason.bounced.value, now=now))
                continue
            uow.publish(NurtureMessageSent(
                lead_id=item.lead_id, message_id=plan.message_id,
                sequence_id=f"{item.sequence_key}:v{item.sequence_version}",
                step=plan.position.step, channel=plan.send.channel.value,
                template=plan.send.template, sent_at=now))
            self._next(item, plan, engine.after_send(plan.position, now), done, now, moves)
        return rows, bounced

    def _next(self, item: DueEnrollment, plan: Planned, position: engine.Position,
              done: dict[uuid.UUID, list[engine.Engagement]], now: datetime,
              moves: list[dict[str, Any]]) -> None:
        """Move past a send step that was sent or skipped: to sleep, the next send, or done."""
        facts = engine.LeadFacts(engagements=done.get(item.lead_id, []),
                                 score=item.lead.score)
        zone = guards.zone_of(item.lead.local_zone, self.settings.default_time_zone)
        action = engine.next_action(plan.sequence.steps, position, facts, now, zone)
        if isinstance(action, engine.Complete):
            moves.append(_move(item, action.position, due=None,
                               status=EnrollmentStatus.completed, now=now))
        else:
            due = action.due if isinstance(action, engine.Sleep) else now
            moves.append(_move(item, action.position, due=due))


def _watched_since(claimed: list[DueEnrollment], seqs: dict[tuple[str, int], Sequence],
                   now: datetime) -> dict[uuid.UUID, datetime]:
    """Per lead, the earliest time a branch ahead of one of its claimed enrollments may look
    back to (its last send, or when it entered its step); leads with no branch ahead are left
    out: nothing they did can change where their enrollments go."""
    since: dict[uuid.UUID, datetime] = {}
    for item in claimed:
        if engine.branches_ahead(seqs[(item.sequence_key, item.sequence_version)].steps,
                                 item.current_step):
            at = min(item.last_sent_at or item.step_started_at, now)
            since[item.lead_id] = min(at, since.get(item.lead_id, at))
    return since


async def run_scheduler(runtime: Runtime) -> None:
    """The background worker create_service_app starts."""
    await Scheduler(runtime, settings_of(runtime, NurtureSettings)).run()
