"""Tables of the marketing centre: promotions, coupon templates and coupons, the counters
that enforce budgets and limits, and the ledger of every promotion used on an order."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped


class PromotionRow(TenantScoped, Base):
    """促销活动: one rule (its benefit in `params`, its line scope in `scope`, by codes),
    where and when it runs, and its budget (预算) and flash-sale quota (限量)."""

    __tablename__ = "promotion"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        Index("ix_promotion_live", "tenant_id", "status", "ends_at"),
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    group: Mapped[str] = mapped_column("grp", String(12))
    exclusive: Mapped[bool] = mapped_column(Boolean, default=False)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    scope: Mapped[dict[str, list[str]]] = mapped_column(JSON)
    channels: Mapped[list[str]] = mapped_column(JSON)  # empty: every channel
    stores: Mapped[list[str]] = mapped_column(JSON)  # location codes; empty: everywhere
    member_tiers: Mapped[list[str]] = mapped_column(JSON)  # empty: everybody
    members_only: Mapped[bool] = mapped_column(Boolean, default=False)
    coupon_only: Mapped[bool] = mapped_column(Boolean, default=False)
    starts_at: Mapped[datetime] = mapped_column()
    ends_at: Mapped[datetime] = mapped_column()
    budget: Mapped[int | None] = mapped_column(BigInteger)  # total discount, fen
    spent: Mapped[int] = mapped_column(BigInteger, default=0)
    quota: Mapped[int | None] = mapped_column(BigInteger)  # units at a fixed price
    quota_used: Mapped[int] = mapped_column(BigInteger, default=0)
    per_member: Mapped[int | None] = mapped_column(Integer)  # orders per member
    holdout_bp: Mapped[int] = mapped_column(Integer, default=0)  # members held out, to measure
    status: Mapped[str] = mapped_column(String(12), default="active")
    created_by: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class CouponTemplate(TenantScoped, Base):
    """券模板: what a coupon gives (a coupon-only promotion), how many exist, how many a
    member may hold, how long each is valid; `public_code` is a shared code (码池 of
    one code) that issues a coupon to whoever presents it, within the limits."""

    __tablename__ = "coupon_template"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        UniqueConstraint("tenant_id", "public_code"),
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    promotion_id: Mapped[str] = mapped_column(ForeignKey("promotion.id"))
    public_code: Mapped[str | None] = mapped_column(String(40))
    total: Mapped[int | None] = mapped_column(BigInteger)  # coupons that may ever exist
    issued: Mapped[int] = mapped_column(BigInteger, default=0)
    per_member: Mapped[int] = mapped_column(Integer, default=1)
    valid_days: Mapped[int | None] = mapped_column(Integer)  # from issue; else the window
    valid_from: Mapped[datetime] = mapped_column()
    valid_to: Mapped[datetime] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Coupon(TenantScoped, Base):
    """One coupon with its own code, held by a member (or by nobody yet: a printed code),
    redeemed at most once."""

    __tablename__ = "coupon"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        Index("ix_coupon_member", "tenant_id", "member_key", "status"),
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    template_id: Mapped[str] = mapped_column(ForeignKey("coupon_template.id"), index=True)
    code: Mapped[str] = mapped_column(String(40))
    member_key: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="issued")
    valid_from: Mapped[datetime] = mapped_column()
    valid_to: Mapped[datetime] = mapped_column()
    order_id: Mapped[str | None] = mapped_column(String(26))
    issued_at: Mapped[datetime] = mapped_column(default=utcnow)
    redeemed_at: Mapped[datetime | None] = mapped_column()


class MemberCount(TenantScoped, Base):
    """How often a member used a promotion or took a coupon of a template: the row a
    per-member limit is enforced on, by a conditional increment."""

    __tablename__ = "promotion_member_count"
    __table_args__ = (UniqueConstraint("tenant_id", "subject_id", "member_key"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    subject_id: Mapped[str] = mapped_column(String(26))
    member_key: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)


class PromotionUse(TenantScoped, Base):
    """促销核销: a promotion applied to an order, with the discount it gave and the units
    it priced; `released` once the order is cancelled (budget, quota and limits given
    back). Effect evaluation reads it."""

    __tablename__ = "promotion_use"
    __table_args__ = (Index("ix_promotion_use", "tenant_id", "promotion_id", "created_at"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    promotion_id: Mapped[str] = mapped_column(String(26))
    order_id: Mapped[str] = mapped_column(String(26), index=True)
    member_key: Mapped[str | None] = mapped_column(String(64))
    coupon_id: Mapped[str | None] = mapped_column(String(26))
    amount: Mapped[int] = mapped_column(BigInteger)
    units: Mapped[int] = mapped_column(BigInteger, default=0)
    released: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
