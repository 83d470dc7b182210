"""The collector's durable inbox and its counters.

An event is acknowledged once its batch is in `event_inbox` (the transactional database),
so a crash never loses it; one ingester moves inbox batches into the warehouse, several at
a time."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, Integer, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import utcnow
from zhongtai.platform.tenancy import TenantScoped


class InboxBatch(TenantScoped, Base):
    """收件箱: accepted events waiting for the warehouse, one row per batch (one insert per
    request however many events it carries). A collector batch holds its events as sent
    (`stream.Collected`: `ids`, `events`, `received_at`); business events and imports
    come as warehouse `rows`, each with the identifiers it links."""

    __tablename__ = "event_inbox"
    __table_args__ = (Index("ix_event_inbox_batch", "batch", "id"),)
    id: Mapped[str] = id_column(primary_key=True)
    rows: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    links: Mapped[list[list[list[str]]]] = mapped_column(JSON)
    ids: Mapped[list[str]] = mapped_column(JSON, server_default="[]")
    events: Mapped[list[Any]] = mapped_column(JSON, server_default="[]")
    size: Mapped[int] = mapped_column(Integer, server_default="1")  # events or rows
    # Set when the ingester takes the row; the batch id is its warehouse insert token, so a
    # batch retried after a crash is the same set of rows and is not inserted twice.
    batch: Mapped[str | None] = mapped_column(String(26))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventCounter(TenantScoped, Base):
    """Events accepted and rejected per day and reason (拒收计数)."""

    __tablename__ = "event_counter"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "day", "outcome"),)
    day: Mapped[str] = mapped_column(String(10))
    outcome: Mapped[str] = mapped_column(String(20))
    count: Mapped[int] = mapped_column(BigInteger, default=0)
