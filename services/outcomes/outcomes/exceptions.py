"""Every exception outcomes raises, and the two ways a router turns them into HTTP answers:
a refusal is a 409 naming its reason, a missing thing a 404."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TypeVar

from fastapi import HTTPException, status

T = TypeVar("T")


class Refused(Exception):
    """A request the current state cannot take; its message says why (a 409)."""


class DealRefused(Refused):
    """A report the deal cannot take (a closed deal changing, a deal of an erased lead)."""


class ClosureRefused(Refused):
    """The lead cannot be closed as asked (closed otherwise already, won, erased)."""


class DigestJustSent(Refused):
    """A digest was sent now within the same millisecond (its period key is taken)."""


class LeadNotFound(Exception):
    """Outcomes has never heard of this lead (or it was erased)."""


@contextmanager
def refusals_as_conflict() -> Iterator[None]:
    """Inside it, a Refused becomes a 409 whose detail is the refusal's reason."""
    try:
        yield
    except Refused as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc


def found(value: T | None, detail: str) -> T:
    """`value`, or a 404 with `detail` when there is none."""
    if value is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail)
    return value
