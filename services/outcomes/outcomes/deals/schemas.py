"""Outcomes' HTTP request and response models."""

from datetime import datetime
from uuid import UUID

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from leadloop.events.models import event_time_now
from outcomes.funnel.domain import (
    Deal,
    DealReport,
    DealStatus,
    FunnelReport,
    Stage,
    closed_at_problem,
    lost_reason_problem,
)
from outcomes.reports.attribution import AttributeBy, AttributionReport, AttributionRow, Model
from outcomes.reports.window import out_of_range


class DealIn(BaseModel):
    """A deal as a sales tool reports it; the same external_id again is the same deal."""

    model_config = ConfigDict(extra="forbid")

    external_id: str = Field(min_length=1, max_length=255,
                             description="the sales tool's id of the deal")
    lead_id: UUID
    # status comes before lost_reason and closed_at: their validators check against it.
    status: DealStatus
    amount_minor: int = Field(ge=0, le=10**15, description="amount in minor units (cents)")
    currency: str = Field(description="ISO 4217 code, e.g. EUR")
    lost_reason: str | None = Field(default=None, max_length=1000,
                                    description="only for lost deals")
    closed_at: AwareDatetime | None = Field(default=None,
                                            description="won or lost deals; defaults to now")

    @field_validator("external_id")
    @classmethod
    def _external_id(cls, value: str) -> str:
        value = value.strip()
        if not value:
            raise ValueError("external_id must not be blank")
        return value

    @field_validator("currency")
    @classmethod
    def _currency(cls, value: str) -> str:
        if len(value) != 3 or not value.isascii() or not value.isalpha() or not value.isupper():
            raise ValueError("must be an ISO 4217 code: three upper-case letters, e.g. EUR")
        return value

    @field_validator("lost_reason")
    @classmethod
    def _lost_reason(cls, value: str | None, info: ValidationInfo) -> str | None:
        value = (value or "").strip() or None
        status = info.data.get("status")
        problem = lost_reason_problem(status, value) if status is not None else None
        if problem:
            raise ValueError(problem)
        return value

    @field_validator("closed_at")
    @classmethod
    def _closed_at(cls, value: datetime | None, info: ValidationInfo) -> datetime | None:
        status = info.data.get("status")
        problem = (value is not None and out_of_range(value)) or (
            closed_at_problem(status, value, event_time_now()) if status is not None else None)
        if problem:
            raise ValueError(problem)
        return value

    def report(self) -> DealReport:
        """The sales tool's report as the domain reads it."""
        return DealReport(**self.model_dump())


class DealOut(BaseModel):
    """A deal as outcomes stores it."""

    deal_id: UUID
    external_id: str
    lead_id: UUID
    status: DealStatus
    amount_minor: int
    currency: str
    lost_reason: str | None
    opened_at: datetime | None
    closed_at: datetime | None

    @classmethod
    def of(cls, deal: Deal) -> "DealOut":
        """The API view of a deal."""
        return cls(deal_id=deal.id, external_id=deal.external_id, lead_id=deal.lead_id,
                   status=deal.status, amount_minor=deal.amount_minor, currency=deal.currency,
                   lost_reason=deal.lost_reason, opened_at=deal.opened_at,
                   closed_at=deal.closed_at)


class StageCountOut(BaseModel):
    """How many leads reached a stage."""

    stage: Stage
    count: int


class ConversionOut(BaseModel):
    """Of the leads that reached `from`, the share that also reached `to` (null: none did)."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)

    from_stage: Stage = Field(alias="from")
    to_stage: Stage = Field(alias="to")
    rate: float | None


class FunnelOut(BaseModel):
    """The funnel: counts per stage in funnel order, and stage-to-stage conversion rates."""

    created_from: datetime | None = Field(serialization_alias="from")
    created_to: datetime | None = Field(serialization_alias="to")
    stages: list[StageCountOut]
    conversion: list[ConversionOut]
    not_converted: int = Field(description="leads closed as not converted (POST "
                                           "/v1/closed-leads), a side exit like rejection")

    @classmethod
    def of(cls, report: FunnelReport, created_from: datetime | None,
           created_to: datetime | None) -> "FunnelOut":
        """The API view of a funnel report."""
        return cls(
            created_from=created_from, created_to=created_to,
            stages=[StageCountOut(stage=s.stage, count=s.count) for s in report.stages],
            conversion=[ConversionOut(from_stage=c.from_stage, to_stage=c.to_stage, rate=c.rate)
                        for c in report.conversion],
            not_converted=report.not_converted,
        )


class AttributionOut(BaseModel):
    """Won deals and revenue per campaign or source under one model, in one currency."""

    model: Model
    by: AttributeBy
    currency: str | None = Field(description="the currency of revenue_minor; null: no wins")
    currencies: list[str] = Field(description="currencies of won deals in the window")
    total_won_deals: int
    total_revenue_minor: int
    rows: list[AttributionRow]

    @classmethod
    def of(cls, report: AttributionReport, currency: str | None,
           currencies: list[str]) -> "AttributionOut":
        """The API view of an attribution report."""
        return cls(model=report.model, by=report.by, currency=currency, currencies=currencies,
                   total_won_deals=report.total_won_deals,
                   total_revenue_minor=report.total_revenue_minor, rows=report.rows)


class RebuildOut(BaseModel):
    """What a rebuild of the read model replayed."""

    events: int = Field(description="events read from Kafka and applied")
    leads: int = Field(description="leads in the rebuilt funnel")
    seconds: float
