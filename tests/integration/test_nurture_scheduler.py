"""Nurture's step scheduler against real PostgreSQL, the real SMTP sink, a scripted real SMTP
server and a real signing channel adapter: two replicas send each step exactly once; a retry
keeps its message id; a bounce stops the lead's sequences; a lead sales works gets no mail, even
when qualification lands mid-send; SMS goes out signed, retried and stopped as the adapter says."""

import asyncio
import uuid
from collections import Counter, deque
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import pytest_asyncio
from sqlalchemy import func, select, text, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncEngine

from leadloop.app import Runtime
from leadloop.db import create_engine
from leadloop.kafka import create_producer
from leadloop_devstack.stack import Stack
from nurture.config import NurtureSettings
from nurture.leads import repository as leads_repository
from nurture.leads import service
from nurture.sending.worker import Scheduler
from nurture.sequences import repository
from nurture.sequences.domain import EntryRule, ExitReason, Sequence
from nurture.sequences.steps import Channel, GuardPolicy, SendStep
from nurture.tables import enrollments, lead_states, messages, templates
from tests.integration.conftest import migrated_database
from tests.support import eventually
from tests.support.nurture_receivers import ChannelAdapter, ScriptedSmtp

pytestmark = pytest.mark.asyncio

LEADS = 60


@pytest_asyncio.fixture
async def nurture_settings(stack: Stack) -> AsyncIterator[NurtureSettings]:
    """A fresh nurture database, migrated, and settings that mail through the stack's sink."""
    url = await migrated_database(stack, "nurture", "nurture_it")
    yield NurtureSettings(database_url=url, smtp_host=stack.settings.host,
                          smtp_port=stack.smtp.port, smtp_connections=2,
                          scheduler_batch_size=7, scheduler_poll_interval_s=0.05,
                          kafka_bootstrap_servers=stack.bootstrap_servers,
                          link_secret=stack.secrets["LEADLOOP_NURTURE_LINK_SECRET"],
                          webhook_secret=stack.secrets["LEADLOOP_NURTURE_WEBHOOK_SECRET"],
                          webhook_allowed_networks="127.0.0.0/8")  # the adapters below


def _replica(settings: NurtureSettings) -> Scheduler:
    # The scheduler needs the database only; the producer is never started.
    runtime = Runtime(settings=settings, engine=create_engine(settings.database_url, 3),
                      producer=create_producer(settings.kafka_bootstrap_servers, "nurture-it"))
    return Scheduler(runtime, settings)


async def test_two_replicas_send_every_step_exactly_once(
        stack: Stack, nurture_settings: NurtureSettings) -> None:
    tag = uuid.uuid4().hex[:8]
    seeder = create_engine(nurture_settings.database_url, 2)
    sequence = Sequence(
        key=f"it-{tag}", version=1, entry_rule=EntryRule.new_unqualified_lead,
        segment={"utm_campaign": ["nobody"]},
        guards=GuardPolicy(max_per_day=10, max_per_week=10, quiet_hours=None),
        steps=[{"kind": "send_email", "template": "welcome"},  # type: ignore[list-item]
               {"kind": "wait", "seconds": 1},
               {"kind": "send_email", "template": "case-study"}])
    now = datetime.now(UTC)
    lead_ids = [uuid.uuid4() for _ in range(LEADS)]
    addresses = {f"it.{tag}.{n}@replicas.example" for n in range(LEADS)}
    async with seeder.begin() as conn:
        await repository.add_sequence_version(conn, sequence)
        await conn.execute(insert(lead_states), [
            {"lead_id": i, "created_at": now, "email": f"it.{tag}.{n}@replicas.example",
             "first_name": "Rep", "email_consent": True, "attributes": {}, "profile_at": now}
            for n, i in enumerate(lead_ids)])
        await conn.execute(insert(enrollments), [
            {"id": uuid.uuid4(), "lead_id": i, "sequence_key": sequence.key,
             "sequence_version": 1, "status": "active", "current_step": 0,
             "next_step_due_at": now, "enrolled_at": now, "step_started_at": now}
            for i in lead_ids])

    replicas = [_replica(nurture_settings), _replica(nurture_settings)]
    tasks = [asyncio.create_task(r.run()) for r in replicas]
    try:
        async def all_completed() -> None:
            async with seeder.connect() as conn:
                done = (await conn.execute(
                    select(func.count()).where(enrollments.c.sequence_key == sequence.key,
                                               enrollments.c.status == "completed"))).scalar()
            assert done == LEADS
        await eventually(all_completed, timeout_s=60)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for replica in replicas:
            await replica.runtime.engine.dispose()

    received = [m for m in stack.received_mail() if m["To"] in addresses]
    per_step = Counter((str(m["To"]), str(m["X-LeadLoop-Sequence"])) for m in received)
    assert len(per_step) == 2 * LEADS and set(per_step.values()) == {1}, per_step.most_common(3)
    async with seeder.connect() as conn:
        rows = (await conn.execute(select(messages.c.step, func.count())
                                   .group_by(messages.c.step))).all()
    assert dict(rows) == {0: LEADS, 2: LEADS}
    await seeder.dispose()


