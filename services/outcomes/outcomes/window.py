"""The time window every report takes: ?from=...&to=... (timezone-aware), both optional."""

from datetime import datetime

from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import AwareDatetime


class Window:
    """FastAPI dependency: [from, to) with from before to."""

    def __init__(
        self,
        start: AwareDatetime | None = Query(default=None, alias="from",
                                            description="at or after this time"),
        end: AwareDatetime | None = Query(default=None, alias="to",
                                          description="before this time"),
    ) -> None:
        if start is not None and end is not None and start >= end:
            # Raised as a validation error so the answer has the same 422 shape as any other.
            raise RequestValidationError([{"loc": ("query", "to"), "type": "value_error",
                                           "msg": "must be later than 'from'"}])
        self.start: datetime | None = start
        self.end: datetime | None = end
