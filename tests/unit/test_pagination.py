"""The one list convention: keyset cursors that round-trip, refuse forgeries with a 422 naming
`cursor`, and end with a null cursor on the last page."""

import uuid
from datetime import UTC, datetime

import pytest
from fastapi.exceptions import RequestValidationError
from sqlalchemy import Column, Integer, MetaData, Table, Text, create_engine, select

from leadloop.pagination import Keyset, decode_cursor, encode_cursor, page_of, parse_cursor


def test_a_cursor_round_trips_its_sort_key() -> None:
    key = ["2026-11-23T09:00:00+00:00", "f1d0c7de-0000-4000-8000-000000000001"]
    assert decode_cursor(encode_cursor(key), 2) == key


@pytest.mark.parametrize("bad", ["", "not base64 !!", encode_cursor(["only one"]),
                                 encode_cursor(["a", "b", "c"]), "eyJhIjogMX0"])
def test_a_cursor_we_did_not_make_is_a_422_naming_the_cursor(bad: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        decode_cursor(bad, 2)
    assert caught.value.errors()[0]["loc"] == ("query", "cursor")


def test_a_cursor_reads_back_as_its_typed_sort_key_and_a_mistyped_one_is_a_422() -> None:
    moment, entry = datetime(2026, 11, 23, 9, tzinfo=UTC), uuid.uuid4()
    key = (datetime.fromisoformat, uuid.UUID)
    assert parse_cursor(None, key) is None  # the first page
    assert parse_cursor(encode_cursor([moment.isoformat(), str(entry)]), key) == [moment, entry]
    for bad in (["yesterday", str(entry)], [moment.isoformat(), 42]):
        with pytest.raises(RequestValidationError) as caught:
            parse_cursor(encode_cursor(bad), key)
        assert caught.value.errors()[0]["loc"] == ("query", "cursor")


def test_pages_walk_every_row_once_and_the_last_has_no_cursor() -> None:
    rows = list(range(7))
    seen: list[int] = []
    after = -1
    while True:
        fetched = [r for r in rows if r > after][:3 + 1]  # what LIMIT limit + 1 returns
        kept, cursor = page_of(fetched, 3, lambda r: [r])
        seen += kept
        if cursor is None:
            break
        after = decode_cursor(cursor, 1)[0]
    assert seen == rows


# --- Keyset: the SQL every list route pages with, run on SQLite (row values, as PostgreSQL) ---

_metadata = MetaData()
_versions = Table("versions", _metadata, Column("key", Text, primary_key=True),
                  Column("version", Integer, primary_key=True))
_ROWS = [(key, version) for key in ("alpha", "beta", "gamma") for version in (1, 2, 3)]


def _walk(keyset: Keyset, limit: int) -> list[tuple[str, int]]:
    """Every row, page by page, following next_cursor to the end."""
    engine = create_engine("sqlite://")
    _metadata.create_all(engine)
    seen: list[tuple[str, int]] = []
    with engine.begin() as conn:
        conn.execute(_versions.insert(), [{"key": k, "version": v} for k, v in _ROWS])
        cursor = None
        for _ in range(len(_ROWS) + 1):
            rows = list(conn.execute(keyset.select(select(_versions), cursor, limit)))
            assert len(rows) <= limit + 1
            kept, cursor = keyset.page(rows, limit)
            seen += [(r.key, r.version) for r in kept]
            if cursor is None:
                return seen
    raise AssertionError("the pages never ended")


@pytest.mark.parametrize("limit", [1, 2, 4, 9, 50])
@pytest.mark.parametrize(("descending", "expected"), [
    (False, sorted(_ROWS)),
    (True, sorted(_ROWS, reverse=True)),
    ((False, True), sorted(_ROWS, key=lambda r: (r[0], -r[1]))),  # by key, newest version first
])
def test_keyset_pages_every_row_once_in_its_order(
        descending: bool | tuple[bool, ...], expected: list[tuple[str, int]], limit: int) -> None:
    keyset = Keyset((_versions.c.key, _versions.c.version), (str, int), descending)
    assert _walk(keyset, limit) == expected


def test_a_keyset_cursor_of_the_wrong_types_is_a_422_naming_the_cursor() -> None:
    keyset = Keyset((_versions.c.key, _versions.c.version), (str, int))
    assert keyset.after(encode_cursor(["beta", 2])) == ["beta", 2]
    with pytest.raises(RequestValidationError) as caught:
        keyset.after(encode_cursor(["beta", "not a version"]))
    assert caught.value.errors()[0]["loc"] == ("query", "cursor")
