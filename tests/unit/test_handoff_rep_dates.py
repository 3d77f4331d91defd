"""A rep's absence bounds must convert to UTC within the years the database driver holds."""

import pytest
from pydantic import ValidationError

from handoff.reps.schemas import RepIn, RepPatch

REP = {"name": "Ada", "email": "ada@example.com", "team": "default", "capacity": 5}


@pytest.mark.parametrize(("field", "value"), [("out_of_office_to", "9999-12-31T23:59:59-12:00"),
                                              ("out_of_office_from", "0001-01-01T00:00:00+14:00")])
def test_absence_outside_utc_years_is_refused_naming_the_field(field: str, value: str) -> None:
    for model, body in ((RepIn, REP), (RepPatch, {})):
        with pytest.raises(ValidationError) as refused:
            model.model_validate({**body, field: value})
        assert refused.value.errors()[0]["loc"] == (field,)


def test_absence_within_range_is_kept() -> None:
    rep = RepIn.model_validate({**REP, "out_of_office_from": "2026-05-01T00:00:00+02:00",
                                "out_of_office_to": "2026-05-08T00:00:00+02:00"})
    assert rep.out_of_office_to is not None
