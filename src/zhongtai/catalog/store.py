"""Tables of the product centre."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped


class CatalogSettings(TenantScoped, Base):
    """Per tenant: enabled industry packs, currency, weighed-label format."""

    __tablename__ = "catalog_settings"
    tenant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    packs: Mapped[list[str]] = mapped_column(default=lambda: ["general"])
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    weighed_item_digits: Mapped[int] = mapped_column(Integer, default=5)
    weighed_value: Mapped[str] = mapped_column(String(10), default="weight")


class Category(TenantScoped, Base):
    """商品类目: a node of the category tree with its attribute template."""

    __tablename__ = "category"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("category.id"), index=True)
    path: Mapped[str] = mapped_column(String(1000), index=True)
    attributes: Mapped[list[dict[str, Any]]] = mapped_column(default=list)


class Brand(TenantScoped, Base):
    __tablename__ = "brand"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))


class Product(TenantScoped, Base):
    """The SPU: what a shopper thinks of as one product."""

    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    category_id: Mapped[str] = mapped_column(ForeignKey("category.id"), index=True)
    brand_id: Mapped[str | None] = mapped_column(ForeignKey("brand.id"))
    pack: Mapped[str] = mapped_column(String(20), default="general")
    status: Mapped[str] = mapped_column(String(20), default="active")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    tags: Mapped[list[str]] = mapped_column(default=list)
    images: Mapped[list[str]] = mapped_column(default=list)
    sold_by_weight: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Sku(TenantScoped, Base):
    """A variant that is stocked and sold; quantities are in its base unit."""

    __tablename__ = "sku"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    product_id: Mapped[str] = mapped_column(ForeignKey("product.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(20), default="active")
    attributes: Mapped[dict[str, Any]] = mapped_column(default=dict)
    base_unit: Mapped[str] = mapped_column(String(10), default="each")
    units: Mapped[list[dict[str, Any]]] = mapped_column(default=list)
    prescription_only: Mapped[bool] = mapped_column(Boolean, default=False)
    batch_required: Mapped[bool] = mapped_column(Boolean, default=False)
    serial_required: Mapped[bool] = mapped_column(Boolean, default=False)
    service_for_sku_id: Mapped[str | None] = mapped_column(String(26))
    search_text: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class SkuBarcode(TenantScoped, Base):
    """条码: one of a SKU's barcodes; `key` is the normalised form scans look up."""

    __tablename__ = "sku_barcode"
    __table_args__ = (UniqueConstraint("tenant_id", "key"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    sku_id: Mapped[str] = mapped_column(ForeignKey("sku.id"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))
    key: Mapped[str] = mapped_column(String(64))
    unit: Mapped[str] = mapped_column(String(20), default="each")
    unit_factor: Mapped[int] = mapped_column(Integer, default=1)


class ListingRow(TenantScoped, Base):
    """上下架: a decision to list or delist a SKU on a channel, from a moment on."""

    __tablename__ = "listing"
    __table_args__ = (Index("ix_listing_due", "announced", "effective_at"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    sku_id: Mapped[str] = mapped_column(ForeignKey("sku.id"), index=True)
    channel: Mapped[str] = mapped_column(String(40))
    store_id: Mapped[str | None] = mapped_column(String(26))
    listed: Mapped[bool] = mapped_column(Boolean)
    effective_at: Mapped[datetime] = mapped_column()
    announced: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