# --- one lead at a time, against receivers the test scripts ------------------------------

async def _seed(engine: AsyncEngine, sequence: Sequence, lead: dict[str, Any],
                *, due: datetime | None = None) -> uuid.UUID:
    """Store `sequence` (if new), the lead's state and an enrollment due at `due` (now)."""
    now = datetime.now(UTC)
    async with engine.begin() as conn:
        # The email steps use the seeded templates; the others get a one-line text of their own.
        for step in sequence.steps:
            if isinstance(step, SendStep) and step.channel != Channel.email:
                await conn.execute(insert(templates).values(
                    key=step.template, version=1, channel=step.channel.value,
                    text="Hi {{ lead.first_name }}").on_conflict_do_nothing())
        if await repository.sequence_row(conn, sequence.key, 1) is None:
            await repository.add_sequence_version(conn, sequence)
        await conn.execute(insert(lead_states).values(
            created_at=now, first_name="Ria", email_consent=True, attributes={}, profile_at=now,
            **lead).on_conflict_do_nothing())
        enrollment_id = uuid.uuid4()
        await conn.execute(insert(enrollments).values(
            id=enrollment_id, lead_id=lead["lead_id"], sequence_key=sequence.key,
            sequence_version=1, status="active", current_step=0,
            next_step_due_at=due or now, enrolled_at=now, step_started_at=due or now))
    return enrollment_id


def _sequence(*steps: dict[str, Any], **settings: Any) -> Sequence:
    return Sequence(key=f"it-{uuid.uuid4().hex[:8]}", version=1,
                    entry_rule=EntryRule.new_unqualified_lead,
                    segment={"utm_campaign": ["nobody"]},
                    guards=GuardPolicy(max_per_day=10, max_per_week=10, quiet_hours=None),
                    steps=list(steps), **settings)  # type: ignore[arg-type]


async def _enrollment(engine: AsyncEngine, enrollment_id: uuid.UUID) -> Any:
    async with engine.connect() as conn:
        return (await conn.execute(select(enrollments)
                                   .where(enrollments.c.id == enrollment_id))).one()


async def _messages(engine: AsyncEngine, lead_id: uuid.UUID) -> list[Any]:
    async with engine.connect() as conn:
        return list(await conn.execute(select(messages).where(messages.c.lead_id == lead_id)
                                       .order_by(messages.c.step)))


async def _make_due(engine: AsyncEngine, enrollment_id: uuid.UUID) -> None:
    """What the retry delay would do, without waiting for it."""
    async with engine.begin() as conn:
        await conn.execute(update(enrollments).where(enrollments.c.id == enrollment_id)
                           .values(next_step_due_at=func.now()))


def _lead(tag: str, **fields: Any) -> dict[str, Any]:
    return {"lead_id": uuid.uuid4(), "email": f"ria.{tag}.{uuid.uuid4().hex[:6]}@it.example",
            **fields}


@pytest_asyncio.fixture
async def engine(nurture_settings: NurtureSettings) -> AsyncIterator[AsyncEngine]:
    seeder = create_engine(nurture_settings.database_url, 2)
    yield seeder
    await seeder.dispose()


@pytest_asyncio.fixture
async def smtp() -> AsyncIterator[ScriptedSmtp]:
    async with ScriptedSmtp() as server:
        yield server


@pytest_asyncio.fixture
async def scheduler(nurture_settings: NurtureSettings,
                    smtp: ScriptedSmtp) -> AsyncIterator[Scheduler]:
    """One replica mailing through the scripted SMTP server; the test calls tick() itself."""
    replica = _replica(nurture_settings.model_copy(update={"smtp_port": smtp.port}))
    yield replica
    await replica.smtp.close()
    await replica.http.aclose()
    await replica.runtime.engine.dispose()


