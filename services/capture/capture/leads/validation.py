"""A lead as any source sends it (POST /v1/leads, a form post, a CSV row), validated and
normalized by one model, so every way in stores the same lead."""

from typing import Annotated, Any

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationInfo,
    field_validator,
)

from capture.leads.domain import (
    clean_text,
    head_count,
    normalize_country,
    normalize_email,
    normalize_phone,
    refuse_nul,
)
from leadloop.events.models import Consent, LeadProfile, LeadSource, PropertyValue

_SHORT = 255
# National numbers without a country are read as this region's (E.164 needs one).
DEFAULT_PHONE_REGION = "US"


_MAX_HEAD_COUNT = 10_000_000
_HEAD_COUNT_IN = Annotated[int, Field(ge=0, le=_MAX_HEAD_COUNT)]


def _company_size(value: Any) -> Any:
    """A head count written as text ("51-200") as the number it stands for; numbers and
    anything else go on to the field's own checks."""
    if isinstance(value, str) and value.strip():
        return head_count(value)
    return None if isinstance(value, str) else value


class PostalAddressIn(BaseModel):
    """A postal address as a client sends it (JSON: nested `postal_address`; forms and CSV:
    `address_street`, `address_city`, `address_postal_code`, `address_region`,
    `address_country`). Street and city are needed; the country defaults to the lead's."""

    model_config = ConfigDict(extra="forbid", str_max_length=500)

    street: str = Field(min_length=1, max_length=500)
    city: str = Field(min_length=1, max_length=_SHORT)
    postal_code: str | None = Field(default=None, max_length=32)
    region: str | None = Field(default=None, max_length=_SHORT)
    country: str = Field(min_length=2, max_length=100,
                         description="ISO 3166-1 alpha-2 code or a name, as the lead's "
                                     "country; stored as the code; defaults to the lead's")

    _no_nul = field_validator("*", mode="before")(refuse_nul)

    @field_validator("street", "city", "postal_code", "region")
    @classmethod
    def _text(cls, value: str | None) -> str | None:
        return clean_text(value)

    @field_validator("country")
    @classmethod
    def _country(cls, value: str) -> str:
        return normalize_country(value)


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
    company_size: Annotated[int | None, BeforeValidator(
        _company_size, json_schema_input_type=_HEAD_COUNT_IN | str | None)] = Field(
            default=None, ge=0, le=_MAX_HEAD_COUNT,
            description='Head count: a number, or as forms write it ("1,200", "10k", "51-200", '
                        '"1000+"); a range is stored as its lower bound')
    website: str | None = Field(default=None, max_length=2000)
    time_zone: str | None = Field(default=None, max_length=64)
    properties: dict[str, PropertyValue] = Field(default_factory=dict, max_length=100)
    postal_address: PostalAddressIn | None = None
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

    @field_validator("postal_address", mode="before")
    @classmethod
    def _address_country(cls, value: Any, info: ValidationInfo) -> Any:
        """An address without a country is in the lead's country (declared before it)."""
        if isinstance(value, dict) and not value.get("country") and info.data.get("country"):
            return {**value, "country": info.data["country"]}
        return value

    def profile(self) -> LeadProfile:
        """The normalized profile this submission describes."""
        return LeadProfile.model_validate(
            self.model_dump(exclude={"consent", "source"})
        )
