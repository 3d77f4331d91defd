"""Capture's HTTP request and response models."""

from datetime import datetime
from typing import Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from capture.domain import (
    clean_text,
    normalize_country,
    normalize_email,
    normalize_phone,
    refuse_nul,
)
from leadloop.events.models import Consent, LeadProfile, LeadSource, PropertyValue

_SHORT = 255
# National numbers without a country are read as this region's (E.164 needs one).
DEFAULT_PHONE_REGION = "US"


class LeadIn(BaseModel):
    """A lead as an API client sends it. Values are normalized as they are validated."""

    model_config = ConfigDict(extra="forbid", str_max_length=2000)

    email: str = Field(max_length=320)
    first_name: str | None = Field(default=None, max_length=_SHORT)
    last_name: str | None = Field(default=None, max_length=_SHORT)
    company: str | None = Field(default=None, max_length=_SHORT)
    job_title: str | None = Field(default=None, max_length=_SHORT)
    # country comes before phone: the phone validator uses it to read national numbers.
    country: str | None = Field(default=None, max_length=100, description="ISO 3166-1 "
                                "alpha-2 code or English name (India, United States); stored "
                                "as the code")
    phone: str | None = Field(default=None, max_length=64)
    region: str | None = Field(default=None, max_length=_SHORT)
    industry: str | None = Field(default=None, max_length=_SHORT)
    company_size: int | None = Field(default=None, ge=0, le=10_000_000)
    website: str | None = Field(default=None, max_length=2000)
    time_zone: str | None = Field(default=None, max_length=64)
    properties: dict[str, PropertyValue] = Field(default_factory=dict, max_length=100)
    consent: Consent = Consent()
    source: LeadSource = LeadSource()

    # PostgreSQL stores no NUL character: refused here, naming the field, not at the insert.
    _no_nul = field_validator("*", mode="before")(refuse_nul)

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        return normalize_email(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str | None) -> str | None:
        return normalize_country(value) if value else None

    @field_validator("first_name", "last_name", "company", "job_title", "region", "industry",
                     "website", "time_zone")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return clean_text(value)

    @field_validator("properties")
    @classmethod
    def _property_names(cls, value: dict[str, PropertyValue]) -> dict[str, PropertyValue]:
        for name in value:
            if not name or len(name) > 100:
                raise ValueError(f"property name '{name[:100]}' must be 1 to 100 characters")
        return value

    @field_validator("phone")
    @classmethod
    def _phone(cls, value: str | None, info: ValidationInfo) -> str | None:
        if not value:
            return None
        return normalize_phone(value, info.data.get("country") or DEFAULT_PHONE_REGION)

    def profile(self) -> LeadProfile:
        """The normalized profile this submission describes."""
        return LeadProfile.model_validate(
            self.model_dump(exclude={"consent", "source"})
        )


class LeadAccepted(BaseModel):
    """What capture answers for an accepted lead."""

    lead_id: UUID
    status: Literal["created", "updated", "unchanged"]


class LeadOut(BaseModel):
    """A lead as capture stores it."""

    lead_id: UUID
    profile: LeadProfile
    consent: Consent
    source: LeadSource
    merged_into: UUID | None = None


class ActivityOut(BaseModel):
    """One entry of a lead's activity timeline."""

    activity_id: UUID
    kind: str
    occurred_at: datetime
    url: str | None
    source: LeadSource
    properties: dict[str, PropertyValue]
