"""The collector's durable inbox and its counters.

An event is acknowledged once it is in `event_inbox` (the transactional database), so a
crash never loses it; one ingester moves inbox rows into the warehouse in big batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import utcnow
from zhongtai.platform.tenancy import TenantScoped


class InboxEvent(TenantScoped, Base):
    """收件箱: an accepted event waiting for the warehouse, with the identifiers it links."""

    __tablename__ = "event_inbox"
    __table_args__ = (Index("ix_event_inbox_batch", "batch", "id"),)
    id: Mapped[str] = id_column(primary_key=True)
    row: Mapped[dict[str, Any]] = mapped_column(JSON)
    links: Mapped[list[list[str]]] = mapped_column(JSON)
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
