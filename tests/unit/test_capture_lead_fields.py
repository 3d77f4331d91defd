"""What capture makes of the company sizes and countries real forms, lists and CRMs send."""

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from capture.leads.countries import country_code
from capture.leads.validation import LeadIn


def size(value: object) -> int | None:
    return LeadIn.model_validate({"email": "a@b.example", "company_size": value}).company_size


@pytest.mark.parametrize(("written", "stored"), [
    (1200, 1200), ("1200", 1200), (" 42 ", 42), ("1,200", 1200), ("1 200", 1200),
    ("10k", 10_000), ("10K+", 10_000), ("1000+", 1000), ("10,001+", 10_001),
    ("51-200", 51), ("51 - 200", 51), ("51\u2013200", 51), ("51 to 200", 51),
    ("11-50 employees", 11), ("2-10 Employees", 2), ("", None), (None, None),
])
def test_a_head_count_is_read_as_forms_and_crms_write_it(written: object, stored: int) -> None:
    assert size(written) == stored


@pytest.mark.parametrize("written", ["1.200", "12,34", "abc", "-5", "200-51", "about 50",
                                     "20000000", 7.5, "1" * 5000,
                                     # a pattern with runs of optional spaces took minutes
                                     "1" + " " * 5000 + "x"])
def test_a_size_that_is_no_head_count_is_refused_naming_the_field(written: object) -> None:
    with pytest.raises(ValidationError) as refused:
        size(written)
    assert refused.value.errors()[0]["loc"] == ("company_size",)


@given(st.integers(min_value=0, max_value=9_999), st.integers(min_value=0, max_value=9_999))
def test_a_range_is_stored_as_its_lower_bound(low: int, extra: int) -> None:
    # The least the company can be: its size band stays the one given, and an "at least N"
    # scoring rule never reads more than the form said.
    assert size(f"{low:,}-{low + extra:,}") == low
    assert size(f"{low:,}+") == low


@pytest.mark.parametrize(("written", "code"), [
    ("DE", "DE"), ("de", "DE"), ("U.S.", "US"), ("U.S.A.", "US"), ("UK", "GB"),
    ("United States of America", "US"), ("Deutschland", "DE"), ("Brasil", "BR"),
    ("España", "ES"), ("Espana", "ES"), ("Österreich", "AT"), ("Schweiz", "CH"),
    ("Korea, Republic of", "KR"), ("Korea, Democratic People's Republic of", "KP"),
    ("Iran, Islamic Republic of", "IR"), ("Congo, The Democratic Republic of the", "CD"),
    ("Virgin Islands, British", "VG"), ("Lao People's Democratic Republic", "LA"),
    ("Côte d\u2019Ivoire", "CI"), ("Niger", "NE"), ("Nigeria", "NG"), ("Austria", "AT"),
    ("Australia", "AU"),
])
def test_a_country_is_read_from_its_code_or_its_name(written: str, code: str) -> None:
    assert country_code(written) == code


@pytest.mark.parametrize("written", ["Atlantis", "XX", "Nowhere, Republic of", ""])
def test_an_unknown_country_is_refused_listing_the_codes(written: str) -> None:
    with pytest.raises(ValueError, match="valid codes"):
        country_code(written)
