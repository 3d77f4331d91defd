"""Activity routes: a lead's timeline, and activities from server-side sources."""

import uuid
from datetime import datetime
from typing import Any
from uuid import UUID

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from capture.activities import repository
from capture.activities.schemas import (
    ActivitiesAccepted,
    ActivityAccepted,
    ActivityIn,
    ActivityOut,
)
from capture.activities.service import ActivityRequest, RecordedActivity
from capture.exceptions import NotFound
from capture.idempotency import service as idempotency
from capture.leads.domain import normalize_email
from capture.writes.writers import writers
from leadloop.app import Runtime, get_runtime, unit_of_work
from leadloop.auth import require_scope
from leadloop.db import UnitOfWork
from leadloop.events.models import PropertyValue, event_time_now
from leadloop.observability import current_traceparent
from leadloop.pagination import Page, cursor_query, limit_query
from leadloop.problems import problem_response, validation_errors

router = APIRouter(prefix="/v1", tags=["leads"])
MAX_ACTIVITIES = 1000
OPENAPI_MODELS = [ActivityIn]
"""POST /v1/activities declares its body by hand (one activity or an array): its model."""


def _invalid(field: str, reason: str) -> RequestValidationError:
    """A 422 in the service-wide shape, naming `field` and the reason."""
    return RequestValidationError([{"loc": ("body", field), "msg": reason,
                                    "type": "value_error"}])


def activity_properties(activity: ActivityIn) -> dict[str, PropertyValue]:
    """What an activity stores and publishes as its properties."""
    properties = dict(activity.properties)
    if activity.seconds_on_page is not None:
        properties["seconds_on_page"] = activity.seconds_on_page
    if activity.name:
        properties["name"] = activity.name
    return properties


def activity_request(activity: ActivityIn, occurred_at: datetime, activity_id: UUID,
                     email: str | None = None) -> ActivityRequest:
    """The write a validated activity asks for (`email` normalized), in this request's
    trace."""
    return ActivityRequest(kind=activity.kind, occurred_at=occurred_at, source=activity.source,
                           properties=activity_properties(activity), lead_id=activity.lead_id,
                           email=email, visitor_id=activity.visitor_id, url=activity.url,
                           traceparent=current_traceparent(), activity_id=activity_id)


def accepted_answer(recorded: RecordedActivity) -> ActivityAccepted:
    """What the API answers for a recorded activity."""
    return ActivityAccepted(activity_id=recorded.activity_id, lead_id=recorded.lead_id)


@router.get("/leads/{lead_id}/activities", response_model=Page[ActivityOut],
            dependencies=[Depends(require_scope("leads:read"))])
async def lead_timeline(lead_id: UUID, limit: int = limit_query(),
                        cursor: str | None = cursor_query(),
                        uow: UnitOfWork = Depends(unit_of_work)) -> Page[ActivityOut]:
    """A lead's activities, newest first, a page at a time."""
    async with uow:
        rows = await repository.lead_activities(uow.connection, lead_id, cursor, limit)
    kept, next_cursor = repository.ACTIVITY_ORDER.page(rows, limit)
    return Page[ActivityOut](items=[
        ActivityOut(activity_id=r.id, kind=r.kind, occurred_at=r.occurred_at, url=r.url,
                    source=r.source, properties=r.properties) for r in kept],
        next_cursor=next_cursor)


_ACTIVITIES_BODY = {"content": {"application/json": {"schema": {"oneOf": [
    {"$ref": "#/components/schemas/ActivityIn"},
    {"type": "array", "items": {"$ref": "#/components/schemas/ActivityIn"},
     "minItems": 1, "maxItems": MAX_ACTIVITIES}]}}}, "required": True}


@router.post("/activities", status_code=202,
             dependencies=[Depends(require_scope("leads:write"))],
             response_model=ActivityAccepted | ActivitiesAccepted,
             responses={207: {"model": ActivitiesAccepted,
                              "description": "an array with some items refused"}},
             openapi_extra={"requestBody": _ACTIVITIES_BODY})
