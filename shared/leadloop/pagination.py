"""The one list convention of every LeadLoop API: keyset (cursor) pagination.

A list answers `{"items": [...], "next_cursor": "..." | null}`. The client passes `limit`
(1..MAX_LIMIT, default DEFAULT_LIMIT) and, for the next page, `cursor=<next_cursor>`;
`next_cursor` is null on the last page. A cursor is opaque to clients: base64url of the JSON
list of the sort key of the last item returned (e.g. `[updated_at, id]`), so the next page is
`WHERE (sort key) > (cursor)`: stable while rows are added, and as fast on page 1,000 as on
page 1 (no OFFSET). A cursor that cannot be read is a 422 naming `cursor`.

A list route declares its sort key once as a `Keyset` (columns unique together, and how each
value reads back from a cursor); `Keyset.select` adds the ORDER BY, the `WHERE key > cursor` and
the LIMIT, `Keyset.page` cuts the extra row off and makes the next cursor. A list whose query
cannot take a `Keyset` reads its cursor with `parse_cursor` and cuts its page with `page_of`.
"""

import base64
import binascii
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import orjson
from fastapi import Query
from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, Select, and_, literal, or_, tuple_

from leadloop.problems import invalid_query

DEFAULT_LIMIT = 50
MAX_LIMIT = 500
_NOT_OURS = "not a cursor this API returned"

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


def decode_cursor(cursor: str, arity: int) -> list[Any]:
    """The sort key a cursor holds; a 422 naming `cursor` when it is not one of ours."""
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        key = orjson.loads(raw)
    except (binascii.Error, ValueError):
        raise invalid_query("cursor", _NOT_OURS) from None
    if not isinstance(key, list) or len(key) != arity:
        raise invalid_query("cursor", _NOT_OURS)
    return key


def parse_cursor(cursor: str | None, parsers: Sequence[Callable[[Any], Any]]) -> list[Any] | None:
    """The typed sort key a cursor holds, each value read back by its parser (e.g. `UUID`,
    `datetime.fromisoformat`); None on the first page, a 422 naming `cursor` when it is not one
    this list made."""
    if cursor is None:
        return None
    raw = decode_cursor(cursor, len(parsers))
    try:
        return [parse(value) for parse, value in zip(parsers, raw, strict=True)]
    except (TypeError, ValueError, AttributeError, OverflowError):
        raise invalid_query("cursor", _NOT_OURS) from None


def page_of(rows: Sequence[Row], limit: int, key: Callable[[Row], Sequence[Any]]
            ) -> tuple[list[Row], str | None]:
    """The first `limit` of `rows` (fetched with LIMIT limit + 1) and the next page's cursor,
    made from the sort key of the last row kept; None when nothing is left."""
    kept = list(rows[:limit])
    more = len(rows) > limit
    return kept, encode_cursor(key(kept[-1])) if more and kept else None


@dataclass(frozen=True)
class Keyset:
    """A list's sort key: `columns` (unique together, so no row is skipped or repeated between
    pages), `parsers` reading each value back from a cursor (e.g. `UUID`,
    `datetime.fromisoformat`, `int`, `str`), and the direction of the whole key."""

    columns: tuple[ColumnElement[Any], ...]
    parsers: tuple[Callable[[Any], Any], ...]
    descending: bool | tuple[bool, ...] = False
    """True: the whole key newest/largest first; a tuple: each column's own direction."""

    def after(self, cursor: str | None) -> list[Any] | None:
        """The typed key a cursor holds (None on the first page); a 422 naming `cursor` when it
        is not one this list made."""
        return parse_cursor(cursor, self.parsers)

    def select(self, statement: Select[Any], cursor: str | None, limit: int) -> Select[Any]:
        """`statement` ordered by the key, from just past the cursor, `limit + 1` rows (the
        extra one tells `page` that another page follows)."""
        after = self.after(cursor)
        directions = self._directions()
        order = [c.desc() if down else c.asc()
                 for c, down in zip(self.columns, directions, strict=True)]
        statement = statement.order_by(*order).limit(limit + 1)
        if after is None:
            return statement
        bounds = [literal(value, c.type) for value, c in zip(after, self.columns, strict=True)]
        if len(set(directions)) == 1:  # one row comparison, which an index on the key serves
            key, bound = tuple_(*self.columns), tuple_(*bounds)
            return statement.where(key < bound if directions[0] else key > bound)
        # Mixed directions: past the cursor on the first column that differs.
        past = [and_(*(c == v for c, v in zip(self.columns[:i], bounds[:i], strict=True)),
                     column < bound if down else column > bound)
                for i, (column, bound, down) in enumerate(zip(self.columns, bounds, directions,
                                                                strict=True))]
        return statement.where(or_(*past))

    def _directions(self) -> tuple[bool, ...]:
        if isinstance(self.descending, bool):
            return (self.descending,) * len(self.columns)
        return self.descending

    def page(self, rows: Sequence[Row], limit: int) -> tuple[list[Row], str | None]:
        """The rows of this page and the next page's cursor (None on the last)."""
        names = [str(c.key) for c in self.columns]
        return page_of(rows, limit, lambda row: [_jsonable(getattr(row, n)) for n in names])


def _jsonable(value: Any) -> Any:
    """A sort-key value as a cursor holds it (times in ISO 8601, ids as text)."""
    if isinstance(value, (str, int, float)) or value is None:
        return value
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return str(value)
