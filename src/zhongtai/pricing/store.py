"""Tables of the price service: every price ever set, kept as history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped


class PriceRow(TenantScoped, Base):
    """One price rule; a new price for the same key supersedes it and both are kept."""

    __tablename__ = "price"
    __table_args__ = (Index("ix_price_current", "tenant_id", "sku_id", "superseded_by"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    sku_id: Mapped[str] = mapped_column(ForeignKey("sku.id"))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    channel: Mapped[str | None] = mapped_column(String(40))
    store_id: Mapped[str | None] = mapped_column(String(26))
    member_tier: Mapped[str | None] = mapped_column(String(40))
    valid_from: Mapped[datetime | None] = mapped_column()
    valid_to: Mapped[datetime | None] = mapped_column()
    superseded_by: Mapped[str | None] = mapped_column(String(26))
    set_by: Mapped[str] = mapped_column(String(26), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
