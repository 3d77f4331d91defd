"""Pure rules for bulk import: CSV rows to leads (validated exactly as POST /v1/leads does),
and one batch of rows planned as set-wise writes with the same per-row outcome."""

import re
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from pydantic import ValidationError

from capture.domain import consent_changes, merge_lead
from capture.form_config import CONSENT_TARGET, CONSENT_TARGETS, LEAD_FIELDS
from capture.schemas import LeadIn
from leadloop.events.models import Consent, LeadProfile

RowStatus = Literal["created", "updated", "unchanged", "failed"]
_TRUE = frozenset({"on", "true", "1", "yes", "y", "x"})
_PROPERTY = re.compile(r"^[A-Za-z][A-Za-z0-9_.-]{0,99}$")


def default_mapping(header: Iterable[str]) -> dict[str, str]:
    """Columns named like a lead field go there; any other column becomes a custom property."""
    mapping = {}
    for column in header:
        name = "_".join(column.strip().lower().split())
        if name in LEAD_FIELDS:
            mapping[column] = name
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
        if not (target in LEAD_FIELDS or target in CONSENT_TARGETS or (
                target.startswith("properties.")
                and _PROPERTY.match(target.removeprefix("properties.")))):
            problems.append(f"column '{column[:100]}' maps to '{target[:100]}', which is not a "
                            f"lead field, properties.<name> or one of {sorted(CONSENT_TARGETS)}")
    if "email" not in mapping.values():
        problems.append("no column maps to email")
    return problems


def row_to_lead(row: dict[str, str], mapping: dict[str, str], campaign: str | None,
                now: datetime) -> LeadIn:
    """One CSV row as a lead, validated by the same model as POST /v1/leads."""
    lead: dict[str, Any] = {"properties": {},
                            "source": {"channel": "import", "campaign": campaign}}
    for column, target in mapping.items():
        value = (row.get(column) or "").strip()
        if not value:
            continue
        if target in CONSENT_TARGETS:
            given = value.lower() in _TRUE
            consent = lead.setdefault("consent", {"lawful_basis": "consent", "source": "import"})
            consent[target.removeprefix("consent.")] = given
            if given:
                consent["given_at"] = now
        elif target.startswith("properties."):
            lead["properties"][target.removeprefix("properties.")] = value
        else:
            lead[target] = value
    return LeadIn.model_validate(lead)


def row_errors(row_number: int, exc: ValidationError) -> list[dict[str, Any]]:
    """A row's validation errors, each naming the row, the field and the reason."""
    return [{"row": row_number,
             "field": ".".join(str(p) for p in e.get("loc", ())) or "row",
             "reason": str(e.get("msg", "invalid")).removeprefix("Value error, ")}
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
