"""The local stack makes the services' signing secrets itself: random, kept, never a constant."""

import stat
from pathlib import Path

from leadloop_devstack.config import StackSettings
from leadloop_devstack.keys import SECRET_SETTINGS, dev_secrets
from leadloop_devstack.stack import Stack


def test_the_stack_draws_each_secret_once_and_keeps_it_private(tmp_path: Path) -> None:
    first = dev_secrets(tmp_path)
    assert set(first) == set(SECRET_SETTINGS)
    assert all(len(value) >= 32 for value in first.values())
    assert len(set(first.values())) == len(first)
    assert dev_secrets(tmp_path) == first  # links in mail already sent stay valid
    assert dev_secrets(tmp_path / "other") != first
    assert stat.S_IMODE((tmp_path / "dev-secrets.env").stat().st_mode) == 0o600


def test_nurture_and_capture_are_given_their_secrets(tmp_path: Path) -> None:
    stack = Stack(StackSettings(home=tmp_path))
    nurture, capture = stack.services["nurture"].env, stack.services["capture"].env
    secrets = dev_secrets(tmp_path)
    for name in ("LEADLOOP_NURTURE_LINK_SECRET", "LEADLOOP_NURTURE_WEBHOOK_SECRET"):
        assert nurture[name] == secrets[name]
    assert capture["LEADLOOP_CAPTURE_FORM_TOKEN_SECRET"] == \
        secrets["LEADLOOP_CAPTURE_FORM_TOKEN_SECRET"]
    assert not any("SECRET" in name for name in stack.services["scoring"].env)
