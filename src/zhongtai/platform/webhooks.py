"""Webhooks: signed HTTP delivery of events to partners, with retries and a dead letter."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import httpx
from anyio import to_thread
from sqlalchemy import ForeignKey, Integer, String, UniqueConstraint, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from zhongtai.platform.db import Base, Database, id_column
from zhongtai.platform.errors import Conflict, ValidationFailed
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.outbox import Event, OutboxEvent
from zhongtai.platform.tenancy import TenantScoped, scope_session
from zhongtai.platform.uow import UnitOfWork

SIGNATURE_HEADER = "Zhongtai-Signature"
MAX_BACKOFF = timedelta(hours=1)


class Webhook(TenantScoped, Base):
    __tablename__ = "webhook"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    url: Mapped[str] = mapped_column(String(1000))
    secret: Mapped[str] = mapped_column(String(100), default=lambda: secrets.token_hex(24))
    event_types: Mapped[list[str]] = mapped_column(default=lambda: ["*"])
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    audit_exclude = frozenset({"secret"})


class WebhookDelivery(TenantScoped, Base):
    __tablename__ = "webhook_delivery"
    __table_args__ = (UniqueConstraint("webhook_id", "event_id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    webhook_id: Mapped[str] = mapped_column(ForeignKey("webhook.id"), index=True)
    event_id: Mapped[str] = mapped_column(ForeignKey("outbox_event.id"))
    status: Mapped[str] = mapped_column(String(12), default="pending", index=True)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column()


def sign(secret: str, body: bytes, timestamp: int | None = None) -> str:
    """`t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`: the timestamp defeats replays."""
    t = int(time.time()) if timestamp is None else timestamp
    mac = hmac.new(secret.encode(), f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    return f"t={t},v1={mac}"


def verify(secret: str, header: str, body: bytes, tolerance_seconds: int = 300) -> bool:
    """What a receiver runs: the signature matches and is fresh."""
    try:
        fields = dict(part.split("=", 1) for part in header.split(","))
        t = int(fields["t"])
    except (ValueError, KeyError):
        return False
    if abs(time.time() - t) > tolerance_seconds:
        return False
    return hmac.compare_digest(sign(secret, body, t), header)


def backoff(attempts: int, base_seconds: float) -> timedelta:
    # The exponent is capped first: a long-dead endpoint must not overflow timedelta.
    seconds = base_seconds * 2 ** min(attempts - 1, 32)
    return min(timedelta(seconds=seconds), MAX_BACKOFF)


def enqueue(session: Session, events: list[Event]) -> None:
    """Queue one delivery per active webhook that wants the event, in its own tenant."""
    tenants = {e.tenant_id for e in events}
    hooks = session.scalars(
        select(Webhook).where(Webhook.active.is_(True), Webhook.tenant_id.in_(tenants))
    ).all()
    # An event sent twice (a relay outlived its lease) is still queued once per webhook.
    queued = {
        tuple(row)
        for row in session.execute(
            select(WebhookDelivery.webhook_id, WebhookDelivery.event_id).where(
                WebhookDelivery.event_id.in_([e.id for e in events])
            )
        ).all()
    }
    for event in events:
        for hook in hooks:
            wanted = "*" in hook.event_types or event.type in hook.event_types
            if hook.tenant_id == event.tenant_id and wanted and (hook.id, event.id) not in queued:
                session.add(
                    WebhookDelivery(
                        tenant_id=event.tenant_id, webhook_id=hook.id, event_id=event.id
                    )
                )


@dataclass(frozen=True)
class _Due:
    delivery_id: str
    tenant_id: str
    url: str
    secret: str
    body: bytes
    event_id: str
    event_type: str


def _due(db: Database, limit: int) -> list[_Due]:
    with db.session(write=False) as session:
        scope_session(session, None)
        rows = session.execute(
            select(WebhookDelivery, Webhook, OutboxEvent)
            .join(Webhook, Webhook.id == WebhookDelivery.webhook_id)
            .join(OutboxEvent, OutboxEvent.id == WebhookDelivery.event_id)
            .where(WebhookDelivery.status == "pending", WebhookDelivery.next_attempt_at <= utcnow())
            .order_by(WebhookDelivery.next_attempt_at)
            .limit(limit)
        ).all()
        return [
            _Due(
                d.id,
                d.tenant_id,
                h.url,
                h.secret,
                json.dumps(Event.of(e).envelope(), ensure_ascii=False).encode(),
                e.id,
                e.type,
            )
            for d, h, e in rows
        ]


async def _post(client: httpx.AsyncClient, due: _Due) -> tuple[int | None, str | None]:
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: sign(due.secret, due.body),
        "Zhongtai-Event-Id": due.event_id,
        "Zhongtai-Event-Type": due.event_type,
    }
    try:
        resp = await client.post(due.url, content=due.body, headers=headers)
    except httpx.HTTPError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:500]
    return resp.status_code, None if resp.is_success else f"HTTP {resp.status_code}"


def _record(
    db: Database,
    outcomes: list[tuple[_Due, int | None, str | None]],
    max_attempts: int,
    base: float,
) -> None:
    with db.session(write=True) as session:
        scope_session(session, None)
        for due, status, error in outcomes:
            row = session.get(WebhookDelivery, due.delivery_id)
            if row is None or row.status != "pending":
                continue
            row.attempts += 1
            row.last_status, row.last_error = status, error
            if error is None:
                row.status, row.delivered_at = "delivered", utcnow()
            elif row.attempts >= max_attempts:
                row.status = "dead"
            else:
                row.next_attempt_at = utcnow() + backoff(row.attempts, base)
        session.commit()


async def deliver_due(
    db: Database,
    client: httpx.AsyncClient,
    *,
    max_attempts: int,
    backoff_seconds: float,
    limit: int = 100,
) -> int:
    """Attempt every delivery that is due; returns how many were attempted."""

    due = await to_thread.run_sync(_due, db, limit)
    if not due:
        return 0
    results = await asyncio.gather(*(_post(client, d) for d in due))
    outcomes = [(d, status, err) for d, (status, err) in zip(due, results, strict=True)]
    await to_thread.run_sync(_record, db, outcomes, max_attempts, backoff_seconds)
    return len(due)


# --- use cases ------------------------------------------------------------------------


def _check_url(url: str) -> None:
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ValidationFailed("url", f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValidationFailed("url", "an absolute http(s) URL")


def register(uow: UnitOfWork, url: str, event_types: list[str]) -> Webhook:
    _check_url(url)
    hook = Webhook(url=url, event_types=sorted(set(event_types)) or ["*"])
    uow.session.add(hook)
    uow.session.flush()
    uow.emit("webhook.registered", {"id": hook.id, "url": url})
    return hook


def list_webhooks(uow: UnitOfWork) -> list[Webhook]:
    return list(uow.session.scalars(select(Webhook).order_by(Webhook.created_at)).all())


def get_webhook(uow: UnitOfWork, webhook_id: str) -> Webhook:
    return uow.get(Webhook, webhook_id, "webhook")


def change(
    uow: UnitOfWork,
    webhook_id: str,
    *,
    url: str | None,
    event_types: list[str] | None,
    active: bool | None,
) -> Webhook:
    hook = uow.get(Webhook, webhook_id, "webhook")
    if url is not None:
        _check_url(url)
        hook.url = url
    if event_types is not None:
        hook.event_types = sorted(set(event_types)) or ["*"]
    if active is not None:
        hook.active = active
    uow.emit("webhook.changed", {"id": hook.id, "active": hook.active})
    return hook


def deliveries(
    uow: UnitOfWork, webhook_id: str, status: str | None, limit: int
) -> list[WebhookDelivery]:
    uow.get(Webhook, webhook_id, "webhook")
    query = select(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id)
    if status:
        query = query.where(WebhookDelivery.status == status)
    return list(uow.session.scalars(query.order_by(WebhookDelivery.id.desc()).limit(limit)).all())


def retry(uow: UnitOfWork, delivery_id: str) -> WebhookDelivery:
    """Put a dead-lettered delivery back in the queue."""
    row = uow.get(WebhookDelivery, delivery_id, "delivery")
    if row.status == "delivered":
        raise Conflict("delivery already succeeded")
    row.status, row.attempts, row.next_attempt_at = "pending", 0, utcnow()
    return row
