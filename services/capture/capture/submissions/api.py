"""Public form routes: submissions (browser or API client), CORS, embed script, tracking."""

import hmac
import uuid
from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request, status
from fastapi.responses import JSONResponse, Response
from prometheus_client import Counter

from capture.activities.api import accepted_answer, activity_request
from capture.activities.schemas import ActivityAccepted, ActivityIn
from capture.config import CaptureSettings
from capture.exceptions import Refused, SubmissionInvalid
from capture.forms.definition import FormConfigIn
from capture.forms.reference import find_form
from capture.idempotency import service as idempotency
from capture.idempotency.service import Claim
from capture.leads.plan import LeadWrite
from capture.submissions.body import content_type_of, parse_body, read_limited
from capture.submissions.domain import (
    map_submission,
    spam_reason,
    unverified_reason,
    wants_html,
)
from capture.submissions.embed import render_embed_script
from capture.submissions.service import SubmissionRequest
from capture.writes.writers import writers
from leadloop import ratelimit
from leadloop.app import Runtime, get_runtime, settings_of
from leadloop.auth import find_principal, hash_key
from leadloop.events.models import LeadSource, event_time_now
from leadloop.observability import current_traceparent
from leadloop.problems import from_http_exception, refusal_response

router = APIRouter(prefix="/v1/forms", tags=["submissions"])
SUBMISSIONS = Counter("capture_form_submissions", "Form submissions by outcome",
                      ["outcome"])


def token_secret(runtime: Runtime) -> bytes:
    """The secret that signs fill-time tokens (required at start: ServiceSettings.require_secrets;
    random per process only in dev mode)."""
    return settings_of(runtime, CaptureSettings).form_token_secret.encode()


def cors_headers(form: FormConfigIn, origin: str | None) -> dict[str, str]:
    """CORS headers for an allowed origin; 403 for a browser on any other origin."""
    if origin is None:
        return {}
    if not form.allows_origin(origin):
        raise HTTPException(status.HTTP_403_FORBIDDEN,
                            f"origin '{origin[:200]}' may not submit to this form")
    return {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}


async def load_form(runtime: Runtime, form_id: str) -> tuple[FormConfigIn, str]:
    """A form's config and key hash (from memory); 404 when unknown."""
    loaded = await find_form(runtime, form_id)
    if loaded is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no form with this id")
    return loaded.config, loaded.key_sha256


def authorize(runtime: Runtime, request: Request, key_sha256: str, body: dict[str, Any]) -> bool:
    """The form's own public key (True: a public caller), or an API key with leads:write
    (False); 401/403 otherwise."""
    form_key = request.headers.get("x-form-key") or request.query_params.get("key")
    if form_key is None and isinstance(body.get("_form_key"), str):
        form_key = body["_form_key"]
    if form_key:
        if not hmac.compare_digest(hash_key(form_key), key_sha256):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this key is not this form's key")
        return True
    api_key = request.headers.get("x-api-key")
    if api_key:
        principal = find_principal(api_key, runtime.settings.api_keys)
        if principal is None:
            raise HTTPException(status.HTTP_401_UNAUTHORIZED, "unknown API key")
        if not principal.has("leads:write"):
            raise HTTPException(status.HTTP_403_FORBIDDEN, "this key lacks 'leads:write'")
        return False
    raise HTTPException(status.HTTP_401_UNAUTHORIZED,
                        "a form key (X-Form-Key or _form_key) or an API key is required")


async def rate_limit(runtime: Runtime, request: Request, form_id: str, form: FormConfigIn,
                     kind: str = "submit") -> None:
    """429 with Retry-After when this IP or this form sends too much (per kind of request),
    counted across every replica."""
    ip = request.client.host if request.client else "unknown"
    wait = await ratelimit.hit(runtime.engine, [
        ratelimit.Limit(f"{kind}:ip:{form_id}:{ip}", form.spam.per_ip_per_minute),
        ratelimit.Limit(f"{kind}:form:{form_id}", form.spam.per_form_per_minute)])
    if wait:
        SUBMISSIONS.labels("rate_limited").inc()
        raise HTTPException(status.HTTP_429_TOO_MANY_REQUESTS, "too many submissions; retry "
                            "later", headers={"Retry-After": str(wait)})


def _with_headers(response: Response, headers: dict[str, str]) -> Response:
    response.headers.update(headers)
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


@router.options("/{form_id}/submissions", include_in_schema=False)
@router.options("/{form_id}/activities", include_in_schema=False)
async def preflight(form_id: str, request: Request,
                    runtime: Runtime = Depends(get_runtime)) -> Response:
    """CORS preflight: allowed only from the form's origins."""
    form, _ = await load_form(runtime, form_id)
    headers = cors_headers(form, request.headers.get("origin"))
    headers.update({"Access-Control-Allow-Methods": "POST",
                    "Access-Control-Allow-Headers": "content-type, idempotency-key, x-form-key",
                    "Access-Control-Max-Age": "600"})
    return Response(status_code=status.HTTP_204_NO_CONTENT, headers=headers)


@router.post("/{form_id}/submissions", status_code=201, response_model=None,
             responses={303: {"description": "browser: see the form's redirect URL"}})
