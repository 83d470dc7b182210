"""Audit trail: who changed what, when, with the before/after of every changed row."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import Index, Integer, String, event, inspect
from sqlalchemy.orm import Mapped, Session, UOWTransaction, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped

CHANGES = "audit_changes"  # session.info key: list of row changes, when auditing is on


class AuditEntry(TenantScoped, Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_feed", "tenant_id", "id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(26))
    actor_name: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    method: Mapped[str] = mapped_column(String(10))
    path: Mapped[str] = mapped_column(String(500))
    status_code: Mapped[int] = mapped_column(Integer)
    request_id: Mapped[str] = mapped_column(String(64))
    idempotency_key: Mapped[str | None] = mapped_column(String(200))
    target_ids: Mapped[list[str]] = mapped_column(default=list)
    changes: Mapped[list[dict[str, Any]]] = mapped_column(default=list)


def _plain(value: Any) -> Any:
    if isinstance(value, date):  # datetimes too
        return value.isoformat()
    return value


def _row_change(obj: Any, op: str) -> dict[str, Any]:
    state = inspect(obj)
    hidden: frozenset[str] = getattr(obj, "audit_exclude", frozenset())
    before: dict[str, Any] = {}
    after: dict[str, Any] = {}
    for attr in state.mapper.column_attrs:
        key = attr.key
        if key in hidden or key == "tenant_id":
            continue
        hist = state.attrs[key].history
        if op == "insert":
            after[key] = _plain(getattr(obj, key))
        elif op == "delete":
            before[key] = _plain(getattr(obj, key))
        elif hist.has_changes():
            before[key] = _plain(hist.deleted[0]) if hist.deleted else None
            after[key] = _plain(hist.added[0]) if hist.added else None
    ident = state.identity or (getattr(obj, "id", None),)
    return {
        "entity": state.mapper.local_table.name,
        "id": "/".join(str(i) for i in ident if i is not None),
        "op": op,
        "before": before,
        "after": after,
    }


@event.listens_for(Session, "before_flush")
def _collect(session: Session, _ctx: UOWTransaction, _instances: Any) -> None:
    changes: list[dict[str, Any]] | None = session.info.get(CHANGES)
    if changes is None:
        return
    for op, objs in (
        ("insert", session.new),
        ("update", session.dirty),
        ("delete", session.deleted),
    ):
        for obj in objs:
            audited = isinstance(obj, TenantScoped) and not isinstance(obj, AuditEntry)
            if audited and (op != "update" or session.is_modified(obj)):
                changes.append(_row_change(obj, op))
