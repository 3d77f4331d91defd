"""Pure rules that turn a form post into a lead: field mapping, spam checks, answer style."""

import hashlib
import hmac
import time
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from capture.exceptions import SubmissionInvalid
from capture.forms.definition import ADDRESS_INPUTS, CONSENT_TARGETS, POSTAL_TARGETS, FormConfigIn
from capture.leads.validation import LeadIn
from leadloop.templates import Templates

UTM_FIELDS = ("utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content")
# Inputs the embed script adds; form fields cannot use them (names start with a letter).
META_FIELDS = frozenset({"_form_key", "_ts", "_visitor_id", "_referrer", "_landing_page"})
_TRUE = frozenset({"on", "true", "1", "yes", "y", "checked"})
TOKEN_MAX_AGE_S = 86_400


@dataclass
class MappedSubmission:
    """A validated lead plus what the submission said about where it came from."""

    lead: LeadIn
    visitor_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def single(value: str | list[str]) -> str:
    """One text value from a possibly repeated input (checkbox groups join with ';')."""
    if isinstance(value, list):
        return ";".join(v for v in value if v)
    return value


def _truthy(value: str) -> bool:
    return value.strip().lower() in _TRUE


def _err(name: str, reason: str, kind: str = "value_error") -> dict[str, str]:
    return {"field": name, "reason": reason, "type": kind}


def map_submission(form_id: str, form: FormConfigIn, body: dict[str, str | list[str]],
                   now: datetime) -> MappedSubmission:
    """Validate a submission against its form and build the lead; raises SubmissionInvalid."""
    errors: list[dict[str, str]] = []
    lead: dict[str, Any] = {}
    properties: dict[str, Any] = {}
    consent: dict[str, bool] = {}
    field_of_target: dict[str, str] = {}
    declared = {f.name for f in form.fields}
    honeypot = form.spam.honeypot_field
    for spec in form.fields:
        raw = single(body.get(spec.name, "")).strip()
        field_of_target[spec.target] = spec.name
        if len(raw) > spec.max_length:
            errors.append(_err(spec.name, f"must be at most {spec.max_length} characters",
                               "string_too_long"))
            continue
        if spec.type == "consent" or spec.type == "checkbox":
            value: Any = _truthy(raw) if raw else False
            if spec.required and not value:
                errors.append(_err(spec.name, "must be checked", "missing"))
        elif not raw:
            if spec.required:
                errors.append(_err(spec.name, "is required", "missing"))
            continue
        elif spec.type == "number":
            try:
                value = int(raw)
            except ValueError:
                errors.append(_err(spec.name, f"'{raw[:50]}' is not a whole number", "int_parsing"))
                continue
        elif spec.type == "select" and spec.options and raw not in spec.options:
            errors.append(_err(spec.name, "is not one of the form's options", "enum"))
            continue
        else:
            value = raw
        if spec.target in CONSENT_TARGETS:
            # A box left unchecked grants nothing and withdraws nothing given before.
            if value:
                consent[spec.target.removeprefix("consent.")] = True
        elif spec.target.startswith("properties."):
            properties[spec.target.removeprefix("properties.")] = value
        elif spec.target in POSTAL_TARGETS:
            lead.setdefault("postal_address", {})[spec.target.split(".", 1)[1]] = value
        else:
            lead[spec.target] = value
    for name, raw_value in body.items():
        if name in declared or name in META_FIELDS or name in UTM_FIELDS or name == honeypot:
            continue
        if form.mode == "strict":
            errors.append(_err(name[:100], "is not a field of this form", "extra_forbidden"))
        elif not name or len(name) > 100:
            errors.append(_err(name[:100], "field names must be 1 to 100 characters"))
        else:
            text = single(raw_value).strip()
            if len(text) > 2000:
                errors.append(_err(name, "must be at most 2000 characters", "string_too_long"))
            elif text and name in ADDRESS_INPUTS:
                field_of_target[ADDRESS_INPUTS[name]] = name
                lead.setdefault("postal_address", {})[ADDRESS_INPUTS[name].split(".")[1]] = text
            elif text:
                properties[name] = text
    source: dict[str, Any] = {"channel": "form", "campaign": form.campaign}
    for utm in UTM_FIELDS:
        value = single(body.get(utm, "")).strip()[:500]
        source[utm] = value or None
    source["referrer"] = single(body.get("_referrer", "")).strip()[:2000] or None
    source["landing_page"] = single(body.get("_landing_page", "")).strip()[:2000] or None
    lead["properties"] = properties
    lead["source"] = source
    if consent:
        lead["consent"] = {**consent, "text": form.consent_text, "version": form.consent_version,
                           "lawful_basis": form.lawful_basis, "source": f"form:{form_id}",
                           "given_at": now}
    try:
        validated = LeadIn.model_validate(lead)
    except ValidationError as exc:
        # Report every problem at once: the form's own checks and the lead's.
        named = {e["field"] for e in errors}
        errors += [e for e in (_lead_error(x, field_of_target) for x in exc.errors())
                   if e["field"] not in named]
        raise SubmissionInvalid(errors) from exc
    if errors:
        raise SubmissionInvalid(errors)
    visitor = single(body.get("_visitor_id", "")).strip()[:100] or None
    return MappedSubmission(lead=validated, visitor_id=visitor)


