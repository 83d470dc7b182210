"""Tables of the inventory centre: locations, balances and the immutable ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import DataScoped, TenantScoped


class Location(DataScoped, Base):
    """A store, warehouse or front warehouse (前置仓): the org unit of the same id, with
    where it is and how far it serves."""

    __tablename__ = "location"
    scope_attribute: ClassVar[str] = "id"
    id: Mapped[str] = mapped_column(ForeignKey("org_unit.id"), primary_key=True)
    type: Mapped[str] = mapped_column(String(20))
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    service_radius_m: Mapped[int] = mapped_column(Integer, default=0)
    opening_hours: Mapped[dict[str, Any]] = mapped_column(default=dict)


class Bin(DataScoped, Base):
    """库位: a place inside a warehouse or back room where SKUs are put away and picked."""

    __tablename__ = "bin"
    __table_args__ = (UniqueConstraint("tenant_id", "location_id", "code"),)
    scope_attribute: ClassVar[str] = "location_id"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    location_id: Mapped[str] = mapped_column(ForeignKey("location.id"))
    code: Mapped[str] = mapped_column(String(40))
    zone: Mapped[str] = mapped_column(String(40), default="")


class StockLevel(DataScoped, Base):
    """Stock of a SKU at a location: on hand (all batches), reserved, in transit, safety.

    The row every change of that SKU there locks first; changed only together with a
    ledger row or a reservation, in the same transaction."""

    __tablename__ = "stock_level"
    scope_attribute: ClassVar[str] = "location_id"
    tenant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    on_hand: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    in_transit: Mapped[int] = mapped_column(BigInteger, default=0)
    safety_stock: Mapped[int] = mapped_column(BigInteger, default=0)
    bin: Mapped[str | None] = mapped_column(String(40))  # where it is put away and picked
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class StockBatch(DataScoped, Base):
    """On hand of one batch (批次) of a SKU at a location; batch "" when not tracked."""

    __tablename__ = "stock_batch"
    scope_attribute: ClassVar[str] = "location_id"
    tenant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    batch: Mapped[str] = mapped_column(String(40), primary_key=True, default="")
    expiry: Mapped[date | None] = mapped_column()
    on_hand: Mapped[int] = mapped_column(BigInteger, default=0)


class StockSerial(DataScoped, Base):
    """序列号: one unit of a serialised SKU, where it is and what last moved it."""

    __tablename__ = "stock_serial"
    __table_args__ = (UniqueConstraint("tenant_id", "sku_id", "serial"),)
    scope_attribute: ClassVar[str] = "location_id"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    sku_id: Mapped[str] = mapped_column(String(26))
    serial: Mapped[str] = mapped_column(String(64))
    location_id: Mapped[str] = mapped_column(String(26))
    status: Mapped[str] = mapped_column(String(12))
    document: Mapped[str] = mapped_column(String(40))
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Reservation(TenantScoped, Base):
    """库存锁定: stock held for a cart or order until it is confirmed, released or expires."""

    __tablename__ = "reservation"
    __table_args__ = (Index("ix_reservation_due", "status", "expires_at"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String(64))
    channel: Mapped[str] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(12), default="active")
    expires_at: Mapped[datetime | None] = mapped_column()
    actor_id: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    closed_at: Mapped[datetime | None] = mapped_column()


class ReservationLine(DataScoped, Base):
    """Stock held at one level. `expires_at` is set only while the hold can lapse, so the
    units that lapsed but are not swept yet are one index range away."""

    __tablename__ = "reservation_line"
    __table_args__ = (
        # Lapsed holds of a SKU are a short range here however many live holds it has.
        Index("ix_reservation_line_lapsed", "tenant_id", "sku_id", "expires_at"),
        Index(
            "ix_reservation_line_quota",
            "allocation_id",
            "expires_at",
            postgresql_where=text("allocation_id IS NOT NULL"),
            sqlite_where=text("allocation_id IS NOT NULL"),
        ),
    )
    scope_attribute: ClassVar[str] = "location_id"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    reservation_id: Mapped[str] = mapped_column(ForeignKey("reservation.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(26))
    location_id: Mapped[str] = mapped_column(String(26))
    qty: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column()
    allocation_id: Mapped[str | None] = mapped_column(String(26))  # the quota drawn on


class StockAllocation(TenantScoped, Base):
    """库存分配: a rule deciding what a channel may sell from a location (see
    `model.Rulebook`). Quotas count the units drawn (`used`); a rule is ended, not
    deleted, so holds drawn on it can still give their units back."""

    __tablename__ = "stock_allocation"
    __table_args__ = (Index("ix_stock_allocation_location", "tenant_id", "location_id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(10))
    channel: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[str] = mapped_column(String(26))
    sku_id: Mapped[str | None] = mapped_column(String(26))
    pct: Mapped[int] = mapped_column(Integer, default=0)
    qty: Mapped[int] = mapped_column(BigInteger, default=0)
    used: Mapped[int] = mapped_column(BigInteger, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column()


class StockMovement(DataScoped, Base):
    """库存流水: one immutable row per change of on-hand stock."""

    __tablename__ = "stock_movement"
    __table_args__ = (Index("ix_stock_movement_balance", "tenant_id", "sku_id", "location_id"),)
    scope_attribute: ClassVar[str] = "location_id"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    sku_id: Mapped[str] = mapped_column(String(26))
    location_id: Mapped[str] = mapped_column(String(26))
    batch: Mapped[str] = mapped_column(String(40), default="")
    kind: Mapped[str] = mapped_column(String(20))
    qty: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str | None] = mapped_column(String(64))
    document: Mapped[str] = mapped_column(String(40))
    actor_id: Mapped[str] = mapped_column(String(26), default="")
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Transfer(TenantScoped, Base):
    """调拨: stock sent from one location to another, in transit until received."""

    __tablename__ = "transfer"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(40))
    from_location_id: Mapped[str] = mapped_column(String(26))
    to_location_id: Mapped[str] = mapped_column(String(26))
    status: Mapped[str] = mapped_column(String(12), default="in_transit")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    received_at: Mapped[datetime | None] = mapped_column()


class TransferLine(TenantScoped, Base):
    __tablename__ = "transfer_line"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    transfer_id: Mapped[str] = mapped_column(ForeignKey("transfer.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(26))
    batch: Mapped[str] = mapped_column(String(40), default="")
    expiry: Mapped[date | None] = mapped_column()
    qty: Mapped[int] = mapped_column(BigInteger)
    serials: Mapped[list[str]] = mapped_column(default=list)


class StockCount(DataScoped, Base):
    """盘点: a stock count at one location, optionally of one category."""

    __tablename__ = "stock_count"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)
    scope_attribute: ClassVar[str] = "location_id"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(40))
    location_id: Mapped[str] = mapped_column(String(26))
    category_id: Mapped[str | None] = mapped_column(String(26))
    status: Mapped[str] = mapped_column(String(12), default="open")
    opened_at: Mapped[datetime] = mapped_column(default=utcnow)
    posted_at: Mapped[datetime | None] = mapped_column()


class StockCountLine(TenantScoped, Base):
    """A counted quantity with the system's on-hand at the moment it was counted: goods
    sold or received after that moment are not variance."""

    __tablename__ = "stock_count_line"
    __table_args__ = (UniqueConstraint("count_id", "sku_id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    count_id: Mapped[str] = mapped_column(ForeignKey("stock_count.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(26))
    counted: Mapped[int] = mapped_column(BigInteger)
    system_qty: Mapped[int] = mapped_column(BigInteger)
    counted_at: Mapped[datetime] = mapped_column(default=utcnow)
