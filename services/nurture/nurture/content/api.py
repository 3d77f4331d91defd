"""Template routes (admin): save versions, read them, preview one for a lead, send a test."""

import uuid
from typing import Any
from uuid import UUID

from fastapi import APIRouter, Depends, HTTPException, Path, status
from fastapi.exceptions import RequestValidationError

from leadloop.app import Runtime, get_runtime, settings_of, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import event_time_now
from leadloop.pagination import cursor_query, limit_query
from nurture.config import NurtureSettings
from nurture.content import catalog, repository
from nurture.content.schemas import (
    PreviewIn,
    PreviewOut,
    SmsLengthOut,
    TemplateBody,
    TemplateIn,
    TemplateList,
    TemplateOut,
    TestSendIn,
    TestSendOut,
)
from nurture.content.sms import sms_length
from nurture.content.templates import SAMPLE_LEAD, Rendered, Template, check, render
from nurture.exceptions import TemplateInvalid
from nurture.leads import repository as leads_repository
from nurture.leads.domain import LeadState
from nurture.sending.channels import SmtpPool
from nurture.sending.mail import MailContext, personalize, render_email
from nurture.sequences.steps import TEMPLATE_NAME, Channel

router = APIRouter(prefix="/v1/templates", tags=["templates"],
                   dependencies=[Depends(require_scope("admin"))])


def _checked(body: TemplateBody) -> dict[str, Any]:
    """The columns of a version to store; 422 naming the field and line of every problem."""
    try:
        check(body.channel, body.subject, body.html, body.text)
    except TemplateInvalid as exc:
        raise RequestValidationError([
            {"loc": ("body", p.field), "msg": p.message(), "type": "template_invalid"}
            for p in exc.problems]) from exc
    return body.model_dump(mode="json", include={"channel", "subject", "html", "text",
                                                 "description"})


async def _save(uow: UnitOfWork, key: str, body: TemplateBody, new: bool) -> TemplateOut:
    values = _checked(body)
    async with uow:
        existing = await repository.versions(uow.connection, key)
        if new and existing:
            raise HTTPException(status.HTTP_409_CONFLICT,
                                f"template '{key}' exists: PUT /v1/templates/{key} saves a "
                                "new version")
        if existing and existing[0].channel != body.channel.value:
            raise RequestValidationError([{
                "loc": ("body", "channel"), "type": "template_channel",
                "msg": f"template '{key}' is for {existing[0].channel}; a new version cannot "
                       "change the channel (create another template)"}])
        row = await repository.add_version(uow.connection, key, values)
        await uow.commit()
    catalog.invalidate()  # this replica renders it at once, the others within a second
    return TemplateOut.of(row)


@router.post("", response_model=TemplateOut, status_code=status.HTTP_201_CREATED)
async def create_template(body: TemplateIn,
                          uow: UnitOfWork = Depends(unit_of_work)) -> TemplateOut:
    """A new template (version 1). Unknown variables and syntax errors are a 422 naming the
    field (subject, html, text) and the line."""
    return await _save(uow, body.key, TemplateBody.model_validate(
        body.model_dump(exclude={"key"})), new=True)


@router.put("/{key}", response_model=TemplateOut)
async def save_template_version(body: TemplateBody, key: str = Path(
        min_length=1, max_length=200, pattern=TEMPLATE_NAME),
        uow: UnitOfWork = Depends(unit_of_work)) -> TemplateOut:
    """The next version of a template (the first if new). Sequences keep the version they
    were saved with; save the sequence again to use this one."""
    return await _save(uow, key, body, new=False)


@router.get("", response_model=TemplateList)
async def list_templates(limit: int = limit_query(), cursor: str | None = cursor_query(),
                         uow: UnitOfWork = Depends(unit_of_work)) -> TemplateList:
    """Every version of every template, by key, newest version first within a key."""
    async with uow:
        rows = await repository.version_page(uow.connection, cursor, limit)
    kept, next_cursor = repository.TEMPLATE_ORDER.page(rows, limit)
    return TemplateList(items=[TemplateOut.of(row) for row in kept], next_cursor=next_cursor)


@router.get("/{key}", response_model=TemplateOut)
async def get_template(key: str, version: int | None = None,
                       uow: UnitOfWork = Depends(unit_of_work)) -> TemplateOut:
    """One version of a template (the newest unless `version` is given)."""
    async with uow:
        rows = await repository.versions(uow.connection, key)
    found = [r for r in rows if version is None or r.version == version]
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no template '{key}'"
                            + ("" if version is None else f" version {version}"))
    return TemplateOut.of(found[0])


