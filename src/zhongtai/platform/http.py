"""The thin HTTP edge shared by every capability: who calls, and one transaction per call.

`writer(permission)` gives a route a `Ctx` whose `mutate()` runs the work in one unit of
work together with its idempotency record, its audit entry and its outbox events.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol

from anyio import to_thread
from fastapi import Depends, Header, Request
from fastapi.encoders import jsonable_encoder
from fastapi.responses import JSONResponse
from fastapi.security import OAuth2PasswordBearer
from pydantic import BaseModel
from sqlalchemy.exc import IntegrityError
from starlette.datastructures import UploadFile as StarletteUploadFile

from zhongtai.platform import idempotency
from zhongtai.platform.audit import CHANGES, AuditEntry
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ProblemError, Unauthorized
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.security import Principal, TokenClaims, read_token
from zhongtai.platform.uow import UnitOfWork

oauth2 = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)
REPLAY_HEADER = "Idempotent-Replayed"


class PrincipalLoader(Protocol):
    def __call__(self, db: Database, claims: TokenClaims) -> Principal: ...


@dataclass
class Ctx:
    """One authenticated request."""

    principal: Principal
    db: Database
    request_id: str
    method: str
    path: str
    action: str
    idempotency_key: str | None = None
    fingerprint: str = ""

    def read(self) -> UnitOfWork:
        return UnitOfWork.for_principal(self.db, self.principal, write=False)

    def mutate(self, work: Callable[[UnitOfWork], Any], *, status_code: int = 200) -> JSONResponse:
        """Run `work` once; a replay with the same Idempotency-Key gets the first answer."""
        key, actor = self.idempotency_key, self.principal.actor_id
        try:
            with UnitOfWork.for_principal(self.db, self.principal, write=True) as uow:
                record = None
                if key:
                    if stored := idempotency.find(uow.session, actor, key, self.fingerprint):
                        return _replay(stored)
                    # Claimed before the work: a concurrent twin waits on this row's key.
                    record = idempotency.claim(uow.session, actor, key, self.fingerprint)
                uow.session.info[CHANGES] = []
                body = _plain(work(uow))
                uow.session.flush()
                self._audit(uow, status_code, body, uow.session.info.pop(CHANGES))
                if record is not None:
                    record.status_code, record.response_body = status_code, json.dumps(body)
                uow.commit()
        except IntegrityError:
            # A concurrent twin with the same key committed first: answer as it did.
            if key and (replay := self._replay_of(key)):
                return replay
            raise
        except ProblemError as exc:
            self.audit_refusal(exc.status)
            raise
        return JSONResponse(body, status_code=status_code)

    def _replay_of(self, key: str) -> JSONResponse | None:
        with self.read() as uow:
            stored = idempotency.find(uow.session, self.principal.actor_id, key, self.fingerprint)
            return _replay(stored) if stored else None

    def replay(self) -> JSONResponse | None:
        """The stored answer to this request's Idempotency-Key, if it was answered."""
        return self._replay_of(self.idempotency_key) if self.idempotency_key else None

    def audit_row(self, status: int, body: Any, changes: list[dict[str, Any]]) -> dict[str, Any]:
        """This call's audit entry as column values (for writers that batch their rows)."""
        target = [body["id"]] if isinstance(body, dict) and isinstance(body.get("id"), str) else []
        return {
            "id": new_id(),
            "tenant_id": self.principal.tenant_id,
            "at": utcnow(),
            "actor_type": self.principal.actor_type,
            "actor_id": self.principal.actor_id,
            "actor_name": self.principal.name,
            "action": self.action,
            "method": self.method,
            "path": self.path,
            "status_code": status,
            "request_id": self.request_id,
            "idempotency_key": self.idempotency_key,
            "target_ids": target + sorted({c["id"] for c in changes if c["id"] not in target}),
            "changes": changes,
        }

    def idempotency_row(self, status: int, body: Any) -> dict[str, Any] | None:
        """The record that answers a retry of this call, as column values; None without a
        key."""
        if not self.idempotency_key:
            return None
        return {
            "tenant_id": self.principal.tenant_id,
            "actor_id": self.principal.actor_id,
            "key": self.idempotency_key,
            "request_hash": self.fingerprint,
            "status_code": status,
            "response_body": json.dumps(body),
            "created_at": utcnow(),
        }

    def _audit(
        self, uow: UnitOfWork, status: int, body: Any, changes: list[dict[str, Any]]
    ) -> None:
        uow.session.add(AuditEntry(**self.audit_row(status, body, changes)))

    def audit_refusal(self, status: int) -> None:
        """Refused changes are part of the trail too (who tried what)."""
        with UnitOfWork.for_principal(self.db, self.principal, write=True) as uow:
            self._audit(uow, status, None, [])
            uow.commit()


