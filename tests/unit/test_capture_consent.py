"""Capture's public-form rules: a known lead is filled, never rewritten; consent it gives waits
for a signed, expiring confirmation; capture refuses to start without its signing secret."""

import socket
import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from capture.config import CaptureSettings
from capture.consent.domain import confirmation_token, read_token
from capture.exceptions import PeersUnavailable
from capture.leads.domain import consent_to_confirm, fill_profile
from capture.main import app
from capture.privacy import export
from leadloop.events.models import Consent, LeadProfile
from leadloop.problems import refusal_response
from leadloop.settings import UnsafeSecret

GOOD = "0123456789abcdef0123456789abcdef"
NOW = datetime(2026, 12, 1, 12, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _no_capture_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("FORM_TOKEN_SECRET", "DEV_MODE"):
        monkeypatch.delenv(f"LEADLOOP_CAPTURE_{name}", raising=False)


def test_a_public_post_fills_only_what_the_lead_lacks() -> None:
    stored = LeadProfile(email="a@b.co", first_name="Ana", properties={"plan": "pro"})
    incoming = LeadProfile(email="a@b.co", first_name="Mallory", company="Evil",
                           properties={"plan": "free", "budget": "10k"})
    merged, changed = fill_profile(stored, incoming)
    assert (merged.first_name, merged.company) == ("Ana", "Evil")
    assert merged.properties == {"plan": "pro", "budget": "10k"}
    assert changed == ["company", "properties.budget"]


def test_only_consent_not_yet_granted_waits_for_confirmation() -> None:
    form = Consent(email_marketing=True, sales_contact=True, text="News", version="v2",
                   source="form:f1", given_at=NOW)
    pending = consent_to_confirm(Consent(sales_contact=True), form)
    assert pending is not None
    assert pending.model_dump(exclude_unset=True) == {
        "email_marketing": True, "text": "News", "version": "v2", "given_at": NOW,
        "lawful_basis": None, "source": "form:f1"}
    assert consent_to_confirm(Consent(email_marketing=True, sales_contact=True), form) is None
    assert consent_to_confirm(Consent(), None) is None


def test_confirmation_links_are_signed_and_expire() -> None:
    secret, other = GOOD.encode(), GOOD[::-1].encode()
    confirmation_id = uuid.uuid4()
    token = confirmation_token(secret, confirmation_id, NOW + timedelta(hours=1))
    assert read_token(secret, token, NOW) == (confirmation_id, False)
    assert read_token(secret, token, NOW + timedelta(hours=2)) == (confirmation_id, True)
    assert read_token(other, token, NOW) == (None, False)
    later = confirmation_token(secret, confirmation_id, NOW + timedelta(days=9))
    forged = token.rsplit(".", 2)[0] + "." + later.split(".")[1] + "." + token.rsplit(".")[-1]
    assert read_token(secret, forged, NOW) == (None, False), "expiry is signed too"
    assert read_token(secret, "not-a-token", NOW) == (None, False)


@pytest.mark.parametrize(("value", "reason"), [
    (None, "is not set"), ("change-me", "is a published default"),
    ("short", "is shorter than 32 characters")])
def test_capture_refuses_a_missing_published_or_short_form_token_secret(
        value: str | None, reason: str) -> None:
    given = {"form_token_secret": value} if value else {}
    with pytest.raises(UnsafeSecret, match=f"LEADLOOP_CAPTURE_FORM_TOKEN_SECRET {reason}"):
        CaptureSettings(**given).require_secrets()  # type: ignore[arg-type]
    CaptureSettings(form_token_secret=GOOD).require_secrets()
    dev = CaptureSettings(dev_mode=True)
    dev.require_secrets()
    assert len(dev.form_token_secret) >= 32


@pytest.mark.asyncio
async def test_the_capture_service_does_not_start_without_its_secret() -> None:
    # `app` is built from the (secret-less) environment, as uvicorn imports it.
    with pytest.raises(UnsafeSecret, match="LEADLOOP_CAPTURE_FORM_TOKEN_SECRET is not set"):
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover


@pytest.mark.asyncio
async def test_an_export_a_service_cannot_answer_is_a_503_naming_it() -> None:
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    settings = CaptureSettings(export_peers={"scoring": f"http://127.0.0.1:{port}"},
                               export_timeout_s=2)
    with pytest.raises(PeersUnavailable) as refused:
        await export.gather(settings, [uuid.uuid4()], {"X-API-Key": "k"})
    answer = refusal_response(refused.value, "/v1/leads/x/export")
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "5"
    body = orjson.loads(answer.body)
    assert [e["field"] for e in body["errors"]] == ["scoring"]
