"""Report HTTP response models that are more than the report itself."""

from pydantic import BaseModel, Field

from outcomes.reports.attribution import AttributeBy, AttributionReport, AttributionRow, Model


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
