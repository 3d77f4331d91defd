"""HTTP models of sequences: a version to save, a stored version, a page of them."""

from dataclasses import asdict
from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from leadloop.pagination import Page
from nurture.sequences.domain import (
    SEQUENCE_SETTINGS,
    EntryRule,
    ExitReason,
    Sequence,
    SequenceDefinition,
)
from nurture.sequences.repository import StoredSequence
from nurture.sequences.steps import Channel, GuardPolicy, SequenceStep, WebhookChannel


class SequenceIn(SequenceDefinition):
    """A new version of a sequence (the first one creates it); it becomes the live version."""

    model_config = ConfigDict(extra="forbid")

    def as_sequence(self) -> Sequence:
        """The domain sequence (version is assigned when stored)."""
        return Sequence(version=1, **self.model_dump())


class WebhookChannelOut(BaseModel):
    """A channel adapter as the API shows it: the URL, and whether the sequence signs with a
    secret of its own (the secret itself is never returned)."""

    url: str
    own_secret: bool = False

    @model_validator(mode="before")
    @classmethod
    def _hide_secret(cls, value: Any) -> Any:
        if isinstance(value, WebhookChannel):
            value = value.model_dump()
        if isinstance(value, dict) and "secret" in value:
            value = {"url": value.get("url"), "own_secret": bool(value["secret"])}
        return value


class SequenceOut(BaseModel):
    """One version of a sequence."""

    key: str
    version: int
    entry_rule: EntryRule
    active: bool
    steps: list[SequenceStep]
    segment: dict[str, list[str]] = Field(default_factory=dict)
    entry_delay_days: int = 0
    entry_delay_seconds: int = 0
    exit_on: list[ExitReason] = Field(default_factory=lambda: list(ExitReason))
    guards: GuardPolicy = GuardPolicy()
    webhooks: dict[Channel, WebhookChannelOut] = Field(default_factory=dict)
    created_at: datetime

    @classmethod
    def of(cls, stored: StoredSequence) -> "SequenceOut":
        """The API view of a stored sequence version."""
        values = asdict(stored)
        settings = {k: v for k, v in values.pop("settings").items() if k in SEQUENCE_SETTINGS}
        return cls.model_validate({**settings, **values})


class SequenceList(Page[SequenceOut]):
    """A page of every version of every sequence (by key, newest version first)."""
