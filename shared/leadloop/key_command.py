"""`leadloop api-key`: mint an API key and print it with the record a configuration file holds.

The key is printed once and never stored; the record (name, SHA-256, scopes, and the rep the
key acts for, if any) is what goes into a service's LEADLOOP_<SERVICE>_API_KEYS setting.
Keys bound to a rep can also be minted at run time through handoff's `POST /v1/reps/{id}/keys`.
"""

import argparse
import json
import re
from uuid import UUID

from leadloop.auth import ApiKeyRecord, generate_key, hash_key
from leadloop.cli import Command

_SCOPE = re.compile(r"^[a-z][a-z0-9_-]*(:[a-z][a-z0-9_-]*)?$")


def _scope(value: str) -> str:
    if not _SCOPE.match(value):
        raise argparse.ArgumentTypeError(f"{value!r} is not a scope such as sales or "
                                         "reports:read")
    return value


def mint(name: str, scopes: list[str], rep_id: UUID | None) -> tuple[str, ApiKeyRecord]:
    """A new key and the configuration record that accepts it."""
    key = generate_key()
    return key, ApiKeyRecord(name=name, sha256=hash_key(key), scopes=scopes, rep_id=rep_id)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--name", required=True, help="what the key is for, e.g. crm-sync")
    parser.add_argument("--scope", dest="scopes", action="append", type=_scope, required=True,
                        help="a scope the key grants (repeat for several)")
    parser.add_argument("--rep", type=UUID, default=None,
                        help="the sales rep (handoff rep id) the key acts for")


def _run(args: argparse.Namespace) -> int:
    key, record = mint(args.name, sorted(set(args.scopes)), args.rep)
    print(f"key:    {key}   (shown once: give it to its user, store it nowhere else)")
    print(f"sha256: {record.sha256}")
    print("record for LEADLOOP_<SERVICE>_API_KEYS (a JSON list of these):")
    print(json.dumps(record.model_dump(mode="json", exclude_none=True)))
    return 0


API_KEY_COMMAND = Command(help="mint an API key and print it with its hash and config record",
                          add_arguments=_add_arguments, run=_run)
