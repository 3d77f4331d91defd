"""Every exception outcomes raises: its domain's refusals, each turned into a 4xx at the router."""


class DealRefused(Exception):
    """A report the deal cannot take (a closed deal changing, a deal of an erased lead)."""


class LeadNotFound(Exception):
    """Outcomes has never heard of this lead (or it was erased)."""


class ClosureRefused(Exception):
    """The lead cannot be closed as asked (closed otherwise already, won, erased)."""


class DigestJustSent(Exception):
    """A digest was sent now within the same millisecond (its period key is taken)."""
