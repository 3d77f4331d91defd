"""Every exception capture raises of its own, and how HTTP answers a refused request.

A `Refused` is raised where the refusal is decided (reading a body, checking an
Idempotency-Key, gathering an export) and answered at the top: by the app's handler for every
Refusal, or by a route that adds headers of its own (CORS) calling `refusal_response`; both
make the problem document (RFC 9457) an HTTP error with the same status and detail would.
"""

from leadloop.problems import Refusal


class Refused(Refusal):
    """A request capture refuses (leadloop.problems.Refusal: the app answers it)."""


class InputInvalid(Refused):
    """Content refused (422); `errors` name each field and reason."""

    errors: list[dict[str, str]]

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__()
        self.errors = errors

    def __str__(self) -> str:
        return "; ".join(f"{e['field']}: {e['reason']}" for e in self.errors)


class SubmissionInvalid(InputInvalid):
    """A submission that cannot become a lead; `errors` name each field and reason."""


class BodyTooLarge(Refused):
    """A body larger than its form allows (413)."""

    status_code = 413

    def __init__(self, limit: int) -> None:
        super().__init__(f"body is larger than this form's limit of {limit} bytes")


class UnsupportedContentType(Refused):
    """A body of a media type capture does not read (415); the detail lists those it reads."""

    status_code = 415


class PeersUnavailable(Refused):
    """Services that did not answer an export (503, retry shortly); `errors` name each one
    and what went wrong."""

    status_code = 503
    detail = "could not gather every service's data; retry shortly"

    def __init__(self, failed: dict[str, str]) -> None:
        super().__init__()
        self.errors = [{"field": service, "reason": reason, "type": "unavailable"}
                       for service, reason in sorted(failed.items())]
        self.headers = {"Retry-After": "5"}


class NotFound(Refused):
    """An activity about a lead capture does not know (a 404 for that activity alone)."""

    status_code = 404


class MergeNotFound(Refused):
    """A lead or merge named by a merge request that capture does not know (404)."""

    status_code = 404


class MergeRefused(Refused):
    """A merge or undo that would contradict what is stored: merged already, undone already
    (409)."""

    status_code = 409