async def test_retry_after_a_transient_smtp_failure_reuses_the_message_id(
        engine: AsyncEngine, smtp: ScriptedSmtp, scheduler: Scheduler) -> None:
    lead = _lead("retry")
    enrollment_id = await _seed(engine, _sequence({"kind": "send_email", "template": "welcome"}),
                                lead)
    smtp.replies.append("451 4.3.0 try again later")

    assert await scheduler.tick() == 1
    assert len(smtp.attempts) == 1 and smtp.accepted == []
    assert await _messages(engine, lead["lead_id"]) == []  # not sent: nothing recorded
    assert (await _enrollment(engine, enrollment_id)).status == "active"

    await _make_due(engine, enrollment_id)
    assert await scheduler.tick() == 1
    first, second = smtp.attempts
    # The receiver sees the same Message-ID twice, so it can drop a duplicate.
    assert second["Message-ID"] == first["Message-ID"]
    assert second["X-LeadLoop-Message-Id"] == first["X-LeadLoop-Message-Id"]
    [row] = await _messages(engine, lead["lead_id"])
    assert row.status == "sent" and str(row.id) == first["X-LeadLoop-Message-Id"]
    assert (await _enrollment(engine, enrollment_id)).status == "completed"


async def test_a_refused_address_fails_the_message_and_stops_every_sequence_of_the_lead(
        stack: Stack, nurture_settings: NurtureSettings, engine: AsyncEngine) -> None:
    # The stack's sink refuses recipients at bounce.invalid with 550.
    replica = _replica(nurture_settings)
    lead = _lead("bounce", email=f"gone.{uuid.uuid4().hex[:8]}@bounce.invalid")
    mailing = await _seed(engine, _sequence({"kind": "send_email", "template": "welcome"}), lead)
    # Another sequence of the same lead, waiting for its next step.
    waiting = await _seed(engine, _sequence({"kind": "send_email", "template": "case-study"}),
                          lead, due=datetime.now(UTC) + timedelta(hours=1))
    try:
        await replica.tick()
    finally:
        await replica.smtp.close()
        await replica.http.aclose()
        await replica.runtime.engine.dispose()

    [row] = await _messages(engine, lead["lead_id"])
    assert row.status == "failed" and "550" in row.error
    for enrollment_id in (mailing, waiting):
        enrollment = await _enrollment(engine, enrollment_id)
        assert (enrollment.status, enrollment.exit_reason) == ("exited", "bounced")
        assert enrollment.next_step_due_at is None
    async with engine.connect() as conn:
        bounced_at = (await conn.execute(select(lead_states.c.bounced_at).where(
            lead_states.c.lead_id == lead["lead_id"]))).scalar_one()
    assert bounced_at is not None
    assert not [m for m in stack.received_mail() if m["To"] == lead["email"]]


@pytest.mark.parametrize("milestone", ["qualified_at", "handed_off_at"])
async def test_a_due_step_of_a_lead_sales_already_works_sends_nothing_and_exits(
        engine: AsyncEngine, smtp: ScriptedSmtp, scheduler: Scheduler, milestone: str) -> None:
    lead = _lead("sales", **{milestone: datetime.now(UTC) - timedelta(seconds=1)})
    # Even a sequence that lists only `replied` as its exit stops for a lead sales works.
    sequence = _sequence({"kind": "send_email", "template": "welcome"},
                         exit_on=[ExitReason.replied])
    enrollment_id = await _seed(engine, sequence, lead)

    assert await scheduler.tick() == 1
    enrollment = await _enrollment(engine, enrollment_id)
    assert (enrollment.status, enrollment.exit_reason) == \
        ("exited", milestone.removesuffix("_at"))
    assert smtp.attempts == [] and await _messages(engine, lead["lead_id"]) == []


async def _waiting_for_a_lock(engine: AsyncEngine, database: str) -> None:
    async with engine.connect() as conn:
        waiting = (await conn.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = :db "
            "AND wait_event_type = 'Lock'"), {"db": database})).scalar()
    assert waiting == 1


