"""API keys with scopes. Keys are stored only as SHA-256 hashes.

A key is 32 random bytes, so a fast hash is enough: nothing short enough to brute-force is ever
hashed (unlike passwords), and checking a key stays in the microseconds on every request.
The `admin` scope grants every other scope.
"""

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

ADMIN_SCOPE = "admin"
KEY_PREFIX = "llk_"


class ApiKeyRecord(BaseModel):
    """A key as configured: its name, the hash of its secret, and what it may do."""

    name: str
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    scopes: list[str]


class Principal(BaseModel):
    """Who is calling: the key's name and scopes."""

    name: str
    scopes: frozenset[str]

    def has(self, scope: str) -> bool:
        """Whether this caller may act with `scope`."""
        return ADMIN_SCOPE in self.scopes or scope in self.scopes


def generate_key() -> str:
    """A new random API key, shown once to whoever creates it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, which is all we store."""
    return hashlib.sha256(key.encode()).hexdigest()


def find_principal(key: str, records: Iterable[ApiKeyRecord]) -> Principal | None:
    """The configured key matching `key`, compared in constant time."""
    digest = hash_key(key)
    for record in records:
        if hmac.compare_digest(digest, record.sha256):
            return Principal(name=record.name, scopes=frozenset(record.scopes))
    return None


_bearer = HTTPBearer(auto_error=False, description="API key as a bearer token")
_header = APIKeyHeader(name="X-API-Key", auto_error=False, description="API key")


def require_scope(scope: str) -> Callable[..., Awaitable[Principal]]:
    """A FastAPI dependency: 401 without a valid key, 403 when the key lacks `scope`."""

    # async: FastAPI would run a sync dependency in a worker thread, a hop on every request.
    async def dependency(
        request: Request,
        # Security(..., scopes=...) puts the required scope into each operation's OpenAPI
        # security requirement, so clients (and the auth-matrix test) can read it.
        bearer: HTTPAuthorizationCredentials | None = Security(_bearer, scopes=[scope]),
        header_key: str | None = Security(_header, scopes=[scope]),
    ) -> Principal:
        key = header_key or (bearer.credentials if bearer else None)
        if not key:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "an API key is required",
                headers={"WWW-Authenticate": "Bearer"},
            )
        principal = find_principal(key, request.app.state.settings.api_keys)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "unknown API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.has(scope):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key lacks the '{scope}' scope")
        return principal

    return dependency
