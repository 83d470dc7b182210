"""Transactional outbox (事件发件箱): events written with the change, delivered at least once."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Index, Integer, String, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhongtai.platform.db import Base, Database, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped, scope_session


class OutboxEvent(TenantScoped, Base):
    __tablename__ = "outbox_event"
    __table_args__ = (
        Index("ix_outbox_event_feed", "tenant_id", "id"),
        Index("ix_outbox_event_subject", "tenant_id", "subject", "id"),
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    type: Mapped[str] = mapped_column(String(100), index=True)
    # The business document the event belongs to (an order's id for its payments,
    # parcels and returns too), so its timeline is one indexed read.
    subject: Mapped[str | None] = mapped_column(String(26))
    version: Mapped[int] = mapped_column(Integer, default=1)
    payload: Mapped[dict[str, Any]] = mapped_column()
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    dispatched_at: Mapped[datetime | None] = mapped_column(index=True)
    claimed_until: Mapped[datetime | None] = mapped_column()


class ProcessedEvent(Base):
    """Which consumer has already handled which event: makes consumers idempotent."""

    __tablename__ = "processed_event"
    consumer: Mapped[str] = mapped_column(String(100), primary_key=True)
    event_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    processed_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True)
class Event:
    id: str
    tenant_id: str
    type: str
    version: int
    payload: dict[str, Any]
    occurred_at: datetime

    def envelope(self) -> dict[str, Any]:
        """The JSON shape sent to webhooks and NATS."""
        return {
            "id": self.id,
            "type": self.type,
            "version": self.version,
            "tenant_id": self.tenant_id,
            "occurred_at": self.occurred_at.isoformat(),
            "data": self.payload,
        }

    @classmethod
    def of(cls, row: OutboxEvent) -> Event:
        return cls(row.id, row.tenant_id, row.type, row.version, row.payload, row.occurred_at)


def record(
    session: Session,
    type_: str,
    payload: dict[str, Any],
    version: int = 1,
    subject: str | None = None,
) -> None:
    """Write an event in the caller's transaction: it exists if and only if the change does."""
    session.add(OutboxEvent(type=type_, version=version, payload=payload, subject=subject))


Handler = Callable[[Database, Event], None]
_handlers: dict[str, list[tuple[str, Handler]]] = defaultdict(list)


def subscribe(event_type: str, consumer: str) -> Callable[[Handler], Handler]:
    """Register an in-process consumer; '*' receives every event type."""

    def wrap(fn: Handler) -> Handler:
        _handlers[event_type].append((consumer, fn))
        return fn

    return wrap


def handlers_for(event_type: str) -> list[tuple[str, Handler]]:
    return _handlers.get(event_type, []) + _handlers.get("*", [])


def consume_once(
    db: Database, consumer: str, event: Event, work: Callable[[Session], None]
) -> bool:
    """Run `work` for this event at most once per consumer, atomically with the mark."""
    with db.session(write=True) as session:
        scope_session(session, event.tenant_id)
        if session.get(ProcessedEvent, (consumer, event.id)) is not None:
            return False
        session.add(ProcessedEvent(consumer=consumer, event_id=event.id))
        work(session)
        try:
            session.commit()
        except IntegrityError:
            session.rollback()
            return False
    return True


def claim_batch(db: Database, limit: int, lease: timedelta) -> list[Event]:
    """Lease up to `limit` undelivered events so that parallel relays split the work."""
    now = utcnow()
    with db.session(write=True) as session:
        scope_session(session, None)
        ids = session.scalars(
            select(OutboxEvent.id)
            .where(
                OutboxEvent.dispatched_at.is_(None),
                or_(OutboxEvent.claimed_until.is_(None), OutboxEvent.claimed_until < now),
            )
            .order_by(OutboxEvent.id)
            .limit(limit)
            .with_for_update(skip_locked=True)
        ).all()
        if not ids:
            return []
        session.execute(
            update(OutboxEvent).where(OutboxEvent.id.in_(ids)).values(claimed_until=now + lease)
        )
        rows = session.scalars(
            select(OutboxEvent).where(OutboxEvent.id.in_(ids)).order_by(OutboxEvent.id)
        ).all()
        events = [Event.of(r) for r in rows]
        session.commit()
    return events


def mark_dispatched(session: Session, event_ids: list[str]) -> None:
    session.execute(
        update(OutboxEvent)
        .where(OutboxEvent.id.in_(event_ids))
        .values(dispatched_at=utcnow(), claimed_until=None)
    )


def run_handlers(db: Database, event: Event) -> None:
    for _consumer, fn in handlers_for(event.type):
        fn(db, event)