async def submit(form_id: str, request: Request,
                 runtime: Runtime = Depends(get_runtime)) -> Response:
    """A form post from a browser (303 to the redirect URL) or an API client (JSON)."""
    headers: dict[str, str] = {}
    try:
        form, key_sha256 = await load_form(runtime, form_id)
        headers = cors_headers(form, request.headers.get("origin"))
        media_type = content_type_of(request)
        raw = await read_limited(request, form.max_body_bytes)
        body = await parse_body(request, media_type, raw)
        public = authorize(runtime, request, key_sha256, body)
        await rate_limit(runtime, request, form_id, form)
        key = idempotency.idempotency_key(request)
        claim = None if key is None else Claim(
            f"form:{form_id}", key, idempotency.request_fingerprint(request, raw))
        browser = wants_html(media_type, request.headers.get("accept", ""))
        prepared = _prepare(runtime, form_id, form, body, browser, public)
        prepared.claim = claim
        answered = await writers(runtime).submissions.submit(prepared)
    except HTTPException as exc:
        return from_http_exception(exc, request.url.path, headers)
    except Refused as exc:
        return refusal_response(exc, request.url.path, headers)
    if answered.outcome is not None:
        SUBMISSIONS.labels(answered.outcome).inc()
    return _with_headers(answered.response, headers)


def _prepare(runtime: Runtime, form_id: str, form: FormConfigIn, body: dict[str, Any],
             browser: bool, public: bool) -> SubmissionRequest:
    """A submission checked for spam and validated against its form (no database); 422
    naming each bad field."""
    payload = {k: v for k, v in body.items() if k != "_form_key"}
    now = event_time_now()
    prepared = SubmissionRequest(form_id=form_id, form=form, browser=browser, payload=payload,
                                 now=now, traceparent=current_traceparent(), public=public)
    reason = spam_reason(form_id, form, body, token_secret(runtime))
    if reason is not None:
        prepared.spam_reason = reason
        return prepared
    prepared.unverified_reason = unverified_reason(form_id, form, body, token_secret(runtime))
    try:
        mapped = map_submission(form_id, form, body, now)
    except SubmissionInvalid:
        SUBMISSIONS.labels("invalid").inc()
        raise
    prepared.write = LeadWrite.of(mapped.lead, form_id=form_id, public=public)
    prepared.visitor_id = mapped.visitor_id
    return prepared


@router.post("/{form_id}/activities", response_model=ActivityAccepted,
             status_code=202)
async def track(form_id: str, request: Request, runtime: Runtime = Depends(get_runtime)
                ) -> Response:
    """The embed script's tracking beacon: page views of a (so far anonymous) visitor."""
    headers: dict[str, str] = {}
    try:
        form, key_sha256 = await load_form(runtime, form_id)
        headers = cors_headers(form, request.headers.get("origin"))
        if content_type_of(request) != "application/json":
            raise HTTPException(status.HTTP_415_UNSUPPORTED_MEDIA_TYPE, "send JSON")
        raw = await read_limited(request, 16_384)
        body = await parse_body(request, "application/json", raw)
        public = authorize(runtime, request, key_sha256, body)
        await rate_limit(runtime, request, form_id, form, kind="track")
        event = _tracked(body)
        scope, key = f"track:{form_id}", idempotency.idempotency_key(request)
        replay = await idempotency.claim_apart(runtime, scope, key,
                                               idempotency.request_fingerprint(request, raw))
        if replay is not None:
            return _with_headers(replay, headers)
        recorded = await writers(runtime).activities.submit(activity_request(
            event, event_time_now(),
            uuid.uuid4() if key is None else idempotency.derived_id(scope, key)))
        answer = accepted_answer(recorded).model_dump(mode="json")
        if public:  # which lead a visitor turned out to be is not the visitor's to learn
            answer["lead_id"] = None
        await idempotency.remember_apart(runtime, scope, key, 202,
                                         {"kind": "json", "body": answer})
    except HTTPException as exc:
        return from_http_exception(exc, request.url.path, headers)
    except Refused as exc:
        return refusal_response(exc, request.url.path, headers)
    return _with_headers(JSONResponse(answer, status_code=202), headers)


def _tracked(body: dict[str, Any]) -> ActivityIn:
    """A page view from the embed script; only visitor-scoped kinds are accepted here."""
    seconds = str(body.get("seconds_on_page") or "0")
    source = {k: str(body[k])[:2000] for k in ("utm_source", "utm_medium", "utm_campaign",
                                               "utm_term", "utm_content") if body.get(k)}
    try:
        return ActivityIn(
            kind="page_view", visitor_id=str(body.get("_visitor_id") or "") or None,
            url=str(body.get("url") or "")[:2000] or None,
            seconds_on_page=int(seconds) if seconds.isdigit() else None,
            source=LeadSource(channel="tracking", referrer=str(body.get("_referrer") or "")
                              [:2000] or None, **source))
    except ValueError as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, {
            "detail": "request is invalid", "errors": [
                {"field": "_visitor_id", "reason": str(exc)[:300], "type": "value_error"}]}
        ) from exc


@router.get("/{form_id}/embed.js", include_in_schema=False)
async def embed_script(form_id: str, key: str,
                       runtime: Runtime = Depends(get_runtime)) -> Response:
    """The embed script for a form, bound to its public key and a fresh fill-time token."""
    form, key_sha256 = await load_form(runtime, form_id)
    if not hmac.compare_digest(hash_key(key), key_sha256):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "this key is not this form's key")
    # The configured public URL, never the request's Host header: a forged Host would point
    # the script (and every visitor's submission) at another server.
    base = settings_of(runtime, CaptureSettings).base_url
    script = render_embed_script(form_id, form, key, base, token_secret(runtime))
    return Response(script, media_type="text/javascript", headers={
        "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff"})
