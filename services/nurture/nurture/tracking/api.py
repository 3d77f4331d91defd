"""Nurture's public routes, reached from emails: open pixel, click redirect, unsubscribe.

They carry no API key (a mail reader has none); signed tokens (nurture.tracking.tokens) stand in.
Each client IP may make `public_per_ip_per_minute` requests to them in any sliding minute
(counted across replicas, leadloop.ratelimit); past it, 429 with Retry-After.
"""

import base64

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from leadloop import ratelimit
from leadloop.app import Runtime, get_runtime, runtime_of, settings_of, unit_of_work
from leadloop.db import UnitOfWork
from leadloop.security import html_policy
from leadloop.templates import Templates
from nurture.config import NurtureSettings
from nurture.tracking import service
from nurture.tracking.tokens import read_click_token, read_token


async def limit_per_ip(request: Request, runtime: Runtime = Depends(get_runtime)) -> None:
    """429 with Retry-After when this client IP calls the public routes too often."""
    settings = settings_of(runtime, NurtureSettings)
    ip = request.client.host if request.client else "unknown"
    wait = await ratelimit.hit(runtime.engine, [
        ratelimit.Limit(f"public:ip:{ip}", settings.public_per_ip_per_minute)])
    if wait:
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS,
                            "too many requests from this address; retry later",
                            headers={"Retry-After": str(wait)})


router = APIRouter(tags=["tracking"], dependencies=[Depends(limit_per_ip)])

PIXEL = base64.b64decode("R0lGODlhAQABAIAAAAAAAP///yH5BAEAAAAALAAAAAABAAEAAAIBRAA7")
_NO_CACHE = {"Cache-Control": "no-store, private"}


def _secret(request: Request) -> str:
    return settings_of(runtime_of(request), NurtureSettings).link_secret


TEMPLATES = Templates("nurture")
_CSS = TEMPLATES.static("page.css")
# The pages' one inline block is the stylesheet, allowed by its hash (no 'unsafe-inline').
_PAGE_HEADERS = {**_NO_CACHE, "Content-Security-Policy": html_policy(styles=[_CSS])}


def _page(title: str, message: str, code: int = 200, template: str = "page.html",
          **context: str) -> HTMLResponse:
    return HTMLResponse(TEMPLATES.render(template, css=_CSS, title=title, message=message,
                                         **context),
                        status_code=code, headers=_PAGE_HEADERS)


@router.get("/o/{token}.gif", include_in_schema=False)
async def open_pixel(token: str, request: Request,
                     uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """A 1x1 GIF; loading it records email_opened (invalid tokens get the GIF, nothing else)."""
    message_id = read_token(_secret(request), "open", token)
    if message_id is not None:
        async with uow:
            if await service.track(uow, message_id, "email_opened", None):
                await uow.commit()
    return Response(PIXEL, media_type="image/gif", headers=_NO_CACHE)


@router.get("/c/{token}", include_in_schema=False)
async def click(token: str, request: Request,
                uow: UnitOfWork = Depends(unit_of_work)) -> Response:
    """Record email_clicked, then redirect to the target stored with the message under the
    token's link number: a link can lead nowhere else."""
    link = read_click_token(_secret(request), token)
    if link is not None:
        async with uow:
            url = await service.click(uow, *link)
            if url is not None:
                await uow.commit()
                return RedirectResponse(url, status_code=status.HTTP_302_FOUND,
                                        headers=_NO_CACHE)
    return _page("Link not valid", "This link is broken or was changed.", 404)


@router.get("/c", include_in_schema=False)
async def old_click() -> HTMLResponse:
    """Links of the old form (`/c?m=&u=&s=`, the target in the link) are refused: their target
    was never stored, and redirecting to a URL a link names is an open redirect."""
    return _page("Link expired", "This link is no longer valid.", 410)


@router.get("/u/{token}", include_in_schema=False)
async def unsubscribe_page(token: str, request: Request) -> HTMLResponse:
    """The confirmation page behind the unsubscribe link: one button, no login."""
    if read_token(_secret(request), "unsubscribe", token) is None:
        return _page("Link not valid", "This unsubscribe link is broken.", 404)
    return _page("Unsubscribe", "", template="unsubscribe.html", token=token)


@router.post("/u/{token}", include_in_schema=False)
async def unsubscribe(token: str, request: Request,
                      uow: UnitOfWork = Depends(unit_of_work)) -> HTMLResponse:
    """One-click unsubscribe (RFC 8058 POST from the mail client, or the page's button)."""
    message_id = read_token(_secret(request), "unsubscribe", token)
    if message_id is None:
        return _page("Link not valid", "This unsubscribe link is broken.", 404)
    async with uow:
        known = await service.unsubscribe(uow, message_id)
        await uow.commit()
    # An unknown message (the person was erased meanwhile) has nobody left to mail.
    del known
    return _page("You are unsubscribed", "You will get no more marketing email from us.")
