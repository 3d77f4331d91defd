"""A form as marketing configures it: fields, consent, redirect, origins, spam settings."""

import re
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, HttpUrl, field_validator, model_validator

from capture.leads.domain import refuse_nul

FieldType = Literal["email", "text", "textarea", "phone", "country", "number", "select",
                    "checkbox", "hidden", "url", "consent"]

# Lead properties a field may map to; anything else goes to `properties.<name>`.
LEAD_FIELDS = frozenset({"email", "first_name", "last_name", "company", "job_title", "phone",
                         "country", "region", "industry", "company_size", "website",
                         "time_zone"})
# The postal address's parts: targets `postal_address.<part>`; inputs (and CSV columns) named
# `address_<part>` go there by default.
POSTAL_PARTS = ("street", "city", "postal_code", "region", "country")
POSTAL_TARGETS = frozenset(f"postal_address.{part}" for part in POSTAL_PARTS)
ADDRESS_INPUTS = {f"address_{part}": f"postal_address.{part}" for part in POSTAL_PARTS}
CONSENT_TARGET = "consent.email_marketing"
CONSENT_TARGETS = frozenset({CONSENT_TARGET, "consent.sales_contact"})
_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")
_ORIGIN = re.compile(r"^https?://[^/\s?#]+$")


class FormField(BaseModel):
    """One input of a form and where its value goes on the lead."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(description="the input's name attribute")
    type: FieldType = "text"
    label: str | None = Field(default=None, max_length=500)
    required: bool = False
    maps_to: str | None = Field(
        default=None, description="a lead field, 'postal_address.<street|city|postal_code|"
        "region|country>', 'properties.<any name>', 'consent.email_marketing' or "
        "'consent.sales_contact'; defaults to the field's name (address_<part> for the postal "
        "address)")
    max_length: int = Field(default=2000, ge=1, le=10_000)
    options: list[str] = Field(default_factory=list, max_length=500)

    _no_nul = field_validator("*", mode="before")(refuse_nul)  # PostgreSQL stores no NUL

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("must start with a letter and use only letters, digits, _ . -")
        return value

    @model_validator(mode="after")
    def _target(self) -> "FormField":
        target = self.target
        if target in LEAD_FIELDS or target in CONSENT_TARGETS or target in POSTAL_TARGETS:
            return self
        if target.startswith("properties.") and _NAME.match(target.removeprefix("properties.")):
            return self
        raise ValueError(f"maps_to '{target}' is not a lead field, postal_address.<part>, "
                         f"properties.<name> or one of {sorted(CONSENT_TARGETS)}")

    @property
    def target(self) -> str:
        """Where the value lands: a lead field, properties.<name> or the consent flag."""
        if self.maps_to:
            return self.maps_to
        if self.type == "consent":
            return CONSENT_TARGET
        if self.name in ADDRESS_INPUTS:
            return ADDRESS_INPUTS[self.name]
        return self.name if self.name in LEAD_FIELDS else f"properties.{self.name}"


class SpamSettings(BaseModel):
    """How a form tells people from bots."""

    model_config = ConfigDict(extra="forbid")

    honeypot_field: str | None = Field(default="website_url_hp",
                                       description="a hidden input people leave empty")
    min_fill_seconds: float = Field(default=0, ge=0, le=3600,
                                    description="needs the embed script's signed token")
    per_ip_per_minute: int = Field(default=30, ge=1, le=100_000)
    per_form_per_minute: int = Field(default=6000, ge=1, le=1_000_000)


class FormConfigIn(BaseModel):
    """What an admin sends to create or replace a form."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    fields: list[FormField] = Field(min_length=1, max_length=100)
    consent_text: str | None = Field(default=None, max_length=5000)
    consent_version: str | None = Field(default=None, max_length=100)
    lawful_basis: Literal["consent", "legitimate_interest", "contract"] = "consent"
    redirect_url: HttpUrl | None = None
    allowed_origins: list[str] = Field(default_factory=list, max_length=100)
    mode: Literal["strict", "lenient"] = "lenient"
    spam: SpamSettings = SpamSettings()
    max_body_bytes: int = Field(default=65_536, ge=1024, le=1_048_576)
    campaign: str | None = Field(default=None, max_length=200)

    _no_nul = field_validator("*", mode="before")(refuse_nul)  # PostgreSQL stores no NUL

    @field_validator("redirect_url")
    @classmethod
    def _redirect_fits_once_normalized(cls, value: HttpUrl | None) -> HttpUrl | None:
        # Normalizing (punycode, percent-encoding, a trailing slash) can lengthen a URL past
        # what HttpUrl accepts, and the stored form would then fail to load.
        if value is not None and len(str(value)) > 2000:
            raise ValueError("redirect_url must be at most 2000 characters once normalized")
        return value

    @field_validator("allowed_origins")
    @classmethod
    def _origins(cls, value: list[str]) -> list[str]:
        cleaned = []
        for origin in value:
            origin = origin.strip().rstrip("/").lower()
            if origin != "*" and not _ORIGIN.match(origin):
                raise ValueError(f"'{origin}' is not an origin like https://www.example.com")
            cleaned.append(origin)
        return cleaned

    @model_validator(mode="after")
    def _unique_and_email(self) -> "FormConfigIn":
        names = [f.name for f in self.fields]
        if len(names) != len(set(names)):
            raise ValueError("field names must be unique")
        if "email" not in {f.target for f in self.fields}:
            raise ValueError("a form needs a field that maps to email")
        return self

    def allows_origin(self, origin: str | None) -> bool:
        """Whether a browser on `origin` may submit (no Origin header: not a browser, allowed)."""
        if origin is None:
            return True
        return "*" in self.allowed_origins or origin.lower() in self.allowed_origins
