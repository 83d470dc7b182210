"""Tables of the member centre: members and their identities, consents, tiers, the points
ledger with its lots, tier activity, merges and customer-service tickets."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy import text as sql
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped


class Member(TenantScoped, Base):
    """会员档案: one person across every channel. Phone, e-mail and social ids live in
    `member_identity`; `points_balance` is the sum of the member's ledger entries."""

    __tablename__ = "member"
    __table_args__ = (
        UniqueConstraint("tenant_id", "code"),
        Index("ix_member_review", "tier_review_at"),  # relay: tiers due for review
        Index("ix_member_birthday", "birthday_md", "birthday_year"),  # relay: birthdays
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))  # 会员卡号, from the coding rules
    status: Mapped[str] = mapped_column(String(12))
    merged_into: Mapped[str | None] = mapped_column(String(26), index=True)
    name: Mapped[str | None] = mapped_column(String(200))
    birthday: Mapped[date | None] = mapped_column()
    birthday_md: Mapped[str | None] = mapped_column(String(5))  # "MM-DD", for the relay
    birthday_year: Mapped[int | None] = mapped_column(Integer)  # last year celebrated
    channel: Mapped[str] = mapped_column(String(40))  # where the member registered
    store_id: Mapped[str | None] = mapped_column(String(26))
    tier: Mapped[str | None] = mapped_column(String(40))
    tier_since: Mapped[datetime | None] = mapped_column()
    tier_review_at: Mapped[datetime | None] = mapped_column()
    points_balance: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    forgotten_at: Mapped[datetime | None] = mapped_column()


