"""Every exception handoff raises: domain refusals (a sales action its status does not allow),
access (a lead the caller may not see), and lookups that found nothing. Routers map them to 4xx."""


# --- sales actions and access


class SalesActionRefused(Exception):
    """A sales action refused, with a reason a person can read (the API answers 403, 404, 409
    or 422 by its kind; the sales page shows the reason)."""


class TransitionNotAllowed(SalesActionRefused):
    """A sales action that the assignment's current status does not allow."""


class AssignmentNotFound(SalesActionRefused):
    """No assignment has this id."""


class NotYourLead(SalesActionRefused):
    """The caller's rep neither holds this lead nor manages whoever does."""


class NotAManager(SalesActionRefused):
    """Only a manager (a rep with reports, or a sales:manage key) may do this."""


class UnknownRep(Exception):
    """The key is bound to a rep that no longer exists."""


# --- reps


class RepNotFound(Exception):
    """No rep has this id."""


class DuplicateRepEmail(Exception):
    """Another rep already has this email."""


class InvalidManager(Exception):
    """The manager named is not a rep (or is the rep itself)."""


# --- routing and manual assignment


class RoutingConflict(Exception):
    """A lead got an open assignment from elsewhere while this batch routed it; the batch
    rolls back and is applied again (and then finds the assignment)."""


class LeadNotQualified(SalesActionRefused):
    """Handoff holds no copy of this lead: it never qualified (or was erased)."""


class AssigneeNotAllowed(SalesActionRefused):
    """The rep named cannot get the lead (unknown, inactive, or outside the manager's teams)."""


class AlreadyHeld(SalesActionRefused):
    """The rep named already holds the lead."""


# --- webhooks


class SubscriberNotFound(Exception):
    """No subscriber has this id."""
