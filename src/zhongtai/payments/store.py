"""Tables of the payment service."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped


class Payment(TenantScoped, Base):
    """One tender on an order (an order may have several: split tender)."""

    __tablename__ = "payment"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    order_id: Mapped[str] = mapped_column(String(26), index=True)
    provider: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(12))
    amount: Mapped[int] = mapped_column(BigInteger)
    captured: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded: Mapped[int] = mapped_column(BigInteger, default=0)
    change: Mapped[int] = mapped_column(BigInteger, default=0)
    reference: Mapped[str] = mapped_column(String(64))
    message: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class PaymentRefund(TenantScoped, Base):
    """Money given back on a payment, to the tender it came from."""

    __tablename__ = "payment_refund"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    payment_id: Mapped[str] = mapped_column(ForeignKey("payment.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    reason: Mapped[str] = mapped_column(String(200))
    reference: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
