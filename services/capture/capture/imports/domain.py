"""Pure rules for bulk import: CSV rows to leads (validated exactly as POST /v1/leads does),
and one batch of rows planned as set-wise writes with the same per-row outcome."""

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any, Literal
from uuid import UUID

from pydantic import BaseModel, ConfigDict, ValidationError

from capture.forms.definition import (
    ADDRESS_INPUTS,
    CONSENT_TARGET,
    CONSENT_TARGETS,
    LEAD_FIELDS,
    POSTAL_TARGETS,
)
from capture.leads.domain import (
    NUL,
    clean_text,
    consent_changes,
    merge_lead,
    normalize_country,
    normalize_email,
    normalize_phone,
    printable,
)
from capture.leads.validation import DEFAULT_PHONE_REGION, LeadIn
from leadloop.events.models import Consent, LeadProfile

RowStatus = Literal["created", "updated", "unchanged", "failed"]
_TRUE = frozenset({"on", "true", "1", "yes", "y", "x"})
_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")


DELIMITERS = (",", ";", "\t", "|")


class ImportProgress(BaseModel):
    """An import's state and counts so far, with the first per-row errors."""

    model_config = ConfigDict(frozen=True)

    import_id: UUID
    status: str
    rows_total: int
    created: int
    updated: int
    unchanged: int
    failed: int
    errors: list[dict[str, Any]]


@dataclass(frozen=True)
class UnreadableRow:
    """A CSV record the reader could not parse (e.g. a field past the csv module's limit): it
    fails alone, and keeps its place so row numbers and resumes stay right."""

    reason: str


def detect_delimiter(header_line: str) -> str:
    """The field separator of a CSV, read from its header line: the candidate (comma,
    semicolon as Excel writes in many locales, tab, pipe) that occurs most outside quotes;
    a comma when none does."""
    counts = dict.fromkeys(DELIMITERS, 0)
    quoted = False
    for char in header_line:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(DELIMITERS, key=lambda d: counts[d])  # first (a comma) on a tie
    return best if counts[best] else ","


def default_mapping(header: Iterable[str]) -> dict[str, str]:
    """Columns named like a lead field go there; any other column becomes a custom property."""
    mapping = {}
    for column in header:
        name = "_".join(column.strip().lower().split())
        if name in LEAD_FIELDS:
            mapping[column] = name
        elif name in ADDRESS_INPUTS or name in POSTAL_TARGETS:
            mapping[column] = ADDRESS_INPUTS.get(name, name)
        elif name in ("consent", "email_marketing", "opt_in"):
            mapping[column] = CONSENT_TARGET
        elif name == "sales_contact":
            mapping[column] = "consent.sales_contact"
        elif _PROPERTY.match(name):
            mapping[column] = f"properties.{name}"
    return mapping


def check_mapping(mapping: dict[str, str]) -> list[str]:
    """Problems with an explicit column mapping (empty when it is usable)."""
    problems = []
    for column, target in mapping.items():
        if not (target in LEAD_FIELDS or target in CONSENT_TARGETS or target in POSTAL_TARGETS or (
                target.startswith("properties.")
                and _PROPERTY.match(target.removeprefix("properties.")))):
            problems.append(f"column '{column[:100]}' maps to '{target[:100]}', which is not a "
                            f"lead field, postal_address.<part>, properties.<name> or one of "
                            f"{sorted(CONSENT_TARGETS)}")
    if "email" not in mapping.values():
        problems.append("no column maps to email")
    return problems


def row_to_lead(row: dict[str, str], mapping: dict[str, str], campaign: str | None,
                now: datetime) -> LeadIn:
    """One CSV row as a lead, validated by the same model as POST /v1/leads."""
    return LeadIn.model_validate(row_to_body(row, mapping, campaign, now))


def row_to_body(row: dict[str, str], mapping: dict[str, str], campaign: str | None,
                now: datetime) -> dict[str, Any]:
    """One CSV row as the body POST /v1/leads would get (not yet validated)."""
    lead: dict[str, Any] = {"properties": {},
                            "source": {"channel": "import", "campaign": campaign}}
    for column, kind, name in _compiled(tuple(mapping.items())):
        value = row.get(column)
        if not value or not (value := value.strip()):
            continue
        if kind == "consent":
            given = value.lower() in _TRUE
            consent = lead.setdefault("consent", {"lawful_basis": "consent", "source": "import"})
            consent[name] = given
            if given:
                consent["given_at"] = now
        elif kind == "property":
            lead["properties"][name] = value
        elif kind == "postal":
            lead.setdefault("postal_address", {})[name] = value
        else:
            lead[name] = value
    return lead


@lru_cache(maxsize=64)
def _compiled(mapping: tuple[tuple[str, str], ...]) -> list[tuple[str, str, str]]:
    """A mapping as (column, kind, name): decided once per import, not once per row."""
    compiled = []
    for column, target in mapping:
        if target in CONSENT_TARGETS:
            compiled.append((column, "consent", target.removeprefix("consent.")))
        elif target.startswith("properties."):
            compiled.append((column, "property", target.removeprefix("properties.")))
        elif target in POSTAL_TARGETS:
            compiled.append((column, "postal", target.removeprefix("postal_address.")))
        else:
            compiled.append((column, "field", target))
    return compiled


