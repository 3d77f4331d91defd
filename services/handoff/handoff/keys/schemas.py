"""HTTP models of rep-bound keys."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator

from handoff.assignments.schemas import CleanName
from leadloop.pagination import Page

RepScope = Literal["sales", "sales:manage"]


class RepKeyIn(BaseModel):
    """A key for a rep: what it is called (the rep's laptop, phone, CRM plug-in) and whether it
    manages (sees the team's leads and the fallback queue, assigns by hand)."""

    model_config = ConfigDict(extra="forbid")

    name: CleanName = Field(default="default", min_length=1, max_length=100)
    scopes: list[RepScope] = Field(default=["sales"], min_length=1, max_length=2)

    @field_validator("scopes")
    @classmethod
    def _scopes(cls, value: list[str]) -> list[str]:
        # sales:manage without sales would grant a manager view the queue routes refuse.
        return sorted({"sales", *value})


class RepKeyOut(BaseModel):
    """A rep's key as listed: never the key itself."""

    # Built from a repository row: attributes it does not declare are not read.
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    rep_id: UUID
    name: str
    scopes: list[str]
    sha256: str
    created_at: datetime
    revoked_at: datetime | None


class RepKeyCreated(RepKeyOut):
    """A new key: `key` is shown this once and stored nowhere."""

    key: str


class RepKeyList(Page[RepKeyOut]):
    """A rep's keys, newest first (revoked ones too), a page at a time."""