async def test_qualification_during_a_send_waits_for_it_and_no_later_mail_goes_out(
        engine: AsyncEngine, smtp: ScriptedSmtp, scheduler: Scheduler,
        nurture_settings: NurtureSettings) -> None:
    lead = _lead("race")
    enrollment_id = await _seed(engine, _sequence(
        {"kind": "send_email", "template": "welcome"},
        {"kind": "send_email", "template": "case-study"}), lead)
    smtp.hold = asyncio.Event()  # the first send stays in the SMTP server's hands

    batch = asyncio.create_task(scheduler.tick())
    await eventually(lambda: _true(smtp.holding.is_set()))

    async def qualify() -> None:
        async with scheduler.runtime.unit_of_work() as uow:
            await service.exit_sequences(uow, lead["lead_id"], ExitReason.qualified,
                                         datetime.now(UTC))
            await uow.commit()
    qualification = asyncio.create_task(qualify())
    # The qualification waits on the lead row the batch holds until its send is done.
    database = nurture_settings.database_url.rsplit("/", 1)[1]
    await eventually(lambda: _waiting_for_a_lock(engine, database))
    assert not qualification.done()
    smtp.hold.set()
    assert await batch == 1
    await qualification

    enrollment = await _enrollment(engine, enrollment_id)
    assert (enrollment.status, enrollment.exit_reason) == ("exited", "qualified")
    await _make_due(engine, enrollment_id)  # even if it were due, it is no longer active
    assert await scheduler.tick() == 0
    assert [m["X-LeadLoop-Sequence"].rsplit("/", 1)[1] for m in smtp.attempts] == ["0"]
    assert [m.step for m in await _messages(engine, lead["lead_id"])] == [0]


async def _true(value: bool) -> None:
    assert value


async def test_an_sms_step_reaches_a_signing_adapter_retries_5xx_with_one_key_and_stops_on_4xx(
        engine: AsyncEngine, scheduler: Scheduler, nurture_settings: NurtureSettings) -> None:
    async with ChannelAdapter(nurture_settings.webhook_secret, deque([503])) as adapter:
        sequence = _sequence({"kind": "send", "channel": "sms", "template": "sms-hello"},
                             {"kind": "send", "channel": "sms", "template": "sms-offer"},
                             webhooks={"sms": {"url": adapter.url}})
        lead = _lead("sms", phone="+4930123456")
        enrollment_id = await _seed(engine, sequence, lead)

        assert await scheduler.tick() == 1  # 503: retried later
        await _make_due(engine, enrollment_id)
        assert await scheduler.tick() == 1  # 200
        first, retry = adapter.received
        assert first.signature_valid and retry.signature_valid
        assert first.idempotency_key == retry.idempotency_key == first.payload["message_id"]
        assert retry.payload["to"]["phone"] == "+4930123456"
        assert (retry.payload["channel"], retry.payload["template"], retry.payload["step"]) == \
            ("sms", "sms-hello", 0)
        assert retry.payload["content"]["text"] == "Hi Ria"
        assert retry.payload["lead_id"] == str(lead["lead_id"])

        # The adapter refuses the next message for good (422: e.g. not a mobile number).
        adapter.statuses.append(422)
        await _make_due(engine, enrollment_id)
        assert await scheduler.tick() == 1
        enrollment = await _enrollment(engine, enrollment_id)
        assert (enrollment.status, enrollment.exit_reason) == ("exited", "bounced")
        assert [(m.step, m.status) for m in await _messages(engine, lead["lead_id"])] == \
            [(0, "sent"), (1, "failed")]

        # A lead without a phone number: the SMS step is skipped, with the reason recorded.
        no_phone = _lead("sms-no-phone")
        skipping = await _seed(engine, sequence, no_phone)
        received = len(adapter.received)
        assert await scheduler.tick() == 1
        assert len(adapter.received) == received
        assert [(m.step, m.status, m.error) for m in await _messages(
            engine, no_phone["lead_id"])] == [(0, "skipped", "no_phone"),
                                              (1, "skipped", "no_phone")]
        assert (await _enrollment(engine, skipping)).status == "completed"


async def test_a_score_branch_waiting_in_its_window_is_woken_by_a_new_score(
        engine: AsyncEngine, smtp: ScriptedSmtp, scheduler: Scheduler) -> None:
    lead = _lead("score")
    enrollment_id = await _seed(engine, _sequence(
        {"kind": "send_email", "template": "welcome"},
        {"kind": "branch", "condition": "score_above", "score": 40, "within_days": 2,
         "then": 3, "otherwise": 2},
        {"kind": "send_email", "template": "case-study"},
        {"kind": "send_email", "template": "pricing-guide"}), lead)
    assert await scheduler.tick() == 1  # welcome sent; the branch waits up to two days
    waiting = await _enrollment(engine, enrollment_id)
    assert waiting.current_step == 1
    assert waiting.next_step_due_at > datetime.now(UTC) + timedelta(days=1)

    # lead.scored arrives (scoring's event, handled as nurture's consumer does).
    async with scheduler.runtime.unit_of_work() as uow:
        await service.record_score(uow, lead["lead_id"], 55, datetime.now(UTC))
        await uow.commit()
    assert (await _enrollment(engine, enrollment_id)).next_step_due_at <= datetime.now(UTC)
    assert await scheduler.tick() == 1
    assert [m["X-LeadLoop-Sequence"].rsplit("/", 1)[1] for m in smtp.accepted] == ["0", "3"]
    assert (await _enrollment(engine, enrollment_id)).status == "completed"


