"""Request and response shapes of the marketing centre."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from zhongtai.catalog.schemas import LongCode
from zhongtai.org.schemas import Code, Id, Name
from zhongtai.promotions.model import Group, Kind

Fen = Annotated[int, Field(ge=0, le=10**12)]
MemberRef = Annotated[str, StringConstraints(min_length=1, max_length=64)]
CouponCode = Annotated[str, StringConstraints(min_length=1, max_length=40)]


class TierIn(BaseModel):
    threshold: Fen = Field(description="满: the scoped amount to reach, fen")
    discount: Fen = Field(description="减: fen off")


class ScopeIn(BaseModel):
    """Which lines a promotion covers, by code; a category covers its sub-categories.
    No include list: every line. Exclusions win."""

    skus: list[LongCode] = Field(default_factory=list, max_length=5000)
    categories: list[Code] = Field(default_factory=list, max_length=500)
    brands: list[Code] = Field(default_factory=list, max_length=500)
    exclude_skus: list[LongCode] = Field(default_factory=list, max_length=5000)
    exclude_categories: list[Code] = Field(default_factory=list, max_length=500)
    exclude_brands: list[Code] = Field(default_factory=list, max_length=500)


class BenefitIn(BaseModel):
    """The benefit's parameters; which are needed depends on `kind` (see the engine)."""

    off_bp: int = Field(0, ge=0, le=10_000, description="Percent off in basis points")
    amount: Fen = 0
    tiers: list[TierIn] = Field(default_factory=list, max_length=20)
    every: Fen = 0
    minus: Fen = 0
    buy: int = Field(0, ge=0, le=1000)
    get: int = Field(0, ge=0, le=1000)
    nth: int = Field(0, ge=0, le=1000)
    bundle_qty: int = Field(0, ge=0, le=1000)
    bundle_price: Fen = 0
    min_spend: Fen = 0
    price: Fen = Field(0, description="fixed_price: the unit price")
    max_units: int = Field(0, ge=0, le=10**6, description="fixed_price: units per order")
    gift_sku: LongCode | None = None
    gift_qty: int = Field(1, ge=1, le=1000)


class PromotionIn(BaseModel):
    code: Code
    name: Name
    kind: Kind
    group: Group | None = Field(None, description="Default: the kind's usual group")
    exclusive: bool = Field(False, description="独享: applies alone")
    priority: int = Field(0, ge=0, le=1000, description="Breaks ties between equal savings")
    benefit: BenefitIn
    scope: ScopeIn = Field(default_factory=ScopeIn)
    channels: list[Code] = Field(default_factory=list, description="Empty: every channel")
    stores: list[Code] = Field(default_factory=list, description="Location codes; empty: all")
    member_tiers: list[Code] = Field(default_factory=list, description="Empty: everybody")
    members_only: bool = False
    coupon_only: bool = Field(False, description="Only through a coupon of its template")
    starts_at: AwareDatetime
    ends_at: AwareDatetime
    budget: Fen | None = Field(None, description="Total discount it may give, fen")
    quota: int | None = Field(None, ge=1, description="fixed_price: units it may sell")
    per_member: int | None = Field(None, ge=1, description="Orders per member")
    holdout_bp: int = Field(
        0, ge=0, le=5000, description="Share of members held out (basis points), to measure"
    )


class PromotionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: Id
    code: str
    name: str
    kind: Kind
    group: Group
    exclusive: bool
    priority: int
    benefit: BenefitIn
    scope: ScopeIn
    channels: list[str]
    stores: list[str]
    member_tiers: list[str]
    members_only: bool
    coupon_only: bool
    starts_at: datetime
    ends_at: datetime
    budget: int | None
    spent: int
    quota: int | None
    quota_used: int
    per_member: int | None
    holdout_bp: int
    status: str


class CouponTemplateIn(BaseModel):
    code: Code
    name: Name
    promotion: Code = Field(description="The coupon-only promotion the coupon unlocks")
    public_code: CouponCode | None = Field(
        None, description="A shared code anyone may present (one coupon each, within limits)"
    )
    total: int | None = Field(None, ge=1, description="Coupons that may ever be issued")
    per_member: int = Field(1, ge=1, le=1000)
    valid_days: int | None = Field(None, ge=1, le=3650, description="Valid from issue")
    valid_from: AwareDatetime
    valid_to: AwareDatetime


class CouponTemplateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: Id
    code: str
    name: str
    promotion_id: str
    public_code: str | None
    total: int | None
    issued: int
    per_member: int
    valid_days: int | None
    valid_from: datetime
    valid_to: datetime


class IssueIn(BaseModel):
    """发券: one coupon to each member named, or `count` unassigned codes (printed)."""

    members: list[MemberRef] = Field(default_factory=list, max_length=10_000)
    count: int = Field(0, ge=0, le=10_000)


class CouponOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: Id
    template_id: str
    code: str
    member_key: str | None
    status: str
    valid_from: datetime
    valid_to: datetime
    order_id: str | None
    issued_at: datetime
    redeemed_at: datetime | None


class EffectOut(BaseModel):
    """效果评估 of one promotion over its window so far."""

    promotion: str
    orders: int
    units: int
    sales: int = Field(description="Net sales of the orders that used it, fen")
    discount: int = Field(description="Discount it gave, fen")
    new_members: int = Field(description="Members whose first order used it")
    baseline: str = Field(description="pre_period or holdout")
    baseline_sales: int
    incremental_sales: int
    roi: float | None = Field(description="Incremental sales per fen of discount")