class MemberIdentity(TenantScoped, Base):
    """One way the member is recognised (phone, e-mail, WeChat id, card), unique per
    tenant in its normalised form."""

    __tablename__ = "member_identity"
    __table_args__ = (UniqueConstraint("tenant_id", "value", "kind"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id"), index=True)
    kind: Mapped[str] = mapped_column(String(20))
    value: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberConsent(TenantScoped, Base):
    """授权记录: each grant or withdrawal is kept; the latest per purpose holds."""

    __tablename__ = "member_consent"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id"), index=True)
    purpose: Mapped[str] = mapped_column(String(40))
    granted: Mapped[bool] = mapped_column(Boolean)
    channel: Mapped[str | None] = mapped_column(String(40))
    actor_id: Mapped[str] = mapped_column(String(26))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberTier(TenantScoped, Base):
    """会员等级 with how it is reached and what it gives."""

    __tablename__ = "member_tier"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    rank: Mapped[int] = mapped_column(Integer)
    min_spend: Mapped[int | None] = mapped_column(BigInteger)
    min_points: Mapped[int | None] = mapped_column(BigInteger)
    window_days: Mapped[int] = mapped_column(Integer)
    discount_bp: Mapped[int] = mapped_column(Integer, default=0)
    free_delivery: Mapped[bool] = mapped_column(Boolean, default=False)
    birthday_coupon: Mapped[str | None] = mapped_column(String(64))  # coupon template code


class PointsSettings(TenantScoped, Base):
    """The tenant's points policy: value when spent, default earning, validity."""

    __tablename__ = "points_settings"
    __table_args__ = (UniqueConstraint("tenant_id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    points_per_yuan: Mapped[int] = mapped_column(Integer)  # 积分抵现: 100 = 1 point a fen
    earn_per_yuan: Mapped[int] = mapped_column(Integer)  # default earning rate
    validity_months: Mapped[int | None] = mapped_column(Integer)  # None: never expire


class EarnRuleRow(TenantScoped, Base):
    """积分规则: points per yuan on a channel, a category or during a promotion."""

    __tablename__ = "points_earn_rule"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    points_per_yuan: Mapped[int] = mapped_column(Integer)
    channel: Mapped[str | None] = mapped_column(String(40))
    category_id: Mapped[str | None] = mapped_column(String(26))
    valid_from: Mapped[datetime | None] = mapped_column()
    valid_to: Mapped[datetime | None] = mapped_column()


class PointsLot(TenantScoped, Base):
    """积分批次: the points of one earning (or of an adjustment), what is left of them and
    their period-end expiry; a merge moves lots with their expiry."""

    __tablename__ = "points_lot"
    __table_args__ = (
        Index("ix_points_lot_member", "tenant_id", "member_id", "expires_at"),
        Index(
            "ix_points_lot_due",
            "expires_at",
            postgresql_where=sql("remaining > 0"),
            sqlite_where=sql("remaining > 0"),
        ),
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id"))
    entry_id: Mapped[str] = mapped_column(String(26))  # the entry that brought the points
    points: Mapped[int] = mapped_column(BigInteger)
    remaining: Mapped[int] = mapped_column(BigInteger)
    expires_at: Mapped[datetime | None] = mapped_column()


class PointsEntry(TenantScoped, Base):
    """积分流水: one signed change of a member's points with the balance after it.
    `detail` keeps what it touched: lots taken or given back, points per order line."""

    __tablename__ = "points_entry"
    __table_args__ = (
        Index("ix_points_entry_member", "tenant_id", "member_id", "id"),
        Index("ix_points_entry_order", "tenant_id", "order_id"),
        Index("ix_points_entry_reference", "tenant_id", "reference"),
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id"))
    kind: Mapped[str] = mapped_column(String(12))
    points: Mapped[int] = mapped_column(BigInteger)
    balance: Mapped[int] = mapped_column(BigInteger)
    amount: Mapped[int | None] = mapped_column(BigInteger)  # fen, when points paid for goods
    order_id: Mapped[str | None] = mapped_column(String(26))
    reference: Mapped[str | None] = mapped_column(String(26))  # payment, return, member
    reason: Mapped[str] = mapped_column(String(200), default="")
    detail: Mapped[dict[str, Any]] = mapped_column(default=dict)
    actor_id: Mapped[str] = mapped_column(String(26))
    at: Mapped[datetime] = mapped_column(default=utcnow)


class TierActivity(TenantScoped, Base):
    """定级依据: spend and points of each paid (+) or refunded (-) order, summed over a
    tier's rolling window."""

    __tablename__ = "tier_activity"
    __table_args__ = (Index("ix_tier_activity_member", "tenant_id", "member_id", "at"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    member_id: Mapped[str] = mapped_column(ForeignKey("member.id"))
    order_id: Mapped[str | None] = mapped_column(String(26))
    spend: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class MemberMerge(TenantScoped, Base):
    """账号融合 audit: who folded which member into which, when, and what moved."""

    __tablename__ = "member_merge"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    target_id: Mapped[str] = mapped_column(ForeignKey("member.id"), index=True)
    source_id: Mapped[str] = mapped_column(ForeignKey("member.id"), index=True)
    actor_id: Mapped[str] = mapped_column(String(26))
    moved: Mapped[dict[str, Any]] = mapped_column(default=dict)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class Ticket(TenantScoped, Base):
    """客服工单: a customer's enquiry or complaint, linked to the member and the order."""

    __tablename__ = "ticket"
    __table_args__ = (
        UniqueConstraint("tenant_id", "number"),
        Index("ix_ticket_member", "tenant_id", "member_id", "id"),
        Index("ix_ticket_status", "tenant_id", "status", "id"),
    )
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    number: Mapped[str] = mapped_column(String(40))
    member_id: Mapped[str | None] = mapped_column(ForeignKey("member.id"))
    order_id: Mapped[str | None] = mapped_column(String(26))
    channel: Mapped[str | None] = mapped_column(String(40))
    subject: Mapped[str] = mapped_column(String(200))
    description: Mapped[str] = mapped_column(String(4000), default="")
    status: Mapped[str] = mapped_column(String(12))
    actor_id: Mapped[str] = mapped_column(String(26))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class TicketNote(TenantScoped, Base):
    """A note on a ticket; a status change is a note too (`status` says to what)."""

    __tablename__ = "ticket_note"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    ticket_id: Mapped[str] = mapped_column(ForeignKey("ticket.id"), index=True)
    text: Mapped[str] = mapped_column(String(4000))
    status: Mapped[str | None] = mapped_column(String(12))
    actor_id: Mapped[str] = mapped_column(String(26))
    at: Mapped[datetime] = mapped_column(default=utcnow)
