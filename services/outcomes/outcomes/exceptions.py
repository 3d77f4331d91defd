"""Every exception outcomes raises. A refusal (leadloop.problems.Refusal) is answered by the
app: a 409 naming its reason, a missing thing a 404."""

from typing import TypeVar

from leadloop.problems import Refusal

T = TypeVar("T")


class Refused(Refusal):
    """A request the current state cannot take; its message says why (a 409)."""

    status_code = 409


class DealRefused(Refused):
    """A report the deal cannot take (a closed deal changing, a deal of an erased lead)."""


class ClosureRefused(Refused):
    """The lead cannot be closed as asked (closed otherwise already, won, erased)."""


class DigestJustSent(Refused):
    """A digest was sent now within the same millisecond (its period key is taken)."""


class LeadNotFound(Exception):
    """Outcomes has never heard of this lead (or it was erased)."""


class NotFound(Refusal):
    """What a request names is not there (a 404 saying what)."""

    status_code = 404


def found(value: T | None, detail: str) -> T:
    """`value`, or NotFound with `detail` when there is none."""
    if value is None:
        raise NotFound(detail)
    return value