def _lead_error(error: Any, field_of_target: dict[str, str]) -> dict[str, str]:
    """A LeadIn error, named by the form's own input name where we know it."""
    loc = [str(p) for p in error.get("loc", ())]
    target = ".".join(loc[:2]) if loc[:1] in (["properties"], ["consent"], ["source"],
                                              ["postal_address"]) \
        else (loc[0] if loc else "body")
    name = field_of_target.get(target, target)
    reason = str(error.get("msg", "invalid")).removeprefix("Value error, ")
    return _err(name, reason, str(error.get("type", "value_error")))


def spam_reason(form_id: str, form: FormConfigIn, body: dict[str, str | list[str]],
                secret: bytes, now_s: float | None = None) -> str | None:
    """Why this submission is certainly automated, or None: honeypot filled, or filled faster
    than a person could (the embed script's valid token says when the page loaded)."""
    honeypot = form.spam.honeypot_field
    if honeypot and single(body.get(honeypot, "")).strip():
        return "honeypot"
    if form.spam.min_fill_seconds > 0:
        age = token_age_s(form_id, single(body.get("_ts", "")), secret, now_s)
        if age is not None and age < form.spam.min_fill_seconds:
            return "filled_too_fast"
    return None


def unverified_reason(form_id: str, form: FormConfigIn, body: dict[str, str | list[str]],
                      secret: bytes, now_s: float | None = None) -> str | None:
    """Why the fill time of a form that asks for one could not be checked, or None.

    A plain HTML post (no JavaScript) has no token, and a page left open past the token's
    age, or a token from a replica with another secret, has no valid one: a person may have
    sent it, so the lead is stored and flagged, never dropped as spam."""
    if form.spam.min_fill_seconds <= 0:
        return None
    token = single(body.get("_ts", ""))
    if not token:
        return "missing_fill_time_token"
    if token_age_s(form_id, token, secret, now_s) is None:
        return "invalid_fill_time_token"
    return None


def issue_token(form_id: str, secret: bytes, now_s: float | None = None) -> str:
    """A signed 'page loaded at' timestamp for the minimum fill time check."""
    issued = int((time.time() if now_s is None else now_s) * 1000)
    return f"{issued}.{_sign(form_id, issued, secret)}"


def token_age_s(form_id: str, token: str, secret: bytes, now_s: float | None = None
                ) -> float | None:
    """Seconds since a valid token was issued for this form; None if forged, foreign or stale."""
    issued_text, _, signature = token.partition(".")
    if not issued_text.isdigit() or len(issued_text) > 15:
        return None
    issued = int(issued_text)
    if not hmac.compare_digest(signature, _sign(form_id, issued, secret)):
        return None
    age = (time.time() if now_s is None else now_s) - issued / 1000
    return age if -5 <= age <= TOKEN_MAX_AGE_S else None


def _sign(form_id: str, issued_ms: int, secret: bytes) -> str:
    return hmac.new(secret, f"{form_id}.{issued_ms}".encode(), hashlib.sha256).hexdigest()[:32]


def wants_html(content_type: str, accept: str) -> bool:
    """A browser posting a plain HTML form (answered with 303), not an API client (JSON)."""
    return not content_type.startswith("application/json") and "text/html" in accept


# The page a browser's form post gets when its form names no redirect URL.
THANKS_PAGE = Templates("capture").render("thanks.html")


def answer_for(form: FormConfigIn, browser: bool, status_code: int, body: dict[str, Any]
               ) -> tuple[int, dict[str, Any]]:
    """(status, stored answer): JSON for an API client; for a browser a 303 to the form's
    redirect URL or a thank-you page."""
    if not browser:
        return status_code, {"kind": "json", "body": body}
    if form.redirect_url:
        return 303, {"kind": "redirect", "location": str(form.redirect_url)}
    return 200, {"kind": "html", "html": THANKS_PAGE}
