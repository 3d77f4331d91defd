"""Field-level encryption of personal data inside event payloads (crypto-shredding).

Each lead has its own 256-bit data key. Before an event is written to the outbox, the values of
personal fields (email, names, phone, free text and URLs that may identify the person) are
replaced by `pii:v1:<base64url(nonce | AES-256-GCM ciphertext)>`, bound to the lead id as
associated data, so a value cannot be moved to another lead's event. Consumers reveal the values
before parsing. Destroying the key (erasure) leaves every stored copy of the event, in Kafka or in
any outbox, unreadable: there is nothing left to delete record by record.

This module is pure (no I/O); `leadloop.keyring` stores and distributes the keys.
"""

import base64
import os
from collections.abc import Collection
from typing import Any

import orjson
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

PREFIX = "pii:v1:"
KEY_BYTES = 32
_NONCE_BYTES = 12

# Names of the fields whose values identify a person, wherever they appear in an event's data
# (profile, restored_profile, activity, rejection). Scoring, routing and reports see the
# revealed values; only the bytes at rest and in transit are ciphertext.
PERSONAL_FIELDS = frozenset({
    "email", "first_name", "last_name", "phone",
    "postal_address",  # street, city, postal code, region, country: sealed as one value
    "properties",  # custom form fields and activity properties: free text
    "note",  # a rep's rejection note
    "url", "referrer", "landing_page",  # URLs can carry an email or a name in their query
})


_EMPTY: tuple[Any, ...] = (None, "", {}, [])  # nothing personal to hide in these


class PiiError(ValueError):
    """A sealed value that does not open with the lead's key (tampered, or another lead's)."""


def new_data_key() -> bytes:
    """A fresh random AES-256 key for one lead."""
    return AESGCM.generate_key(bit_length=KEY_BYTES * 8)


def _aad(lead_id: str) -> bytes:
    return f"leadloop-pii:{lead_id}".encode()


def seal_value(value: Any, lead_id: str, key: bytes | AESGCM, nonce: bytes | None = None) -> str:
    """One JSON value, encrypted for `lead_id` under `key` (with a fresh random nonce)."""
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    nonce = nonce or os.urandom(_NONCE_BYTES)
    ciphertext = cipher.encrypt(nonce, orjson.dumps(value), _aad(lead_id))
    return PREFIX + base64.urlsafe_b64encode(nonce + ciphertext).decode().rstrip("=")


def open_value(sealed: str, lead_id: str, key: bytes | AESGCM) -> Any:
    """The JSON value inside `sealed`; raises PiiError when it does not open."""
    cipher = key if isinstance(key, AESGCM) else AESGCM(key)
    token = sealed.removeprefix(PREFIX)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        plain = cipher.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(lead_id))
    except (InvalidTag, ValueError) as exc:
        raise PiiError(f"a personal field of lead {lead_id} does not decrypt") from exc
    return orjson.loads(plain)


def is_sealed(value: Any) -> bool:
    """Whether a JSON value is an encrypted personal field."""
    return isinstance(value, str) and value.startswith(PREFIX)


# The walkers below run over every event a service publishes or consumes, so they test types
# with `__class__ is` (JSON holds exact dicts, lists and strings) and call no function per leaf:
# written with a helper call per node they cost more than the encryption itself.


def has_personal_data(data: Any) -> bool:
    """Whether `data` holds a non-empty personal field in plain text (something to seal)."""
    if data.__class__ is dict:
        for name, value in data.items():
            if name in PERSONAL_FIELDS and value not in _EMPTY and not is_sealed(value):
                return True
            if (value.__class__ is dict or value.__class__ is list) and has_personal_data(value):
                return True
        return False
    if data.__class__ is list:
        return any(has_personal_data(item) for item in data
                   if item.__class__ is dict or item.__class__ is list)
    return False


def has_sealed_data(data: Any) -> bool:
    """Whether `data` holds any encrypted value (something a reader needs the key for)."""
    values = data.values() if data.__class__ is dict else data if data.__class__ is list else ()
    for value in values:
        cls = value.__class__
        if cls is str:
            if value.startswith(PREFIX):
                return True
        elif (cls is dict or cls is list) and has_sealed_data(value):
            return True
    return False


_SEALED_MARK = b'"' + PREFIX.encode()


def may_hold_sealed(raw: bytes) -> bool:
    """Whether an event's JSON bytes may hold an encrypted value: False means certainly not, in
    one byte search, where `has_sealed_data` walks the parsed data (most events a consumer reads,
    scores and stage changes with their lists, hold none, and the walk cost more than parsing)."""
    return _SEALED_MARK in raw


class _Nonces:
    """Random nonces drawn from the OS a batch at a time (one syscall per event, not per
    field: under load the syscall, not AES, was the cost of sealing)."""

    def __init__(self, count: int = 16) -> None:
        self._count = count
        self._pool = b""
        self._next = 0

    def take(self) -> bytes:
        if self._next + _NONCE_BYTES > len(self._pool):
            self._pool, self._next = os.urandom(_NONCE_BYTES * self._count), 0
        nonce = self._pool[self._next:self._next + _NONCE_BYTES]
        self._next += _NONCE_BYTES
        return nonce


def seal(data: Any, lead_id: str, key: bytes) -> Any:
    """A copy of `data` with every non-empty personal field encrypted."""
    return _seal(data, lead_id, AESGCM(key), _Nonces())


def _seal(data: Any, lead_id: str, cipher: AESGCM, nonces: _Nonces) -> Any:
    if data.__class__ is dict:
        sealed = {}
        for name, value in data.items():
            cls = value.__class__
            if name in PERSONAL_FIELDS and value not in _EMPTY and not is_sealed(value):
                sealed[name] = seal_value(value, lead_id, cipher, nonces.take())
            elif cls is dict or cls is list:
                sealed[name] = _seal(value, lead_id, cipher, nonces)
            else:
                sealed[name] = value
        return sealed
    if data.__class__ is list:
        return [_seal(item, lead_id, cipher, nonces) for item in data]
    return data


# What a personal field reads as once its key is destroyed: empty, but of a type the event
# models accept, so an erased lead's events still parse where only their shape matters
# (outcomes' read-model rebuild counts them without knowing who they were about).
_ERASED_VALUES: dict[str, Any] = {"email": "", "properties": {}}


def reveal(data: Any, lead_id: str, key: bytes | None,
           fields: Collection[str] | None = None) -> Any:
    """A copy of `data` with every encrypted value opened; with no key (erased) each reads as
    empty (None, "" for an email, {} for properties). With `fields`, only personal fields of
    those names are opened and the others read as empty too: a reader that uses a few of an
    event's personal fields decrypts just those."""
    return _reveal(data, lead_id, None if key is None else AESGCM(key), "",
                   None if fields is None else frozenset(fields))


def _reveal(data: Any, lead_id: str, cipher: AESGCM | None, name: str,
            fields: frozenset[str] | None) -> Any:
    cls = data.__class__
    if cls is str:
        if not data.startswith(PREFIX):
            return data
        if cipher is None or (fields is not None and name not in fields):
            return _ERASED_VALUES.get(name)
        return open_value(data, lead_id, cipher)
    if cls is dict:
        revealed = {}
        for field, value in data.items():
            value_cls = value.__class__
            if (value_cls is str and not value.startswith(PREFIX)) or not (
                    value_cls is str or value_cls is dict or value_cls is list):
                revealed[field] = value  # the common case: nothing to open below
            else:
                revealed[field] = _reveal(value, lead_id, cipher, field, fields)
        return revealed
    if cls is list:
        return [_reveal(item, lead_id, cipher, name, fields) for item in data]
    return data
