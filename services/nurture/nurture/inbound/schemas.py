"""HTTP models of what a mail provider or sales tool reports back: a reply, a bounce."""

from typing import Any, Literal
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator


class _Inbound(BaseModel):
    """Which lead a provider's report is about: the message it concerns, or the address."""

    model_config = ConfigDict(extra="forbid")

    message_id: UUID | None = Field(
        default=None, description="the X-LeadLoop-Message-Id header, or the Message-ID a reply's "
        "In-Reply-To names (<id@leadloop.local>)")
    email: str | None = Field(default=None, min_length=3, max_length=320,
                              pattern=r"^[^@\s]+@[^@\s]+$")

    @field_validator("message_id", mode="before")
    @classmethod
    def _message_id_header(cls, value: Any) -> Any:
        """A Message-ID as a provider forwards it: <uuid@leadloop.local> is the uuid."""
        if isinstance(value, str) and value.strip().endswith("@leadloop.local>"):
            return value.strip().removeprefix("<").removesuffix("@leadloop.local>")
        return value

    @model_validator(mode="after")
    def _one_address(self) -> "_Inbound":
        if (self.message_id is None) == (self.email is None):
            raise ValueError("give exactly one of message_id or email")
        return self


class ReplyIn(_Inbound):
    """A reply to one of our emails, reported by the mail provider or a sales tool."""

    received_at: AwareDatetime | None = None


class BounceIn(_Inbound):
    """A bounce reported after the message left (a delivery status notification), or a spam
    complaint (a feedback loop report)."""

    kind: Literal["hard", "soft", "complaint"]
    bounced_at: AwareDatetime | None = None
    reason: str | None = Field(default=None, max_length=1000)


class InboundAccepted(BaseModel):
    """Which leads the report matched, and whether their sequences were stopped."""

    lead_ids: list[UUID]
    stopped: bool
