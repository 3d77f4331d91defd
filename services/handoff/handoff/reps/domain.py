"""What adding or changing a rep takes, as the use cases see it (no HTTP models here)."""

from typing import Any, Protocol
from uuid import UUID


class NewRep(Protocol):
    """A rep to add: its columns, checked (the router's RepIn is one)."""

    @property
    def manager_id(self) -> UUID | None:
        """The rep's manager, if any (a rep, not itself)."""

    def columns(self) -> dict[str, Any]:
        """The rep's stored columns."""


class RepChange(Protocol):
    """A change to a rep: only the fields given (the router's RepPatch is one)."""

    def changes(self) -> dict[str, Any]:
        """The stored columns to change."""
