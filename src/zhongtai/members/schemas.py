"""Request and response shapes of the member centre."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from zhongtai.catalog.schemas import LongCode, Slug
from zhongtai.inventory.schemas import LocationRef
from zhongtai.members.model import ConsentPurpose, IdentityKind, TicketStatus
from zhongtai.org.schemas import Id
from zhongtai.promotions.schemas import CouponOut

Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Text = Annotated[str, StringConstraints(min_length=1, max_length=4000, strip_whitespace=True)]
Reason = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Ref = Annotated[
    str,
    StringConstraints(min_length=1, max_length=200, strip_whitespace=True),
]
Points = Annotated[int, Field(ge=1, le=10**12)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class ConsentIn(BaseModel):
    purpose: ConsentPurpose
    granted: bool
    channel: Slug | None = Field(None, description="Where the member said so")


class MemberIn(BaseModel):
    """注册: in any channel, with at least one way to recognise the person."""

    channel: Slug
    store: LocationRef | None = Field(None, description="The store that signed them up")
    name: Name | None = None
    birthday: date | None = None
    phone: Ref | None = None
    email: Ref | None = None
    wechat_union_id: Ref | None = None
    wechat_open_id: Ref | None = None
    card: Ref | None = Field(None, description="A physical or legacy member card number")
    consents: list[ConsentIn] = Field(default_factory=list, max_length=10)

    def identities(self) -> list[tuple[str, IdentityKind, str]]:
        """(field, kind, value) of each identity given."""
        given = (
            ("phone", IdentityKind.phone, self.phone),
            ("email", IdentityKind.email, self.email),
            ("wechat_union_id", IdentityKind.wechat_union, self.wechat_union_id),
            ("wechat_open_id", IdentityKind.wechat_open, self.wechat_open_id),
            ("card", IdentityKind.card, self.card),
        )
        return [(f, k, v) for f, k, v in given if v is not None]


class MemberPatch(BaseModel):
    name: Name | None = None
    birthday: date | None = None


class IdentityIn(BaseModel):
    kind: IdentityKind
    value: Ref


class IdentityOut(Out):
    id: str
    kind: str
    value: str
    created_at: datetime


class ConsentOut(Out):
    purpose: str
    granted: bool
    channel: str | None
    at: datetime


class MemberOut(Out):
    id: str
    code: str = Field(description="会员卡号 (member card number)")
    status: str
    merged_into: str | None
    name: str | None
    birthday: date | None
    channel: str
    store_id: str | None
    tier: str | None
    tier_since: datetime | None
    tier_review_at: datetime | None
    points_balance: int
    created_at: datetime
    forgotten_at: datetime | None
    identities: list[IdentityOut] = Field(default_factory=list)
    consents: list[ConsentOut] = Field(default_factory=list, description="Latest per purpose")


class MemberQuery(BaseModel):
    q: Ref | None = Field(None, description="A member id, card number, phone, e-mail or WeChat id")
    tier: Slug | None = None
    after: Id | None = Field(None, description="Cursor: the last id of the page before")
    limit: int = Field(50, ge=1, le=200)


class MergeIn(BaseModel):
    source: Id = Field(description="The member folded into this one (账号融合)")


class MergeOut(Out):
    id: str
    target_id: str
    source_id: str
    actor_id: str
    moved: dict[str, Any]
    at: datetime


class TierIn(BaseModel):
    """会员等级: reached by qualifying spend or points within the rolling window (either
    suffices; neither makes it the entry tier), with its benefits."""

    name: Name
    rank: int = Field(ge=0, le=1000, description="Higher is better")
    min_spend: int | None = Field(None, ge=0, le=10**12, description="Fen within the window")
    min_points: int | None = Field(None, ge=0, le=10**12)
    window_days: int = Field(365, ge=1, le=3650)
    discount_bp: int = Field(0, ge=0, le=5000, description="Tier discount, basis points")
    free_delivery: bool = False
    birthday_coupon: LongCode | None = Field(None, description="Coupon template code")


class TierOut(Out):
    code: str
    name: str
    rank: int
    min_spend: int | None
    min_points: int | None
    window_days: int
    discount_bp: int
    free_delivery: bool
    birthday_coupon: str | None


class PointsSettingsIn(BaseModel):
    points_per_yuan: int = Field(
        100, ge=1, le=10_000, description="积分抵现: points that pay one yuan"
    )
    earn_per_yuan: int = Field(1, ge=0, le=1000, description="Points earned per yuan paid")
    validity_months: int | None = Field(
        12,
        ge=0,
        le=120,
        description="Points expire at the end of the month this many months "
        "after the month earned; null: never",
    )


class PointsSettingsOut(Out):
    points_per_yuan: int
    earn_per_yuan: int
    validity_months: int | None


class EarnRuleIn(BaseModel):
    """积分规则: points per yuan on lines matching every dimension named; the most specific
    wins (a dated promotion, then a category, then a channel)."""

    points_per_yuan: int = Field(ge=0, le=1000)
    channel: Slug | None = None
    category: LongCode | None = Field(None, description="Category code (and those below it)")
    valid_from: AwareDatetime | None = None
    valid_to: AwareDatetime | None = None


class EarnRuleOut(Out):
    code: str
    points_per_yuan: int
    channel: str | None
    category_id: str | None
    valid_from: datetime | None
    valid_to: datetime | None


class AdjustIn(BaseModel):
    points: int = Field(ge=-(10**12), le=10**12, description="Signed; not zero")
    reason: Reason


class RedeemIn(BaseModel):
    """积分兑换: points spent on something other than an order (a gift, a service)."""

    points: Points
    reason: Reason


class EntryOut(Out):
    id: str
    kind: str
    points: int
    balance: int
    amount: int | None
    order_id: str | None
    reference: str | None
    reason: str
    at: datetime


class LotOut(Out):
    id: str
    points: int
    remaining: int
    expires_at: datetime | None


class PointsOut(BaseModel):
    member_id: str
    balance: int = Field(description="Sum of the ledger; below zero: points owed")
    lots: list[LotOut] = Field(description="Points left, first to expire first")
    entries: list[EntryOut] = Field(description="The ledger, newest first")


class TicketIn(BaseModel):
    subject: Name
    description: Annotated[str, StringConstraints(max_length=4000)] = ""
    member: Ref | None = Field(None, description="Member id, card number or identity")
    order_id: Id | None = None
    channel: Slug | None = None


class NoteIn(BaseModel):
    text: Text


class TicketMoveIn(BaseModel):
    to: TicketStatus
    note: Text | None = None


class TicketQuery(BaseModel):
    member_id: Id | None = None
    order_id: Id | None = None
    status: TicketStatus | None = None
    after: Id | None = None
    limit: int = Field(50, ge=1, le=200)


class NoteOut(Out):
    id: str
    text: str
    status: str | None = Field(description="The status the ticket moved to with this note")
    actor_id: str
    at: datetime


class TicketOut(Out):
    id: str
    number: str
    member_id: str | None
    order_id: str | None
    channel: str | None
    subject: str
    description: str
    status: str
    created_at: datetime
    updated_at: datetime
    notes: list[NoteOut] = Field(default_factory=list)


class MemberOrderOut(Out):
    id: str
    number: str
    channel: str
    status: str
    total: int
    paid: int
    created_at: datetime


class Member360Out(BaseModel):
    """会员360: everything customer service needs about one member on one page."""

    member: MemberOut
    tier: TierOut | None
    points: PointsOut
    orders: list[MemberOrderOut] = Field(description="Most recent first")
    tickets: list[TicketOut] = Field(description="Most recent first, without notes")
    coupons: list[CouponOut]
    merges: list[MergeOut] = Field(description="Members folded into this one")
