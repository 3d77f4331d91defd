"""Who a rep-bound key stands for.

`resolve_rep_key` is handoff's `app.state.key_resolver` (see leadloop.auth): a key that is not
configured is looked up here by its hash, and stands for its rep.
"""

from fastapi import Request

from handoff.keys import repository
from leadloop.app import runtime_of
from leadloop.auth import Principal


def rep_key_name(rep_email: str, key_name: str) -> str:
    """How a rep key's actions are recorded: the rep's email and the key's name."""
    return f"rep:{rep_email}/{key_name}"


async def resolve_rep_key(request: Request, sha256: str) -> Principal | None:
    """The rep a live (unrevoked) key is bound to, as a Principal; None for an unknown key."""
    async with runtime_of(request).engine.connect() as conn:
        key = await repository.live_key(conn, sha256)
    if key is None:
        return None
    return Principal(name=rep_key_name(key.rep_email, key.name), scopes=frozenset(key.scopes),
                     rep_id=key.rep_id)
