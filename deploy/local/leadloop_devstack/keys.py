"""The development admin key and the services' signing secrets: generated once, kept in
.leadloop/ for the developer (mode 0600).

Services are given only the admin key's hash; the secrets they are given as they are.
"""

import json
import secrets
from pathlib import Path

from leadloop.auth import generate_key, hash_key

KEY_VARIABLE = "LEADLOOP_DEV_ADMIN_KEY"


def dev_admin_key(home: Path) -> str:
    """The stack's admin key, created on first use."""
    path = home / "dev-keys.env"
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() == KEY_VARIABLE and value.strip():
                return value.strip()
    key = generate_key()
    home.mkdir(parents=True, exist_ok=True)
    path.write_text(f"# Development admin key of the local stack (all scopes).\n"
                    f"{KEY_VARIABLE}={key}\n")
    path.chmod(0o600)
    return key


def api_keys_setting(key: str, *, sales_page_key: str | None = None) -> str:
    """The services' API_KEYS setting for one admin key: its hash, never the key; with
    `sales_page_key`, also the key handoff's sales page reads outcomes' timelines with."""
    records: list[dict[str, object]] = [
        {"name": "dev-admin", "sha256": hash_key(key), "scopes": ["admin"]}]
    if sales_page_key:
        records.append(sales_page_key_record(sales_page_key))
    return json.dumps(records)


def sales_page_key_record(key: str) -> dict[str, object]:
    """Outcomes' API_KEYS entry for the key handoff's sales page uses (leads:read only)."""
    return {"name": "handoff-sales-page", "sha256": hash_key(key), "scopes": ["leads:read"]}


# Handoff's sales page reads lead timelines from outcomes with this key (outcomes knows its hash).
SALES_PAGE_KEY = "LEADLOOP_HANDOFF_OUTCOMES_KEY"
# The settings that sign things and have no default (a service refuses to start without them).
SECRET_SETTINGS = ("LEADLOOP_NURTURE_LINK_SECRET", "LEADLOOP_NURTURE_WEBHOOK_SECRET",
                   "LEADLOOP_CAPTURE_FORM_TOKEN_SECRET",
                   "LEADLOOP_OUTCOMES_DASHBOARD_SESSION_SECRET",
                   "LEADLOOP_HANDOFF_PAGE_SESSION_SECRET", SALES_PAGE_KEY)


def dev_secrets(home: Path) -> dict[str, str]:
    """The stack's signing secrets (setting -> value), each created at random on first use and
    kept in <home>/dev-secrets.env, so links in mail already sent stay valid across restarts."""
    path = home / "dev-secrets.env"
    found: dict[str, str] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            name, _, value = line.partition("=")
            if name.strip() in SECRET_SETTINGS and value.strip():
                found[name.strip()] = value.strip()
    if all(name in found for name in SECRET_SETTINGS):
        return found
    for name in SECRET_SETTINGS:
        found.setdefault(name, secrets.token_hex(32))
    home.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    path.chmod(0o600)
    path.write_text("# Signing secrets of the local stack's services (random, made on first use).\n"
                    + "".join(f"{name}={found[name]}\n" for name in SECRET_SETTINGS))
    return found


def kept_secret(path: Path) -> str:
    """A random secret kept in `path` (made on first use): the local broker's SCRAM password,
    which its storage holds from the day it was formatted."""
    if path.exists() and path.read_text().strip():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(16)
    path.write_text(value + "\n")
    path.chmod(0o600)
    return value