async def post_activity(request: Request, runtime: Runtime = Depends(get_runtime)) -> Response:
    """Activities from a server-side source (webinar tool, CMS, email), by lead, email or
    visitor; an anonymous visitor's activity waits until the visitor is identified.

    One activity (an object) is accepted (202) or refused (404/422). An array of up to 1,000
    is applied item by item, like Segment's batch API: good items are stored even when others
    are refused, and the answer lists each item's result by index (`items`) and each refused
    item's reasons (`errors`, field `<index>.<field>`): 202 when all were accepted, 207 when
    some were, 422 when none was. With an `Idempotency-Key` a retry records nothing twice and
    gets the first answer; so does an activity sent again with the same `id`.
    """
    # A refused Idempotency-Key and an unknown lead (capture.exceptions) are the app's 422/404.
    key = idempotency.idempotency_key(request)
    body = await _json_body(request)
    if isinstance(body, list):
        return await _post_activities(runtime, request, key, body)
    prepared = _activity_request(body, "", _new_id(key, 0))
    if isinstance(prepared, RequestValidationError):
        raise prepared
    fingerprint = idempotency.request_fingerprint(request, await request.body())
    replay = await idempotency.claim_apart(runtime, "activities", key, fingerprint)
    if replay is not None:
        return replay
    accepted = await writers(runtime).activities.submit(prepared)
    answer = accepted_answer(accepted).model_dump(mode="json")
    await idempotency.remember_apart(runtime, "activities", key, 202,
                                     {"kind": "json", "body": answer})
    return JSONResponse(answer, status_code=202)


def _new_id(key: str | None, index: int) -> "uuid.UUID":
    """The id of an activity sent without one: derived from the request's Idempotency-Key
    (a retry records nothing new), else fresh."""
    return uuid.uuid4() if key is None else idempotency.derived_id("activities", key, index)


async def _post_activities(runtime: Runtime, request: Request, key: str | None,
                           body: list[Any]) -> Response:
    if not 1 <= len(body) <= MAX_ACTIVITIES:
        raise _invalid("body", f"send 1 to {MAX_ACTIVITIES} activities")
    prepared = [_activity_request(item, f"{n}.", _new_id(key, n)) for n, item in enumerate(body)]
    valid = [p for p in prepared if isinstance(p, ActivityRequest)]
    fingerprint = idempotency.request_fingerprint(request, await request.body())
    replay = await idempotency.claim_apart(runtime, "activities", key, fingerprint)
    if replay is not None:
        return replay
    outcomes = iter(await writers(runtime).activities.submit_many(valid))
    items: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for n, p in enumerate(prepared):
        outcome: Any = p if isinstance(p, RequestValidationError) else next(outcomes)
        if isinstance(outcome, RecordedActivity):
            items.append({"index": n, **accepted_answer(outcome).model_dump(mode="json")})
        elif isinstance(outcome, RequestValidationError):
            errors += [{**e, "index": n} for e in validation_errors(outcome)]
        elif isinstance(outcome, NotFound):
            errors.append({"index": n, "field": _who_field(body[n], n), "type": "not_found",
                           "reason": outcome.detail})
        else:
            raise outcome
    if not items:  # nothing recorded: refused like any invalid request
        return problem_response(422, "request is invalid", instance=request.url.path,
                                errors=errors)
    code = 202 if not errors else 207
    detail = "accepted" if not errors else "some activities were refused"
    answer = {"detail": detail, "items": items, "errors": errors}
    # Something was recorded: a retry gets this answer.
    await idempotency.remember_apart(runtime, "activities", key, code,
                                     {"kind": "json", "body": answer})
    return JSONResponse(answer, status_code=code)


def _who_field(item: dict[str, Any], n: int) -> str:
    return f"{n}.lead_id" if item.get("lead_id") else f"{n}.email"


async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError as exc:
        raise RequestValidationError([{"type": "json_invalid", "loc": ("body", 0),
                                       "msg": "JSON decode error",
                                       "ctx": {"error": str(exc)}}]) from exc


def _activity_request(item: Any, prefix: str, new_id: "uuid.UUID"
                      ) -> "ActivityRequest | RequestValidationError":
    """One activity validated without the database, or what is wrong with it (fields named
    `<prefix><field>`)."""
    try:
        parsed = ActivityIn.model_validate(item)
    except ValidationError as exc:
        return RequestValidationError([
            {**e, "loc": ("body", *((int(prefix[:-1]),) if prefix else ()), *e["loc"])}
            for e in exc.errors(include_url=False)])
    email = None
    if parsed.lead_id is None and parsed.email:
        try:
            email = normalize_email(parsed.email)
        except ValueError as exc:
            return _invalid(f"{prefix}email", str(exc))
    return activity_request(parsed, parsed.occurred_at or event_time_now(),
                            parsed.id or new_id, email=email)
