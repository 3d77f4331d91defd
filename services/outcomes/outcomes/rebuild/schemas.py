"""The rebuild's HTTP response model."""

from pydantic import BaseModel, Field


class RebuildOut(BaseModel):
    """What a rebuild of the read model replayed."""

    events: int = Field(description="events read from Kafka and applied")
    leads: int = Field(description="leads in the rebuilt funnel")
    seconds: float
