"""Every exception capture raises of its own."""

from fastapi import HTTPException, status


class SubmissionInvalid(Exception):
    """A submission that cannot become a lead; `errors` name each field and reason."""

    def __init__(self, errors: list[dict[str, str]]) -> None:
        super().__init__("; ".join(f"{e['field']}: {e['reason']}" for e in errors))
        self.errors = errors


class NotFound(HTTPException):
    """An activity about a lead capture does not know (a 404 for that activity alone)."""

    def __init__(self, detail: str) -> None:
        super().__init__(status.HTTP_404_NOT_FOUND, detail)


class MergeNotFound(LookupError):
    """A lead or merge named by a merge request that capture does not know (404)."""


class MergeRefused(Exception):
    """A merge or undo that would contradict what is stored: merged already, undone already
    (409)."""
