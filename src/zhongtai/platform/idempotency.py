"""Idempotent replay: a retried request with the same key does the work once.

The record is written in the same transaction as the work it protects, so a crash
either keeps both or neither: a retry after a crash runs the work again, exactly once.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import Integer, String, Text, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhongtai.platform.db import Base
from zhongtai.platform.errors import Conflict
from zhongtai.platform.ids import utcnow
from zhongtai.platform.tenancy import TenantScoped


class IdempotencyRecord(TenantScoped, Base):
    __tablename__ = "idempotency_record"
    tenant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    actor_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64))
    status_code: Mapped[int] = mapped_column(Integer)
    response_body: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)


def request_fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def find(session: Session, actor_id: str, key: str, fingerprint: str) -> IdempotencyRecord | None:
    """The stored answer for this key, or None; a key reused for another request is 409."""
    record = session.scalar(
        select(IdempotencyRecord).where(
            IdempotencyRecord.actor_id == actor_id, IdempotencyRecord.key == key
        )
    )
    if record is not None and record.request_hash != fingerprint:
        raise Conflict(
            "Idempotency-Key was already used for a different request",
            field="Idempotency-Key",
        )
    return record


def claim(session: Session, actor_id: str, key: str, fingerprint: str) -> IdempotencyRecord:
    """Insert the key now; its answer is filled in before the same transaction commits."""
    record = IdempotencyRecord(
        actor_id=actor_id, key=key, request_hash=fingerprint, status_code=0, response_body=""
    )
    session.add(record)
    session.flush()
    return record