# Field limits of LeadIn (capture.leads.validation), for the fast path below.
_TEXT_LIMITS = {"first_name": 255, "last_name": 255, "company": 255, "job_title": 255,
                "region": 255, "industry": 255, "website": 2000, "time_zone": 64}
_PROFILE_FIELDS = ("email", "first_name", "last_name", "company", "job_title", "phone",
                   "country", "region", "industry", "company_size", "website", "time_zone")


def fast_profile(body: dict[str, Any]) -> dict[str, Any] | None:
    """The profile LeadIn.model_validate(body).profile() gives, as JSON-ready values, for the
    common shape of a CSV row (plain text values within limits); None when the row needs the
    model (anything unusual, and every invalid row, whose errors the model reports).

    Skips pydantic's per-row overhead on the import's hot path; the same normalizers run.
    tests/unit/test_capture_fast_paths.py checks it against the model on generated rows.
    """
    if set(body) - {"email", "properties", "source", "consent", *_PROFILE_FIELDS}:
        return None
    if any(NUL in v for v in body.values() if isinstance(v, str)) or any(
            NUL in v for v in body["properties"].values()):
        return None  # the model names the field
    profile: dict[str, Any] = dict.fromkeys(_PROFILE_FIELDS)
    profile["postal_address"] = None  # a row with one takes the model
    try:
        email = body.get("email")
        if not isinstance(email, str) or len(email) > 320:
            return None
        profile["email"] = normalize_email(email)
        for name, value in body.items():
            limit = _TEXT_LIMITS.get(name)
            if limit is not None:
                if len(value) > limit:
                    return None
                profile[name] = clean_text(value)
        country = body.get("country")
        if country is not None:
            if len(country) != 2:
                return None
            profile["country"] = normalize_country(country)
        phone = body.get("phone")
        if phone is not None:
            if len(phone) > 64:
                return None
            profile["phone"] = normalize_phone(phone, profile["country"]
                                               or DEFAULT_PHONE_REGION)
    except ValueError:
        return None
    size = body.get("company_size")
    if size is not None:
        if not (size.isascii() and size.isdigit() and int(size) <= 10_000_000):
            return None
        profile["company_size"] = int(size)
    properties = body["properties"]
    if len(properties) > 100 or any(len(v) > 2000 for v in properties.values()):
        return None
    profile["properties"] = dict(properties)
    return profile


def row_errors(row_number: int, exc: ValidationError) -> list[dict[str, Any]]:
    """A row's validation errors, each naming the row, the field and the reason."""
    # Reasons may quote the value: a NUL in it would fail the import's progress write.
    return [{"row": row_number,
             "field": printable(".".join(str(p) for p in e.get("loc", ())) or "row"),
             "reason": printable(str(e.get("msg", "invalid")).removeprefix("Value error, "))}
            for e in exc.errors()]


@dataclass(frozen=True)
class StoredLead:
    """A lead's identity and what an import may change."""

    id: UUID
    profile: LeadProfile
    consent: Consent


@dataclass
class RowEffect:
    """What one row did, in row order: the event it causes (if any) and its status."""

    status: RowStatus
    lead_id: UUID
    profile: LeadProfile
    consent: Consent
    changed: list[str] = field(default_factory=list)
    consent_changes: list[tuple[str, bool]] = field(default_factory=list)


@dataclass
class BatchPlan:
    """A batch's writes: new leads to insert, known leads to update, per-row effects."""

    inserts: dict[str, StoredLead] = field(default_factory=dict)
    updates: dict[str, StoredLead] = field(default_factory=dict)
    effects: list[RowEffect] = field(default_factory=list)


def apply_one(state: dict[str, StoredLead], lead_in: LeadIn, new_id: Callable[[], UUID]
              ) -> RowEffect:
    """One submission against known leads, exactly as a single POST /v1/leads decides it."""
    profile = lead_in.profile()
    current = state.get(profile.email)
    if current is None:
        stored = StoredLead(new_id(), profile, lead_in.consent)
        state[profile.email] = stored
        return RowEffect("created", stored.id, profile, lead_in.consent,
                         consent_changes=consent_changes(None, lead_in.consent))
    given = lead_in.consent if "consent" in lead_in.model_fields_set else None
    merged, consent, changed = merge_lead(current.profile, current.consent, profile, given)
    if not changed:
        return RowEffect("unchanged", current.id, current.profile, current.consent)
    state[profile.email] = StoredLead(current.id, merged, consent)
    return RowEffect("updated", current.id, merged, consent, changed,
                     consent_changes(current.consent, consent))


def plan_batch(existing: dict[str, StoredLead], rows: list[LeadIn],
               new_id: Callable[[], UUID] = uuid.uuid4) -> BatchPlan:
    """Fold a batch in memory, then keep only each lead's final state as one write."""
    state = dict(existing)
    plan = BatchPlan()
    for lead_in in rows:
        plan.effects.append(apply_one(state, lead_in, new_id))
    for email, stored in state.items():
        before = existing.get(email)
        if before is None:
            plan.inserts[email] = stored
        elif stored != before:
            plan.updates[email] = stored
    return plan