async def _template_and_lead(uow: UnitOfWork, key: str, body: PreviewIn
                             ) -> tuple[Template, LeadState | None]:
    async with uow:
        template = (await catalog.current(uow.connection)).get(key, body.version)
        if template is None:
            catalog.invalidate()
            template = (await catalog.current(uow.connection)).get(key, body.version)
        lead = None
        if body.lead_id is not None:
            lead = await leads_repository.lead_state(uow.connection, body.lead_id)
            if lead is None or lead.is_erased or lead.profile_at is None:
                raise HTTPException(status.HTTP_404_NOT_FOUND,
                                    f"nurture knows no lead {body.lead_id}")
    if template is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no template '{key}'" + (
            "" if body.version is None else f" version {body.version}"))
    return template, lead


def _render_for(template: Template, lead: LeadState | None, ctx: MailContext,
                message_id: UUID) -> Rendered:
    """The template for the lead (or the sample lead), links untracked."""
    if lead is None:
        values, _ = personalize(ctx, message_id, SAMPLE_LEAD, 42,
                                {"name": "Alex Rep", "email": "alex@example.com"}, False)
    else:
        values, _ = personalize(ctx, message_id, lead.template_lead(), lead.score, lead.rep,
                                False)
    try:
        return render(template, values)
    except Exception as exc:  # e.g. a property of this lead a filter cannot take
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT,
                            f"the template does not render for this lead: "
                            f"{type(exc).__name__}: {exc}"[:500]) from exc


def _mail_context(settings: NurtureSettings) -> MailContext:
    return MailContext(settings.base_url, settings.link_secret, settings.mail_from,
                       settings.sales_phone)


@router.post("/{key}/preview", response_model=PreviewOut)
async def preview_template(key: str, body: PreviewIn, uow: UnitOfWork = Depends(unit_of_work),
                           runtime: Runtime = Depends(get_runtime)) -> PreviewOut:
    """The template rendered for a lead nurture knows (or a sample lead): subject, HTML, the
    plain text (written from the HTML when the template has none) and, for SMS, its length
    in segments. Tracked links show their targets; nothing is sent or recorded."""
    settings = settings_of(runtime, NurtureSettings)
    template, lead = await _template_and_lead(uow, key, body)
    rendered = _render_for(template, lead, _mail_context(settings), uuid.UUID(int=0))
    sms = None
    if template.channel == Channel.sms:
        length = sms_length(rendered.text)
        sms = SmsLengthOut(encoding=length.encoding, units=length.units,
                           segments=length.segments, max_segments=settings.sms_max_segments)
    return PreviewOut(key=template.key, version=template.version, channel=template.channel,
                      subject=rendered.subject, html=rendered.html, text=rendered.text, sms=sms)


@router.post("/{key}/test-send", response_model=TestSendOut,
             status_code=status.HTTP_202_ACCEPTED)
async def test_send_template(key: str, body: TestSendIn,
                             uow: UnitOfWork = Depends(unit_of_work),
                             runtime: Runtime = Depends(get_runtime)) -> TestSendOut:
    """Send an email template to `to` (your own address), rendered for a lead or the sample
    lead, subject marked [Test]. Nothing is recorded against the lead; links are untracked."""
    settings = settings_of(runtime, NurtureSettings)
    template, lead = await _template_and_lead(uow, key, body)
    if template.channel != Channel.email:
        raise RequestValidationError([{
            "loc": ("body", "to"), "type": "template_channel",
            "msg": f"test sends go by email; preview a {template.channel.value} template "
                   "instead (POST /v1/templates/{key}/preview)"}])
    message_id = uuid.uuid4()
    ctx = _mail_context(settings)
    rendered = _render_for(template, lead, ctx, message_id)
    subject = f"[Test] {rendered.subject or ''}"
    message = render_email(ctx, Rendered(subject, rendered.html, rendered.text), message_id,
                           body.to, [("X-LeadLoop-Test", f"{template.key}/v{template.version}")],
                           event_time_now(), [], tracked=False)
    pool = SmtpPool(settings.model_copy(update={"smtp_connections": 1}))
    try:
        outcome = await pool.send(message)
    finally:
        await pool.close()
    if not outcome.ok and outcome.permanent:  # refused for good: about this address
        raise RequestValidationError([{
            "loc": ("body", "to"), "type": "mail_refused",
            "msg": f"the mail server refused it: {outcome.error}"[:500]}])
    if not outcome.ok:
        raise HTTPException(status.HTTP_502_BAD_GATEWAY,
                            f"the mail server did not take the test: {outcome.error}"[:500])
    return TestSendOut(message_id=message_id, to=body.to, subject=subject)
