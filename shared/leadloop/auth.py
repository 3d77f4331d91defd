"""API keys with scopes. Keys are stored only as SHA-256 hashes.

A key is 32 random bytes, so a fast hash is enough: nothing short enough to brute-force is ever
hashed (unlike passwords), and checking a key stays in the microseconds on every request.
The `admin` scope grants every other scope.

Besides the keys configured in settings, a service may know keys it issued itself (handoff's
keys bound to a sales rep, minted through its API and stored hashed in its database): it sets
`app.state.key_resolver` to an async callable `(request, sha256) -> Principal | None`, consulted
only when no configured key matches. One dependency, `require_scope`, checks both.
"""

import hashlib
import hmac
import secrets
from collections.abc import Awaitable, Callable, Iterable
from uuid import UUID

from fastapi import HTTPException, Request, Security, status
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field

ADMIN_SCOPE = "admin"
KEY_PREFIX = "llk_"
SALES_MANAGE_SCOPE = "sales:manage"
"""Sees and acts on a team's leads (and the fallback queue), assigns leads by hand."""


class ApiKeyRecord(BaseModel):
    """A key as configured: its name, the hash of its secret, and what it may do."""

    name: str
    sha256: str = Field(pattern="^[0-9a-f]{64}$")
    scopes: list[str]
    rep_id: UUID | None = Field(default=None, description="the sales rep the key acts for")


class Principal(BaseModel):
    """Who is calling: the key's name and scopes, and the sales rep a rep-bound key acts for
    (None for a configured key: an integration, not a person)."""

    name: str
    scopes: frozenset[str]
    rep_id: UUID | None = None

    def has(self, scope: str) -> bool:
        """Whether this caller may act with `scope`."""
        return ADMIN_SCOPE in self.scopes or scope in self.scopes


def generate_key() -> str:
    """A new random API key, shown once to whoever creates it."""
    return KEY_PREFIX + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    """The hex SHA-256 of a key, which is all we store."""
    return hashlib.sha256(key.encode()).hexdigest()


KeyResolver = Callable[[Request, str], Awaitable[Principal | None]]
"""Looks up a key the service issued itself, by the key's SHA-256 (see the module doc)."""


def find_principal(key: str, records: Iterable[ApiKeyRecord]) -> Principal | None:
    """The configured key matching `key`, compared in constant time."""
    digest = hash_key(key)
    for record in records:
        if hmac.compare_digest(digest, record.sha256):
            return Principal(name=record.name, scopes=frozenset(record.scopes),
                             rep_id=record.rep_id)
    return None


async def resolve_key(request: Request, key: str) -> Principal | None:
    """The caller a key stands for: a configured key, else one the service issued itself."""
    principal = find_principal(key, request.app.state.settings.api_keys)
    if principal is not None:
        return principal
    resolver: KeyResolver | None = getattr(request.app.state, "key_resolver", None)
    return await resolver(request, hash_key(key)) if resolver is not None else None


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
        principal = await resolve_key(request, key)
        if principal is None:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "unknown API key",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not principal.has(scope):
            raise HTTPException(status.HTTP_403_FORBIDDEN, f"this key lacks the '{scope}' scope")
        return principal

    return dependency