async def test_an_address_that_bounced_or_unsubscribed_stays_suppressed_for_every_lead_record(
        engine: AsyncEngine, smtp: ScriptedSmtp, scheduler: Scheduler) -> None:
    sequence = _sequence({"kind": "send_email", "template": "welcome"})
    bouncing = _lead("bounce-once")
    await _seed(engine, sequence, bouncing)
    smtp.replies.append("550 5.1.1 mailbox unavailable")
    assert await scheduler.tick() == 1
    leaving = _lead("unsub-once")
    await _seed(engine, sequence, leaving, due=datetime.now(UTC) + timedelta(days=1))
    async with scheduler.runtime.unit_of_work() as uow:
        await service.exit_sequences(uow, leaving["lead_id"], ExitReason.unsubscribed,
                                     datetime.now(UTC))
        await uow.commit()

    # The same people again as new lead records (another form, another case), due now.
    again = {reason: await _seed(engine, sequence, _lead("again", email=old["email"].upper()))
             for reason, old in (("bounced", bouncing), ("unsubscribed", leaving))}
    attempts = len(smtp.attempts)
    assert await scheduler.tick() == 2
    assert len(smtp.attempts) == attempts  # nothing was even tried
    for reason, enrollment_id in again.items():
        enrollment = await _enrollment(engine, enrollment_id)
        assert (enrollment.status, enrollment.exit_reason) == ("exited", reason)


async def test_a_sequence_with_its_own_webhook_secret_signs_with_it(
        engine: AsyncEngine, scheduler: Scheduler, nurture_settings: NurtureSettings) -> None:
    own = "voice-provider-account-7-secret"
    assert own != nurture_settings.webhook_secret
    async with ChannelAdapter(own) as adapter:
        sequence = _sequence({"kind": "send", "channel": "voice", "template": "voice-hello"},
                             webhooks={"voice": {"url": adapter.url, "secret": own}})
        await _seed(engine, sequence, _lead("voice", phone="+4930765432"))
        assert await scheduler.tick() == 1
        [delivery] = adapter.received
        assert delivery.signature_valid and delivery.payload["channel"] == "voice"


async def test_a_deal_lost_before_nurture_saw_the_lead_enrolls_it_once_its_profile_arrives(
        engine: AsyncEngine, smtp: ScriptedSmtp, scheduler: Scheduler) -> None:
    # Under load the lead-created topic can lag behind the deals topic: the segment cannot be
    # judged when deal.closed arrives, so the entry waits for the profile instead of being lost.
    campaign = f"spring-{uuid.uuid4().hex[:6]}"
    re_engage = Sequence(key=f"it-lost-{uuid.uuid4().hex[:8]}", version=1,
                         entry_rule=EntryRule.deal_lost, segment={"utm_campaign": [campaign]},
                         guards=GuardPolicy(max_per_day=10, max_per_week=10, quiet_hours=None),
                         steps=[{"kind": "send_email", "template": "welcome"}])  # type: ignore[list-item]
    async with engine.begin() as conn:
        await repository.add_sequence_version(conn, re_engage)
    in_segment, elsewhere = _lead("lost-early"), _lead("lost-elsewhere")

    for lead in (in_segment, elsewhere):
        async with scheduler.runtime.unit_of_work() as uow:
            await service.deal_closed(uow, lead["lead_id"], won=False, closed_at=datetime.now(UTC))
            await uow.commit()
    async with engine.connect() as conn:
        early = await leads_repository.active_enrollments_for_update(conn, in_segment["lead_id"])
    assert early == []

    for lead, utm in ((in_segment, campaign), (elsewhere, "autumn")):
        async with scheduler.runtime.unit_of_work() as uow:
            await service.enroll_new_lead(
                uow, lead["lead_id"], datetime.now(UTC), consent=True,
                profile={"email": lead["email"], "first_name": "Ria"},
                attributes={"utm_campaign": utm})
            await uow.commit()

    assert await scheduler.tick() == 1
    [sent] = smtp.accepted
    assert sent["To"] == in_segment["email"]
    assert sent["X-LeadLoop-Sequence"] == f"{re_engage.key}/0"
    async with engine.connect() as conn:
        others = await leads_repository.active_enrollments_for_update(conn, elsewhere["lead_id"])
    # Out of its segment: only the seeded, everyone's re-engage sequence (due in 90 days).
    assert [e.sequence_key for e in others] == ["re-engage"]
