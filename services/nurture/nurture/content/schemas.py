"""HTTP models of templates: a version to save, a stored version, a preview, a test send."""

from dataclasses import asdict
from datetime import datetime
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field

from leadloop.mail import MAILBOX_PATTERN
from leadloop.pagination import Page
from nurture.content.repository import TemplateVersion
from nurture.sequences.steps import TEMPLATE_NAME, Channel

_BODY = 200_000


class TemplateBody(BaseModel):
    """A template version's content: Jinja2 (sandboxed) over `lead`, `score`, `rep`, `links`,
    `track(url)` and `sales_phone`. Email needs subject and html (text is written from the
    HTML when not given); sms and voice take text only; fax and direct_mail html or text."""

    model_config = ConfigDict(extra="forbid")

    channel: Channel
    subject: str | None = Field(default=None, min_length=1, max_length=1000)
    html: str | None = Field(default=None, min_length=1, max_length=_BODY)
    text: str | None = Field(default=None, min_length=1, max_length=_BODY)
    description: str | None = Field(default=None, max_length=1000)


class TemplateIn(TemplateBody):
    """A new template: its key and first version."""

    key: str = Field(min_length=1, max_length=200, pattern=TEMPLATE_NAME)


class TemplateOut(BaseModel):
    """One stored version of a template."""

    key: str
    version: int
    channel: Channel
    subject: str | None
    html: str | None
    text: str | None = Field(description="null: written from the HTML when sent")
    description: str | None
    created_at: datetime

    @classmethod
    def of(cls, stored: TemplateVersion) -> "TemplateOut":
        """The API view of a stored version."""
        return cls.model_validate(asdict(stored))


class TemplateList(Page[TemplateOut]):
    """A page of every version of every template, by key, newest version first within a
    key."""


class PreviewIn(BaseModel):
    """Render a template version (the newest when not given) for a lead nurture knows, or
    for a made-up sample lead when no lead is given."""

    model_config = ConfigDict(extra="forbid")

    lead_id: UUID | None = None
    version: int | None = Field(default=None, ge=1)


class SmsLengthOut(BaseModel):
    """How an SMS text is encoded and how many segments it takes."""

    encoding: str
    units: int
    segments: int
    max_segments: int


class PreviewOut(BaseModel):
    """A template as the lead would get it (tracked links show their targets)."""

    key: str
    version: int
    channel: Channel
    subject: str | None
    html: str | None
    text: str
    sms: SmsLengthOut | None = None


class TestSendIn(PreviewIn):
    """Send an email template to an address (yours), rendered for a lead or the sample."""

    to: str = Field(min_length=3, max_length=320, pattern=MAILBOX_PATTERN)


class TestSendOut(BaseModel):
    """What was sent: the message id (its Message-ID header) and the subject."""

    message_id: UUID
    to: str
    subject: str | None
