"""Idempotency-Key: a retried POST gets the first answer and creates nothing new."""

import hashlib
from typing import Any

from fastapi import HTTPException, Request, status
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from capture import forms_repository
from leadloop.db import UnitOfWork

HEADER = "Idempotency-Key"


def idempotency_key(request: Request) -> str | None:
    """The request's Idempotency-Key, checked for shape; None when absent."""
    key = request.headers.get(HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= 255 or not key.isprintable():
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {
            "detail": "request is invalid", "errors": [{
                "field": HEADER, "reason": "must be 1 to 255 printable characters",
                "type": "value_error"}]})
    return key


def request_fingerprint(request: Request, body: bytes) -> str:
    """What makes two requests 'the same request' for a key: method, path and body."""
    digest = hashlib.sha256(f"{request.method} {request.url.path}\n".encode())
    digest.update(body)
    return digest.hexdigest()


async def replay_if_seen(uow: UnitOfWork, scope: str, key: str | None,
                         fingerprint: str) -> Response | None:
    """Claim `key` in this transaction, or the stored first answer when it was used before."""
    if key is None:
        return None
    row = await forms_repository.claim_idempotency_key(uow.connection, scope, key, fingerprint)
    if row is None:
        return None
    return replay(row.request_sha256, row.status_code, row.response, fingerprint)


def replay(first_sha256: str, status_code: int, stored: dict[str, Any], fingerprint: str
           ) -> Response:
    """The first answer for a key used before; 422 when this is a different request."""
    if first_sha256 != fingerprint:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {
            "detail": "request is invalid", "errors": [{
                "field": HEADER, "reason": "this key was already used with a different request",
                "type": "idempotency_key_reused"}]})
    response = to_response(status_code, stored)
    response.headers["Idempotent-Replayed"] = "true"
    return response


async def remember(uow: UnitOfWork, scope: str, key: str | None, status_code: int,
                   stored: dict[str, Any]) -> None:
    """Store the answer for a claimed key (same transaction as the work it describes)."""
    if key is not None:
        await forms_repository.store_idempotent_response(uow.connection, scope, key,
                                                         status_code, stored)


def to_response(status_code: int, stored: dict[str, Any]) -> Response:
    """Rebuild an answer from its stored form: JSON, a redirect or a thank-you page."""
    kind = stored.get("kind")
    if kind == "redirect":
        return RedirectResponse(stored["location"], status_code=status_code)
    if kind == "html":
        return HTMLResponse(stored["html"], status_code=status_code)
    return JSONResponse(stored["body"], status_code=status_code)
