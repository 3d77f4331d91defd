"""Admin endpoints over a consuming service's dead letters (what the CLI does, over HTTP)."""

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status

from leadloop.auth import require_scope
from leadloop.dead_letters import (
    OffsetPastEnd,
    get_dead_letter,
    list_dead_letters,
    purge_dead_letters,
    replay_dead_letter,
)
from leadloop.pagination import Page, cursor_query, encode_cursor, limit_query, parse_cursor


def _offset(value: Any) -> int:
    """A cursor's Kafka offset: a whole number, never negative."""
    if not isinstance(value, int) or value < 0:
        raise ValueError(f"{value!r} is not an offset")
    return value


def dead_letters_router(service: str) -> APIRouter:
    """Routes under /v1/dead-letters for `service` (admin scope)."""
    router = APIRouter(prefix="/v1/dead-letters", tags=["dead letters"],
                       dependencies=[Depends(require_scope("admin"))])

    def bootstrap(request: Request) -> str:
        return request.app.state.settings.kafka  # type: ignore[no-any-return]

    @router.get("", response_model=Page[dict[str, Any]])
    async def list_letters(request: Request,
                           from_offset: int = Query(0, ge=0, description="start at this offset"),
                           limit: int = limit_query(), cursor: str | None = cursor_query(),
                           ) -> Page[dict[str, Any]]:
        """Dead letters, oldest first: event, error and where it came from; in the shared
        envelope (`items`, `next_cursor`)."""
        if (after := parse_cursor(cursor, (_offset,))) is not None:
            from_offset = after[0] + 1
        letters = await list_dead_letters(bootstrap(request), service, from_offset=from_offset,
                                          limit=limit + 1)
        kept = letters[:limit]
        return Page[dict[str, Any]](
            items=[letter.summary() for letter in kept],
            next_cursor=encode_cursor([kept[-1].offset]) if len(letters) > limit else None)

    @router.get("/{offset}")
    async def show_letter(request: Request, offset: int) -> dict[str, object]:
        """One dead letter with its full value and headers."""
        letter = await get_dead_letter(bootstrap(request), service, offset)
        if letter is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no dead letter at this offset")
        return letter.detail()

    @router.post("/{offset}/replay", status_code=status.HTTP_202_ACCEPTED)
    async def replay_letter(request: Request, offset: int) -> dict[str, object]:
        """Send the original event back to its topic; the consumer handles it anew."""
        letter = await get_dead_letter(bootstrap(request), service, offset)
        if letter is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, "no dead letter at this offset")
        if not letter.source_topic:
            raise HTTPException(status.HTTP_409_CONFLICT, "this dead letter names no source")
        await replay_dead_letter(request.app.state.runtime.producer, letter)
        return {"replayed": offset, "to": letter.source_topic}

    @router.delete("", status_code=status.HTTP_204_NO_CONTENT)
    async def purge_letters(request: Request,
                            before_offset: int = Query(..., ge=0)) -> Response:
        """Delete every dead letter below `before_offset`."""
        try:
            await purge_dead_letters(bootstrap(request), service, before_offset)
        except OffsetPastEnd as exc:
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    return router
