"""The digest scheduler: a durable timer per period, claimed when due, composed once, mailed once.

Every replica runs this loop. Each round it makes sure the current and the previous period have
their row (the period is the primary key: inserting it twice is a no-op), then claims due rows
with FOR UPDATE SKIP LOCKED, one per transaction, so a row is worked on by one replica at a time
and the others skip it. In that transaction the digest is composed (the first time; its figures
are then frozen in the row), mailed to the recipients still pending, and the row is updated with
who got it. The update commits with the claim, so a digest marked sent is never sent again, by
this replica after a restart or by any other.

When SMTP fails mid-way: a message counts as delivered to a recipient only when the server has
answered 250 to the DATA that carried it. Recipients the server refused for good (5xx) are
recorded and not retried; recipients not yet delivered for any other reason (4xx, a dropped
connection, a timeout) stay pending, and the row is due again after a backoff (digest_retry_s,
doubling up to an hour, digest_max_attempts times, then status failed). A retry sends the same
frozen digest, with the same Message-ID, only to those still pending: nobody gets it twice.
The one window left is a crash (or a lost database) between the server's 250 and our commit;
then the retry repeats the send to those recipients, with the same Message-ID so a mail system
that deduplicates can drop it. Every other restart or failover sends nothing twice.
"""

import logging
from datetime import datetime, timedelta
from typing import Any

from leadloop.app import Runtime, settings_of
from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now
from leadloop.mail import send_mail
from leadloop.worker import run_worker
from outcomes.config import OutcomesSettings
from outcomes.digest import repository as digest_queries
from outcomes.digest import service
from outcomes.digest.domain import Digest, compose
from outcomes.digest.render import render_email
from outcomes.digest.repository import DigestRow
from outcomes.digest.schedule import (
    DigestPeriod,
    Schedule,
    parse_schedule,
    period_at,
    previous_period,
)
from outcomes.exceptions import DigestJustSent

log = logging.getLogger(__name__)
MAX_RETRY_S = 3600.0


def retry_delay(settings: OutcomesSettings, attempts: int) -> timedelta:
    """After `attempts` failed attempts: digest_retry_s, doubling, at most an hour."""
    return timedelta(seconds=min(settings.digest_retry_s * 2 ** (attempts - 1), MAX_RETRY_S))


async def schedule_periods(runtime: Runtime, schedule: Schedule, settings: OutcomesSettings,
                           now: datetime) -> None:
    """Give the current and the previous period their row (idempotent, race-free)."""
    current = period_at(schedule, now)
    async with runtime.unit_of_work() as uow:
        for period in (previous_period(schedule, current), current):
            await digest_queries.schedule_period(
                uow.connection, schedule.label, period,
                period.end + timedelta(seconds=settings.digest_delay_s))
        await uow.commit()


async def work_one(runtime: Runtime, schedule: Schedule, settings: OutcomesSettings) -> bool:
    """Claim one due digest, compose it if new, mail it to whoever is pending, store the
    outcome; all in one transaction. False when nothing was due."""
    now = event_time_now()
    async with runtime.unit_of_work() as uow:
        row = await digest_queries.claim_due(uow.connection, schedule.label, now)
        if row is None:
            return False
        await _work(uow, row, schedule, settings, now)
        await uow.commit()
    return True


async def send_now(uow: UnitOfWork, schedule: Schedule, settings: OutcomesSettings
                   ) -> DigestRow:
    """Compose the digest of the current period so far (compared with the previous period) and
    mail it at once to every recipient. It is a row like the scheduled ones (period
    `<period> until <now>`), so a failed send is retried by the worker the same way."""
    now = event_time_now()
    current = period_at(schedule, now)
    period = DigestPeriod(f"{current.key} until {now:%Y-%m-%dT%H:%M:%S.%f}"[:-3] + "Z",
                          current.start, now)
    conn = uow.connection
    if not await digest_queries.schedule_period(conn, schedule.label, period, now):
        raise DigestJustSent("a digest was sent this very millisecond; try again")
    row = await digest_queries.get(conn, period.key)
    assert row is not None
    await _work(uow, row, schedule, settings, now)
    sent = await digest_queries.get(conn, period.key)
    assert sent is not None
    return sent


async def _work(uow: UnitOfWork, row: DigestRow, schedule: Schedule,
                settings: OutcomesSettings, now: datetime) -> None:
    """Compose the row's digest if new, mail it to whoever is pending, store the outcome."""
    conn = uow.connection
    values: dict[str, Any] = {}
    if row.content is None:
        period = DigestPeriod(row.period, row.period_start, row.period_end)
        before = previous_period(schedule, period)
        digest = compose(
            period.key, schedule.label, period.start, period.end, before.key,
            await service.digest_inputs(uow, period.start, period.end),
            await service.digest_inputs(uow, before.start, before.end),
            settings.speed_to_lead_sla_s)
        # Who gets it: the configured addresses, then both teams' from the API, each once.
        everyone = list(dict.fromkeys(
            [*settings.recipients, *await digest_queries.recipient_emails(conn)]))
        recipients: dict[str, Any] = {"pending": everyone, "delivered": [], "refused": {}}
        values |= {"content": digest.model_dump(mode="json"), "composed_at": now,
                   "status": "composed"}
    else:
        digest = Digest.model_validate(row.content)
        recipients = dict(row.recipients or {"pending": [], "delivered": [], "refused": {}})
    pending = list(recipients["pending"])
    if pending:
        message = render_email(digest, settings.mail_from, pending + recipients["delivered"],
                               f"{settings.base_url}/dashboard", now)
        result = await send_mail(settings, message, pending)
        recipients = {"pending": list(result.pending),
                      "delivered": recipients["delivered"] + result.delivered,
                      "refused": {**recipients["refused"], **result.refused}}
        attempts = row.attempts + 1
        values |= {"attempts": attempts,
                   "last_error": "; ".join(f"{r}: {e}" for r, e in
                                           {**result.refused, **result.pending}.items())
                   or None}
        if result.pending:
            log.warning("digest %s not delivered to %s yet (attempt %s)", row.period,
                        ", ".join(result.pending), attempts)
            if attempts >= settings.digest_max_attempts:
                values["status"] = "failed"
            else:
                values["due_at"] = now + retry_delay(settings, attempts)
    if not recipients["pending"] and not recipients["delivered"] and not recipients["refused"]:
        # Nobody to send it to: say so rather than report it "sent" to no one.
        values |= {"status": "no_recipients",
                   "last_error": "no recipients: add them with POST /v1/digest-recipients "
                   "(or LEADLOOP_OUTCOMES_DIGEST_RECIPIENTS)"}
    elif not recipients["pending"]:
        values |= {"status": "sent", "sent_at": now}
    values["recipients"] = recipients
    await digest_queries.save(conn, row.period, **values)


async def digest_round(runtime: Runtime) -> bool:
    """One round: schedule the periods, then work every due digest. Never "did work": what
    was due is done, and the next digest is due with time."""
    settings = settings_of(runtime, OutcomesSettings)
    schedule = parse_schedule(settings.digest_schedule)
    await schedule_periods(runtime, schedule, settings, event_time_now())
    while not runtime.stopping.is_set() and await work_one(runtime, schedule, settings):
        pass
    return False


async def run_digests(runtime: Runtime) -> None:
    """Background worker: schedule periods, work due digests, until the service stops."""
    await run_worker(runtime, "digests", digest_round,
                     interval_s=settings_of(runtime, OutcomesSettings).digest_poll_interval_s)
