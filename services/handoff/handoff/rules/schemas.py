"""HTTP models of routing rules."""

import re
from datetime import datetime
from typing import Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from handoff.assignments.schemas import printable
from handoff.routing.domain import OPERATORS
from leadloop.pagination import Page

TEAM_PATTERN = r"^[a-z0-9][a-z0-9_-]{0,63}$"
_PROFILE_FIELDS = frozenset({
    "email", "first_name", "last_name", "company", "job_title", "phone", "country", "region",
    "industry", "company_size", "website", "time_zone", "score", "grade", "segment",
    "email_domain", "website_domain"})
_NESTED = re.compile(r"^(properties|source)\.[A-Za-z0-9_.-]{1,100}$")
_MAX_SLA_S = 30 * 24 * 3600


class ConditionIn(BaseModel):
    """One test on the lead, e.g. {"field": "score", "op": "gte", "value": 70}."""

    model_config = ConfigDict(extra="forbid")

    field: str = Field(description="a profile field, score, grade, segment, email_domain, "
                       "source.<name> or properties.<name>")
    op: str = Field(description="one of " + ", ".join(OPERATORS))
    value: Any = None

    @field_validator("field")
    @classmethod
    def _field(cls, value: str) -> str:
        if value not in _PROFILE_FIELDS and not _NESTED.match(value):
            raise ValueError(f"unknown field {value!r}; use one of {sorted(_PROFILE_FIELDS)}, "
                             "source.<name> or properties.<name>")
        return value

    @field_validator("op")
    @classmethod
    def _op(cls, value: str) -> str:
        if value not in OPERATORS:
            raise ValueError(f"unknown operator {value!r}; use one of {', '.join(OPERATORS)}")
        return value

    @field_validator("value")
    @classmethod
    def _value(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        for item in values:
            if not (item is None or isinstance(item, str | int | float | bool)):
                raise ValueError("must be a string, number, boolean, null or a list of those")
            if isinstance(item, str):
                printable(item)
        return value

    @model_validator(mode="after")
    def _value_fits_op(self) -> "ConditionIn":
        if self.op in ("in", "not_in") and not isinstance(self.value, list):
            raise ValueError(f"{self.op} needs a list value")
        if self.op in ("gt", "gte", "lt", "lte") and (
                isinstance(self.value, bool) or not isinstance(self.value, int | float | str)):
            raise ValueError(f"{self.op} needs a number or string value")
        if self.op in ("eq", "ne") and isinstance(self.value, list | dict):
            raise ValueError(f"{self.op} needs a single value")
        return self


class RuleIn(BaseModel):
    """A routing rule; saving it again creates its next version."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    position: int = Field(ge=0, le=1_000_000, description="rules are tried in ascending order")
    team: str = Field(pattern=TEAM_PATTERN)
    conditions: list[ConditionIn] = Field(default=[], max_length=50,
                                          description="all must hold; [] matches every lead")
    accept_sla_s: float | None = Field(default=None, gt=0, le=_MAX_SLA_S,
                                       description="seconds of the rep's working time to "
                                                   "accept; null: the default")
    respect_working_hours: bool = True
    active: bool = True

    _name = field_validator("name")(printable)


class RuleOut(BaseModel):
    """One version of a routing rule."""

    # Built from a repository row: attributes it does not declare are not read.
    model_config = ConfigDict(from_attributes=True)

    id: UUID
    version: int
    name: str
    position: int
    team: str
    conditions: list[ConditionIn]
    accept_sla_s: float | None
    respect_working_hours: bool
    active: bool
    current: bool
    created_at: datetime


class RuleList(Page[RuleOut]):
    """Rules in routing order (or one rule's versions, newest first), a page at a time."""

