"""Nurture's signing secrets have no usable default: it refuses to start without real ones."""

import pytest

from nurture.config import NurtureSettings, UnsafeSecret
from nurture.main import create_app

GOOD = "0123456789abcdef0123456789abcdef"


@pytest.fixture(autouse=True)
def _no_nurture_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("LINK_SECRET", "WEBHOOK_SECRET", "DEV_MODE"):
        monkeypatch.delenv(f"LEADLOOP_NURTURE_{name}", raising=False)


@pytest.mark.parametrize(("link", "webhook", "named", "reason"), [
    (None, GOOD, "LEADLOOP_NURTURE_LINK_SECRET", "is not set"),
    (GOOD, None, "LEADLOOP_NURTURE_WEBHOOK_SECRET", "is not set"),
    ("dev-only-link-secret-change-me", GOOD, "LEADLOOP_NURTURE_LINK_SECRET",
     "is a published default"),
    (GOOD, "dev-only-webhook-secret-change-me", "LEADLOOP_NURTURE_WEBHOOK_SECRET",
     "is a published default"),
    ("short", GOOD, "LEADLOOP_NURTURE_LINK_SECRET", "is shorter than 32 characters"),
])
def test_nurture_refuses_a_missing_published_or_short_secret(
        link: str | None, webhook: str | None, named: str, reason: str) -> None:
    given = {k: v for k, v in (("link_secret", link), ("webhook_secret", webhook)) if v}
    with pytest.raises(UnsafeSecret, match=f"{named} {reason}"):
        NurtureSettings(**given).require_secrets()  # type: ignore[arg-type]


@pytest.mark.asyncio
async def test_the_service_does_not_start_without_its_secrets() -> None:
    # uvicorn runs the lifespan before it serves: a raise there and the process exits.
    app = create_app(NurtureSettings(link_secret=GOOD))
    with pytest.raises(UnsafeSecret, match="LEADLOOP_NURTURE_WEBHOOK_SECRET is not set"):
        async with app.router.lifespan_context(app):
            pass  # pragma: no cover


def test_secrets_are_read_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADLOOP_NURTURE_LINK_SECRET", GOOD)
    monkeypatch.setenv("LEADLOOP_NURTURE_WEBHOOK_SECRET", GOOD[::-1])
    settings = NurtureSettings()
    settings.require_secrets()
    assert (settings.link_secret, settings.webhook_secret) == (GOOD, GOOD[::-1])


def test_dev_mode_draws_random_secrets_never_a_constant() -> None:
    first, second = NurtureSettings(dev_mode=True), NurtureSettings(dev_mode=True)
    first.require_secrets()
    second.require_secrets()
    assert len(first.link_secret) >= 32 and len(first.webhook_secret) >= 32
    assert first.link_secret != second.link_secret
    assert first.webhook_secret != second.webhook_secret
    published = NurtureSettings(dev_mode=True, link_secret="dev-only-link-secret-change-me")
    published.require_secrets()
    assert published.link_secret != "dev-only-link-secret-change-me"
