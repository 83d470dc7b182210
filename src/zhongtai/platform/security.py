"""Passwords (argon2), bearer tokens (signed JWT with expiry) and the caller (Principal)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerifyMismatchError

from zhongtai.platform.errors import Forbidden, Unauthorized
from zhongtai.platform.ids import utcnow

_hasher = PasswordHasher()
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


def issue_token(secret: str, ttl: timedelta, tenant_id: str, actor_type: str, actor_id: str) -> str:
    now = utcnow()
    claims: dict[str, Any] = {
        "sub": actor_id,
        "tid": tenant_id,
        "typ": actor_type,
        "iat": now,
        "exp": now + ttl,
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def read_token(secret: str, token: str) -> tuple[str, str, str]:
    """(tenant_id, actor_type, actor_id) from a valid, unexpired token."""
    try:
        claims = jwt.decode(
            token, secret, algorithms=[ALGORITHM], options={"require": ["exp", "sub", "tid"]}
        )
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("token expired") from exc
    except jwt.PyJWTError as exc:
        raise Unauthorized("invalid token") from exc
    return str(claims["tid"]), str(claims.get("typ", "staff")), str(claims["sub"])
