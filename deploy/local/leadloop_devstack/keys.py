"""The development admin key: generated once, kept in .leadloop/dev-keys.env for the developer.

Services are given only its hash.
"""

import json
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


def api_keys_setting(key: str) -> str:
    """The services' API_KEYS setting for one admin key: its hash, never the key."""
    return json.dumps([{"name": "dev-admin", "sha256": hash_key(key), "scopes": ["admin"]}])
