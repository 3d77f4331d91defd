"""The one list convention of every LeadLoop API: keyset (cursor) pagination.

A list answers `{"items": [...], "next_cursor": "..." | null}`. The client passes `limit`
(1..MAX_LIMIT, default DEFAULT_LIMIT) and, for the next page, `cursor=<next_cursor>`;
`next_cursor` is null on the last page. A cursor is opaque to clients: base64url of the JSON
list of the sort key of the last item returned (e.g. `[updated_at, id]`), so the next page is
`WHERE (sort key) > (cursor)`: stable while rows are added, and as fast on page 1,000 as on
page 1 (no OFFSET). A cursor that cannot be read is a 422 naming `cursor`.
"""

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import orjson
from fastapi import Query
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, Field

DEFAULT_LIMIT = 50
MAX_LIMIT = 500

T = TypeVar("T")
Row = TypeVar("Row")


class Page(BaseModel, Generic[T]):
    """One page of a list, and the cursor of the next one (null: this is the last page)."""

    items: list[T]
    next_cursor: str | None = Field(
        description="pass as `cursor` to get the next page; null on the last page")


def limit_query(default: int = DEFAULT_LIMIT) -> Any:
    """The `limit` query parameter every list takes."""
    return Query(default=default, ge=1, le=MAX_LIMIT, description="items per page")


def cursor_query() -> Any:
    """The `cursor` query parameter every list takes."""
    return Query(default=None, max_length=1000,
                 description="`next_cursor` of the previous page; omit for the first page")


def encode_cursor(key: Sequence[Any]) -> str:
    """The opaque cursor of a sort key (JSON-able values: str, int, float, None)."""
    return base64.urlsafe_b64encode(orjson.dumps(list(key))).decode().rstrip("=")


def _bad_cursor(reason: str) -> RequestValidationError:
    return RequestValidationError([{"loc": ("query", "cursor"), "msg": reason,
                                    "type": "value_error"}])


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The sort key a cursor holds; a 422 naming `cursor` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise _bad_cursor("not a cursor this API returned") from None
    if not isinstance(key, list) or len(key) != arity:
        raise _bad_cursor("not a cursor this API returned")
    return key


def page_of(rows: Sequence[Row], limit: int, key: Callable[[Row], Sequence[Any]]
            ) -> tuple[list[Row], str | None]:
    """The first `limit` of `rows` (fetched with LIMIT limit + 1) and the next page's cursor,
    made from the sort key of the last row kept; None when nothing is left."""
    kept = list(rows[:limit])
    more = len(rows) > limit
    return kept, encode_cursor(key(kept[-1])) if more and kept else None
