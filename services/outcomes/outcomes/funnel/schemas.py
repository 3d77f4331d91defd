"""The funnel's HTTP response models."""

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from outcomes.funnel.domain import FunnelReport, Stage


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
