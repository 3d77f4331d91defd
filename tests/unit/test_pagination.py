"""The one list convention: keyset cursors that round-trip, refuse forgeries with a 422 naming
`cursor`, and end with a null cursor on the last page."""

import pytest
from fastapi.exceptions import RequestValidationError

from leadloop.pagination import decode_cursor, encode_cursor, page_of


def test_a_cursor_round_trips_its_sort_key() -> None:
    key = ["2026-11-23T09:00:00+00:00", "f1d0c7de-0000-4000-8000-000000000001"]
    assert decode_cursor(encode_cursor(key), 2) == key


@pytest.mark.parametrize("bad", ["", "not base64 !!", encode_cursor(["only one"]),
                                 encode_cursor(["a", "b", "c"]), "eyJhIjogMX0"])
def test_a_cursor_we_did_not_make_is_a_422_naming_the_cursor(bad: str) -> None:
    with pytest.raises(RequestValidationError) as caught:
        decode_cursor(bad, 2)
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
