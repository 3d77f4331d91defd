"""Idempotency-Key: a retried POST gets the first answer and creates nothing new."""

import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
from fastapi import Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from capture.exceptions import InputInvalid
from capture.idempotency import repository
from capture.idempotency.repository import StoredAnswer
from leadloop.app import Runtime
from leadloop.db import UnitOfWork

HEADER = "Idempotency-Key"
# Ids of what a keyed request creates are derived from its key (uuid5 in this namespace).
_IDS = uuid.UUID("6f1d9c52-3c0e-4d7e-9a59-2f0b8f6c1e4a")


@dataclass(frozen=True)
class Claim:
    """A request's Idempotency-Key: where it applies, the key, and what the request was."""

    scope: str
    key: str
    fingerprint: str


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, checked for shape; None when absent."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise InputInvalid([{"field": HEADER, "reason": "must be 1 to 255 printable characters",
                             "type": "value_error"}])
    return key


def request_fingerprint(request: Request, body: bytes) -> str:
    """What makes two requests 'the same request' for a key: method, path and body."""
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


async def claim_of(request: Request) -> tuple[str | None, str]:
    """The request's Idempotency-Key (checked; None when absent) and its fingerprint."""
    key = idempotency_key(request)
    return key, request_fingerprint(request, await request.body())


async def replay_if_seen(uow: UnitOfWork, scope: str, key: str | None,
                         fingerprint: str) -> Response | None:
    """Claim `key` in this transaction, or the stored first answer when it was used before."""
    if key is None:
        return None
    first = await _claim(await uow.driver(), scope, key, fingerprint)
    if first is None:
        return None
    return replay(first, fingerprint)


async def _claim(db: asyncpg.Connection, scope: str, key: str, fingerprint: str
                 ) -> StoredAnswer | None:
    """Claim one key: None when it is this request's, else what its first request got."""
    return (await repository.claim_keys(db, [(scope, key, fingerprint)])).get((scope, key))


async def replays(db: asyncpg.Connection, claims: list[Claim | None]
                  ) -> list[Response | InputInvalid | None]:
    """Claim every key of a batch; per request, the first answer (or the 422) when its key was
    used before, None when it is this request's to answer."""
    taken = await repository.claim_keys(
        db, [(c.scope, c.key, c.fingerprint) for c in claims if c is not None])
    results: list[Response | InputInvalid | None] = []
    for claim in claims:
        first = taken.get((claim.scope, claim.key)) if claim is not None else None
        if first is None or claim is None:
            results.append(None)
            continue
        try:
            results.append(replay(first, claim.fingerprint))
        except InputInvalid as exc:
            results.append(exc)
    return results


@dataclass
class Answers:
    """The answers of a batch's keyed requests, stored together at the end of the batch."""

    pending: list[tuple[str, str, int, dict[str, Any]]]

    def add(self, claim: Claim | None, status_code: int, stored: dict[str, Any]) -> None:
        """Remember `stored` for the request's key (nothing for a request without one)."""
        if claim is not None:
            self.pending.append((claim.scope, claim.key, status_code, stored))

    async def store(self, db: asyncpg.Connection) -> None:
        """Store every answer added (same transaction as the work they describe)."""
        await repository.store_answers(db, self.pending)


def replay(first: StoredAnswer, fingerprint: str) -> Response:
    """The first answer for a key used before; 422 when this is a different request."""
    refuse_other_request(first.request_sha256, fingerprint)
    # A key whose request stored no answer is claimed anew (claim_apart) or waited for: an
    # answer replayed here always has its status.
    response = to_response(first.status_code or status.HTTP_200_OK, first.response or {})
    response.headers["Idempotent-Replayed"] = "true"
    return response


def refuse_other_request(first_sha256: str, fingerprint: str) -> None:
    """422 naming the header when a key comes back with a request other than its first."""
    if first_sha256 != fingerprint:
        raise InputInvalid([{"field": HEADER,
                             "reason": "this key was already used with a different request",
                             "type": "idempotency_key_reused"}])


async def remember(uow: UnitOfWork, scope: str, key: str | None, status_code: int,
                   stored: dict[str, Any]) -> None:
    """Store the answer for a claimed key (same transaction as the work it describes)."""
    if key is not None:
        await repository.store_answers(await uow.driver(), [(scope, key, status_code, stored)])


def to_response(status_code: int, stored: dict[str, Any]) -> Response:
    """Rebuild an answer from its stored form: JSON, a redirect or a thank-you page."""
    kind = stored.get("kind")
    if kind == "redirect":
        return RedirectResponse(stored["location"], status_code=status_code)
    if kind == "html":
        return HTMLResponse(stored["html"], status_code=status_code)
    return JSONResponse(stored["body"], status_code=status_code)


async def answer_once(request: Request, uow: UnitOfWork, scope: str, status_code: int,
                      work: Callable[[UnitOfWork], Awaitable[dict[str, Any]]]) -> Response:
    """Do `work` (its JSON answer returned) in one transaction with the request's
    Idempotency-Key claimed and its answer stored; a retry with the key gets the first answer
    and does nothing. The admin POSTs that create something go through here; a refused key
    (InputInvalid) is answered by the app's handler (capture.exceptions)."""
    key, fingerprint = await claim_of(request)
    async with uow:
        first = await replay_if_seen(uow, scope, key, fingerprint)
        if first is not None:
            return first
        answer = await work(uow)
        await remember(uow, scope, key, status_code, {"kind": "json", "body": answer})
        await uow.commit()
    return JSONResponse(answer, status_code=status_code)


def derived_id(scope: str, key: str, index: int = 0) -> uuid.UUID:
    """The id of the `index`th thing a keyed request creates: the same on every retry, so a
    retry's insert finds the first one's row (ON CONFLICT) instead of adding another."""
    return uuid.uuid5(_IDS, f"{scope}\n{key}\n{index}")


async def claim_apart(runtime: Runtime, scope: str, key: str | None, fingerprint: str
                      ) -> Response | None:
    """Claim `key` in a transaction of its own, for work that is safe to do twice because it
    writes rows whose ids are `derived_id`s of the key (activities: one request can span
    several group commits). None to go ahead: a first use, or an earlier try that stored no
    answer (it failed or is still running; redoing it adds nothing). Otherwise the stored first
    answer; 422 for a different request with this key."""
    if key is None:
        return None
    async with runtime.unit_of_work() as uow:
        first = await _claim(await uow.driver(), scope, key, fingerprint)
        await uow.commit()
    if first is None:
        return None
    if first.response is None:
        refuse_other_request(first.request_sha256, fingerprint)
        return None
    return replay(first, fingerprint)


async def remember_apart(runtime: Runtime, scope: str, key: str | None, status_code: int,
                         stored: dict[str, Any]) -> None:
    """Store the answer for a key claimed with `claim_apart`."""
    if key is None:
        return
    async with runtime.unit_of_work() as uow:
        await remember(uow, scope, key, status_code, stored)
        await uow.commit()
