"""RFC 9457 problem details: the one error shape every service answers.

Every 4xx and 5xx is `application/problem+json` with `type`, `title`, `status`, `detail` and
`instance` (the request path, never its query: a query may hold personal data). A request
refused for its content keeps the reasons as the `errors` extension: one entry per bad field,
naming the field, where it was (`body`, `query`, `path`, `header`) and why.

`type` is `about:blank` (RFC 9457 section 4.2.1): the status says what kind of problem it is,
`title` is the status's phrase and `detail` says what to change.
"""

from http import HTTPStatus
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.responses import Response

PROBLEM_JSON = "application/problem+json"

_LOCATIONS = ("body", "query", "path", "header", "cookie")
# RFC 9110's names where older Pythons' HTTPStatus still has RFC 7231's.
_TITLES = {413: "Content Too Large", 422: "Unprocessable Content"}


class FieldError(BaseModel):
    """One reason a request was refused: which field, where, and why."""

    model_config = ConfigDict(extra="allow")  # e.g. `row` of an import, `index` of a batch

    field: str = Field(description="The field, dotted for nested ones (`profile.email`); "
                                   "`body` for the body as a whole")
    reason: str = Field(description="Why it was refused, for a person to read")
    location: str | None = Field(None, description="body, query, path or header")
    type: str | None = Field(None, description="A machine-readable kind (`missing`, ...)")


class Problem(BaseModel):
    """An error answer (RFC 9457 problem details)."""

    model_config = ConfigDict(extra="allow", json_schema_extra={"examples": [{
        "type": "about:blank", "title": "Unprocessable Content", "status": 422,
        "detail": "request is invalid", "instance": "/v1/leads",
        "errors": [{"field": "email", "location": "body", "type": "value_error",
                    "reason": "An email address must have an @-sign."}]}]})

    type: str = Field("about:blank", description="A URI naming the kind of problem")
    title: str = Field(description="The HTTP status's phrase")
    status: int = Field(description="The HTTP status code")
    detail: str = Field(description="What went wrong with this request, and what to change")
    instance: str | None = Field(None, description="The request path")
    errors: list[FieldError] | None = Field(
        None, description="Each bad field of a refused request, with the reason")


def problem_body(status: int, detail: str, *, instance: str | None = None,
                 errors: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    """The problem document for `status`."""
    try:
        title = _TITLES.get(status) or HTTPStatus(status).phrase
    except ValueError:
        title = "Error"
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status,
                            "detail": detail}
    if instance is not None:
        body["instance"] = instance
    if errors is not None:
        body["errors"] = errors
    return body


def problem_response(status: int, detail: str, *, instance: str | None = None,
                     errors: list[dict[str, Any]] | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    """A problem-details answer."""
    return Response(orjson.dumps(problem_body(status, detail, instance=instance, errors=errors)),
                    status_code=status, headers=headers, media_type=PROBLEM_JSON)


class Refusal(Exception):
    """A request a service refuses, raised where the refusal is decided (below the routers,
    which need not know HTTP) and answered by the app factory's handler as the problem
    document an HTTP error with the same status would be: `status_code`, `detail`, for refused
    content `errors` naming each field and reason, and `headers` of its own."""

    status_code = 422
    detail = "request is invalid"
    errors: list[dict[str, str]] | None = None
    headers: dict[str, str] | None = None

    def __init__(self, detail: str | None = None) -> None:
        if detail is not None:
            self.detail = detail
        super().__init__(self.detail)


def refusal_response(refusal: Refusal, instance: str | None = None,
                     headers: dict[str, str] | None = None) -> Response:
    """The problem document answering `refusal`, with its own headers and `headers` (a route
    that adds some, such as CORS, answers with this instead of raising)."""
    merged = {**(refusal.headers or {}), **(headers or {})} or None
    return problem_response(refusal.status_code, refusal.detail, instance=instance,
                            errors=refusal.errors, headers=merged)


def from_http_exception(exc: HTTPException, instance: str | None = None,
                        headers: dict[str, str] | None = None) -> Response:
    """An HTTPException as a problem. Its detail is a message, or (for a refused request's
    content) `{"detail": message, "errors": [...]}`."""
    merged = {**(exc.headers or {}), **(headers or {})} or None
    detail = exc.detail
    if isinstance(detail, dict):
        return problem_response(exc.status_code, str(detail.get("detail", "request is invalid")),
                                instance=instance, errors=detail.get("errors"), headers=merged)
    if not isinstance(detail, str) or not detail:
        detail = problem_body(exc.status_code, "")["title"]
    return problem_response(exc.status_code, detail, instance=instance, headers=merged)


def invalid_query(field: str, reason: str) -> RequestValidationError:
    """A 422 naming a query parameter and why, in the shape of any other validation error."""
    return RequestValidationError([{"loc": ("query", field), "type": "value_error",
                                    "msg": reason}])


def validation_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    """Each bad field of a request FastAPI refused, with where it was and why."""
    errors: list[dict[str, Any]] = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ())]
        location = loc[0] if loc and loc[0] in _LOCATIONS else "body"
        if error.get("type") == "json_invalid":
            reason = (error.get("ctx") or {}).get("error", "malformed")
            errors.append({"field": "body", "location": "body", "type": "json_invalid",
                           "reason": f"body is not valid JSON: {reason}"})
            continue
        field = ".".join(part for part in loc if part not in _LOCATIONS)
        errors.append({
            "field": field or "body",
            "location": location,
            "reason": str(error.get("msg", "invalid")).removeprefix("Value error, "),
            "type": error.get("type"),
        })
    return errors
