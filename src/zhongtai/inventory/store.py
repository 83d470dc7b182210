"""Tables of the inventory centre: locations, balances and the immutable ledger."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import DataScoped


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


class StockBalance(DataScoped, Base):
    """On hand, reserved, in transit and safety stock of a SKU at a location (and batch).

    Changed only together with a ledger row, in the same transaction."""

    __tablename__ = "stock_balance"
    scope_attribute: ClassVar[str] = "location_id"
    tenant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    sku_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    location_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    batch: Mapped[str] = mapped_column(String(40), primary_key=True, default="")
    expiry: Mapped[date | None] = mapped_column()
    on_hand: Mapped[int] = mapped_column(BigInteger, default=0)
    reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    in_transit: Mapped[int] = mapped_column(BigInteger, default=0)
    safety_stock: Mapped[int] = mapped_column(BigInteger, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


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
