"""Passwords (argon2), bearer tokens (signed JWT with expiry) and the caller (Principal)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher, profiles
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from zhongtai.platform.errors import Forbidden, Unauthorized
from zhongtai.platform.ids import utcnow

# RFC 9106's low-memory profile (64 MiB, 3 passes) in production. The test suite creates
# a few thousand staff and logs them in, at 0.1-0.3 s a hash here: it sets
# ZT_ARGON2_PROFILE=cheapest (still argon2id, minimal cost). Never set it in production.
_hasher = (
    PasswordHasher.from_parameters(profiles.CHEAPEST)
    if os.environ.get("ZT_ARGON2_PROFILE") == "cheapest"
    else PasswordHasher()
)
# Verifying against this keeps an unknown username as slow as a wrong password.
_DUMMY_HASH = _hasher.hash("not a real password")
ALGORITHM = "HS256"


def hash_secret(secret: str) -> str:
    return _hasher.hash(secret)


def verify_secret(stored_hash: str | None, secret: str) -> bool:
    try:
        return _hasher.verify(stored_hash or _DUMMY_HASH, secret) and stored_hash is not None
    except (VerifyMismatchError, InvalidHashError):
        return False


@dataclass(frozen=True)
class Principal:
    """Who is calling: a staff member or an integration's API key, within one tenant."""

    tenant_id: str
    actor_type: str  # "staff" | "client"
    actor_id: str
    name: str
    permissions: frozenset[str]
    scope: frozenset[str] | None  # org units visible; None means the whole tenant

    def require(self, permission: str) -> None:
        if permission not in self.permissions:
            raise Forbidden(f"missing permission {permission}", permission=permission)


@dataclass(frozen=True)
class TokenClaims:
    """What a bearer token says: who, in which tenant, at which credentials version."""

    tenant_id: str
    actor_type: str  # "staff" | "client"
    actor_id: str
    version: int = 0  # bumped when a password changes: older tokens stop working


def issue_token(secret: str, ttl: timedelta, claims: TokenClaims) -> str:
    now = utcnow()
    payload: dict[str, Any] = {
        "sub": claims.actor_id,
        "tid": claims.tenant_id,
        "typ": claims.actor_type,
        "ver": claims.version,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(payload, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> TokenClaims:
    """The claims of a valid, unexpired token."""
    try:
        payload = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "tid"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token") from exc
    return TokenClaims(
        tenant_id=str(payload["tid"]),
        actor_type=str(payload.get("typ", "staff")),
        actor_id=str(payload["sub"]),
        version=int(payload.get("ver", 0)),
    )
