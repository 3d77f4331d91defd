"""HTTP models of bulk import."""

from typing import Any
from uuid import UUID

from pydantic import BaseModel


class ImportOut(BaseModel):
    """An import's progress: counts so far and the first per-row errors."""

    import_id: UUID
    status: str
    rows_total: int
    created: int
    updated: int
    unchanged: int
    failed: int
    errors: list[dict[str, Any]]
