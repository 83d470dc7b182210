"""Tables of the order centre: the order, its lines and where each unit comes from."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import BigInteger, Float, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import DataScoped, TenantScoped


class SalesOrder(TenantScoped, Base):
    """销售订单: one order from any channel; amounts in minor units (fen)."""

    __tablename__ = "sales_order"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_sales_order_member", "tenant_id", "member", "id"),
        Index("ix_sales_order_member_id", "tenant_id", "member_id", "id"),
        Index("ix_sales_order_status", "tenant_id", "status", "id"),
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(40))
    channel: Mapped[str] = mapped_column(String(40))
    member: Mapped[str | None] = mapped_column(String(64))  # as given: phone, card, id
    member_id: Mapped[str | None] = mapped_column(String(26))  # the member it resolved to
    status: Mapped[str] = mapped_column(String(20))
    fulfilment_type: Mapped[str] = mapped_column(String(20))
    store_id: Mapped[str | None] = mapped_column(String(26))  # sold in / collected at
    lat: Mapped[float | None] = mapped_column(Float)
    lng: Mapped[float | None] = mapped_column(Float)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    subtotal: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    tax: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    paid: Mapped[int] = mapped_column(BigInteger, default=0)
    reservation_id: Mapped[str | None] = mapped_column(String(26))
    pickup_code: Mapped[str | None] = mapped_column(String(12))
    slot_start: Mapped[datetime | None] = mapped_column()  # booked delivery slot (o2o)
    slot_end: Mapped[datetime | None] = mapped_column()
    sourcing: Mapped[str] = mapped_column(String(12), default="")  # how locations were chosen
    exchange_for: Mapped[str | None] = mapped_column(String(26))  # the return it replaces
    actor_id: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    cancelled_at: Mapped[datetime | None] = mapped_column()
    cancel_reason: Mapped[str | None] = mapped_column(String(200))


class SalesOrderLine(TenantScoped, Base):
    """A line with its money: gross = unit price x qty; net = gross - allocated discount
    (what the shopper paid for these units, the base of any refund); tax inside net."""

    __tablename__ = "sales_order_line"
    __table_args__ = (UniqueConstraint("order_id", "line_no"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"), index=True)
    line_no: Mapped[int] = mapped_column(Integer)
    sku_id: Mapped[str] = mapped_column(String(26))
    sku_code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    qty: Mapped[int] = mapped_column(BigInteger)
    unit_price: Mapped[int] = mapped_column(BigInteger)
    gross: Mapped[int] = mapped_column(BigInteger)
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    net: Mapped[int] = mapped_column(BigInteger)
    tax_rate_bp: Mapped[int] = mapped_column(Integer)
    tax: Mapped[int] = mapped_column(BigInteger)


class OrderAllocation(TenantScoped, Base):
    """Units of a SKU the order takes from a location, and why that location (智能路由)."""

    __tablename__ = "order_allocation"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(26))
    location_id: Mapped[str] = mapped_column(String(26))
    qty: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(300))


class FulfilmentOrder(DataScoped, Base):
    """履约单: the part of an order one location fulfils; staff of that location see it."""

    __tablename__ = "fulfilment_order"
    __table_args__ = (Index("ix_fulfilment_order_queue", "tenant_id", "location_id", "status"),)
    scope_attribute: ClassVar[str] = "location_id"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"), index=True)
    location_id: Mapped[str] = mapped_column(String(26))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    reservation_id: Mapped[str | None] = mapped_column(String(26))  # the hold it ships from
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class FulfilmentLine(TenantScoped, Base):
    __tablename__ = "fulfilment_line"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    fulfilment_id: Mapped[str] = mapped_column(ForeignKey("fulfilment_order.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(26))
    qty: Mapped[int] = mapped_column(BigInteger)


class ReturnRequest(TenantScoped, Base):
    """退货单 (逆向订单): units of an order coming back, and the money going back."""

    __tablename__ = "return_request"
    __table_args__ = (UniqueConstraint("tenant_id", "number"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"), index=True)
    status: Mapped[str] = mapped_column(String(12))
    reason: Mapped[str] = mapped_column(String(64))
    refund: Mapped[int] = mapped_column(BigInteger)
    location_id: Mapped[str | None] = mapped_column(String(26))
    disposition: Mapped[str | None] = mapped_column(String(12))
    exchange_order_id: Mapped[str | None] = mapped_column(String(26))  # 换货: goods instead
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ReturnLine(TenantScoped, Base):
    __tablename__ = "return_line"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    return_id: Mapped[str] = mapped_column(ForeignKey("return_request.id"), index=True)
    order_line_id: Mapped[str] = mapped_column(String(26))
    sku_id: Mapped[str] = mapped_column(String(26))
    qty: Mapped[int] = mapped_column(BigInteger)
    refund: Mapped[int] = mapped_column(BigInteger)


class TaxRate(TenantScoped, Base):
    """增值税率 of a category, inherited by its sub-categories."""

    __tablename__ = "tax_rate"
    __table_args__ = (UniqueConstraint("tenant_id", "category_id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    category_id: Mapped[str] = mapped_column(String(26))
    rate_bp: Mapped[int] = mapped_column(Integer)


class InvoiceRequest(TenantScoped, Base):
    """开票申请: what the shopper asked to be invoiced for an order (issuing to the tax
    authority is another system's job)."""

    __tablename__ = "invoice_request"
    __table_args__ = (UniqueConstraint("tenant_id", "order_id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"))
    title: Mapped[str] = mapped_column(String(200))
    tax_number: Mapped[str | None] = mapped_column(String(20))
    email: Mapped[str | None] = mapped_column(String(200))
    amount: Mapped[int] = mapped_column(BigInteger)
    tax: Mapped[int] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(12), default="requested")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Cart(TenantScoped, Base):
    """购物车: one per member (or guest device), shared by every device signed in as them;
    `version` grows with every change so a device can tell its copy is stale."""

    __tablename__ = "cart"
    __table_args__ = (UniqueConstraint("tenant_id", "owner"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    owner: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=0)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CartLine(TenantScoped, Base):
    __tablename__ = "cart_line"
    __table_args__ = (UniqueConstraint("cart_id", "sku_id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    cart_id: Mapped[str] = mapped_column(ForeignKey("cart.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(26))
    qty: Mapped[int] = mapped_column(BigInteger)
    added_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlotCapacity(TenantScoped, Base):
    """How many orders a location can deliver in one slot (配送运力)."""

    __tablename__ = "slot_capacity"
    __table_args__ = (UniqueConstraint("tenant_id", "location_id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    location_id: Mapped[str] = mapped_column(String(26))
    per_slot: Mapped[int] = mapped_column(Integer)


class SlotBooking(TenantScoped, Base):
    """Orders booked into one delivery slot of a location; never above its capacity."""

    __tablename__ = "slot_booking"
    __table_args__ = (UniqueConstraint("tenant_id", "location_id", "starts_at"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    location_id: Mapped[str] = mapped_column(String(26))
    starts_at: Mapped[datetime] = mapped_column()
    booked: Mapped[int] = mapped_column(Integer, default=0)


class Backorder(TenantScoped, Base):
    """缺货待发: units an order still owes the shopper without stock held for them, short
    at checkout or found short when picking (`avoid_location_id`: not from there again);
    `qty` falls as they are sourced or cancelled."""

    __tablename__ = "backorder"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(ForeignKey("sales_order.id"), index=True)
    sku_id: Mapped[str] = mapped_column(String(26))
    qty: Mapped[int] = mapped_column(BigInteger)
    avoid_location_id: Mapped[str | None] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    tried_at: Mapped[datetime | None] = mapped_column()