def _plain(result: Any) -> Any:
    if isinstance(result, BaseModel):
        return result.model_dump(mode="json")
    return jsonable_encoder(result)


def _replay(stored: idempotency.IdempotencyRecord) -> JSONResponse:
    return JSONResponse(
        json.loads(stored.response_body),
        status_code=stored.status_code,
        headers={REPLAY_HEADER: "true"},
    )


async def _principal(request: Request, token: str | None) -> Principal:
    if not token:
        raise Unauthorized("missing bearer token")
    state = request.app.state
    claims = read_token(state.settings.secret_key, token)
    loader: PrincipalLoader = state.principal_loader
    return await to_thread.run_sync(loader, state.db, claims)


def _ctx(request: Request, principal: Principal) -> Ctx:
    route = request.scope.get("route")
    return Ctx(
        principal=principal,
        db=request.app.state.db,
        request_id=getattr(request.state, "request_id", ""),
        method=request.method,
        path=request.url.path,
        action=getattr(route, "name", request.url.path),
    )


async def _body_bytes(request: Request) -> bytes:
    """The request body for fingerprinting; an upload's parsed form stands in for the raw
    stream, which the form parser has already consumed."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return await request.body()
    parts = []
    for key, value in (await request.form()).multi_items():
        if isinstance(value, StarletteUploadFile):
            digest = hashlib.sha256(await value.read()).hexdigest()
            await value.seek(0)
            parts.append(f"{key}={value.filename}:{digest}")
        else:
            parts.append(f"{key}={value}")
    return "\0".join(parts).encode()


def reader(permission: str) -> Callable[..., Awaitable[Ctx]]:
    """Dependency for a read route that needs `permission`."""

    async def dependency(request: Request, token: str | None = Depends(oauth2)) -> Ctx:
        principal = await _principal(request, token)
        principal.require(permission)
        return _ctx(request, principal)

    return dependency


def asker(permission: str) -> Callable[..., Awaitable[Ctx]]:
    """Dependency for a POST that only reads (a quote, a count, an analysis): it accepts
    the Idempotency-Key header like every POST; a retry simply asks again."""

    async def dependency(
        request: Request,
        token: str | None = Depends(oauth2),
        _key: str | None = Header(
            None,
            alias="Idempotency-Key",
            max_length=200,
            description="Accepted like every POST's; this changes nothing, so a retry asks again",
        ),
    ) -> Ctx:
        principal = await _principal(request, token)
        principal.require(permission)
        return _ctx(request, principal)

    return dependency


def writer(permission: str) -> Callable[..., Awaitable[Ctx]]:
    """Dependency for a mutating route: adds the Idempotency-Key header."""

    async def dependency(
        request: Request,
        token: str | None = Depends(oauth2),
        idempotency_key: str | None = Header(
            None,
            alias="Idempotency-Key",
            min_length=1,
            max_length=200,
            description="Retry-safe key: a replay with the same body returns the first answer",
        ),
    ) -> Ctx:
        principal = await _principal(request, token)
        principal.require(permission)
        ctx = _ctx(request, principal)
        if idempotency_key:  # only a keyed request is ever compared with another
            ctx.idempotency_key = idempotency_key
            ctx.fingerprint = idempotency.request_fingerprint(
                request.method, request.url.path, request.url.query, await _body_bytes(request)
            )
        return ctx

    return dependency
