"""Request and response shapes of the order centre."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from zhongtai.catalog.schemas import LongCode
from zhongtai.inventory.schemas import LocationRef, Qty
from zhongtai.orders.model import Disposition, FulfilmentStatus, FulfilmentType, OrderStatus
from zhongtai.org.schemas import Id
from zhongtai.promotions.schemas import CouponCode, Fen, MemberRef


class OrderLineIn(BaseModel):
    sku: LongCode
    qty: Qty


class FulfilmentIn(BaseModel):
    type: FulfilmentType
    location: LocationRef | None = Field(
        None, description="The store sold in or collected at (pickup, in_store, endless_aisle)"
    )
    lat: float | None = Field(None, ge=-90, le=90, description="Where to deliver")
    lng: float | None = Field(None, ge=-180, le=180)
    slot: AwareDatetime | None = Field(
        None, description="Same-hour delivery: start of a slot from GET /v1/delivery-slots"
    )


class OrderIn(BaseModel):
    channel: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    member: Annotated[str, StringConstraints(min_length=1, max_length=64)] | None = None
    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    fulfilment: FulfilmentIn
    hold_minutes: int = Field(30, ge=1, le=7 * 24 * 60, description="Stock held until paid")
    backorder: bool = Field(
        False, description="Sell units short now as back-orders, sent when stock arrives"
    )
    coupons: list[CouponCode] = Field(
        default_factory=list, max_length=10, description="Coupon codes to redeem (优惠券)"
    )


# --- price quotes (算价): a cart priced with every promotion, without an order


class QuoteIn(BaseModel):
    """Price a cart with every promotion that applies, without placing an order."""

    channel: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    store: LocationRef | None = None
    member: MemberRef | None = None
    coupons: list[CouponCode] = Field(default_factory=list, max_length=10)
    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    delivery_fee: Fen = 0


class QuoteLineOut(BaseModel):
    line: int
    sku: str
    qty: int
    unit_price: int
    gross: int
    discount: int
    net: int


class AppliedOut(BaseModel):
    promotion: str
    name: str
    amount: int
    lines: list[dict[str, int]] = Field(description="[{line: n, amount: fen}]")
    on_delivery: int
    coupon: str | None


class NotAppliedOut(BaseModel):
    promotion: str
    reason: str
    detail: str


class GiftOut(BaseModel):
    promotion: str
    sku: str
    qty: int


class QuoteOut(BaseModel):
    lines: list[QuoteLineOut]
    applied: list[AppliedOut]
    not_applied: list[NotAppliedOut]
    gifts: list[GiftOut]
    gross: int
    discount: int
    delivery_fee: int
    delivery_discount: int
    payable: int
    exact: bool


class OrderQuery(BaseModel):
    """Filters of the order list; all optional, combined with AND."""

    number: Annotated[str, StringConstraints(max_length=40)] | None = None
    member: Annotated[str, StringConstraints(max_length=64)] | None = None
    channel: Annotated[str, StringConstraints(max_length=40)] | None = None
    status: OrderStatus | None = None
    store: LocationRef | None = Field(
        None, description="Sold or collected there, or taking stock from there"
    )
    placed_from: datetime | None = Field(None, description="Placed at or after")
    placed_to: datetime | None = Field(None, description="Placed before")
    after: Id | None = Field(None, description="Cursor: the last id of the page before")
    limit: int = Field(50, ge=1, le=200)


class TimelineEntryOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    at: datetime = Field(validation_alias="occurred_at")
    type: str
    payload: dict[str, Any]


class CancelIn(BaseModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)] = "customer"


class OrderLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    line_no: int
    sku: str = Field(validation_alias="sku_code")
    name: str
    qty: int
    unit_price: int
    gross: int
    discount: int
    net: int
    tax_rate_bp: int
    tax: int


class BackorderOut(BaseModel):
    sku: str
    qty: int


class AllocationOut(BaseModel):
    sku: str
    location: str
    qty: int
    reason: str


class UsedPromotionOut(BaseModel):
    promotion: str
    amount: int
    coupon: str | None
    released: bool = Field(description="Given back when the order was cancelled")


class OrderOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    number: str
    channel: str
    member: str | None
    status: str
    fulfilment_type: str
    store_id: str | None
    currency: str
    subtotal: int
    discount: int
    tax: int
    total: int
    paid: int
    pickup_code: str | None
    slot_start: datetime | None
    slot_end: datetime | None
    sourcing: str
    exchange_for: str | None = Field(description="The return this order replaces goods of")
    reservation_id: str | None
    created_at: datetime
    cancelled_at: datetime | None
    lines: list[OrderLineOut] = Field(default_factory=list)
    allocations: list[AllocationOut] = Field(default_factory=list)
    backorders: list[BackorderOut] = Field(
        default_factory=list, description="Units owed without stock held for them yet"
    )
    promotions: list[UsedPromotionOut] = Field(
        default_factory=list, description="Promotions and coupons applied, with their discount"
    )


class PaymentIn(BaseModel):
    """One tender: `cash` (with `tendered`, change given back) or `test_card` (with
    `card_number`); several payments may split an order's total."""

    provider: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    amount: int | None = Field(None, ge=1, le=10**12, description="Default: what is still due")
    tendered: int | None = Field(None, ge=1, le=10**12)
    card_number: Annotated[str, StringConstraints(max_length=19)] | None = None
    capture: bool = Field(True, description="false: authorise only, capture later")


class PaymentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    order_id: str
    provider: str
    status: str
    amount: int
    captured: int
    refunded: int
    change: int
    reference: str
    created_at: datetime


class FulfilmentLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sku_id: str
    qty: int


class FulfilmentOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    order_id: str
    location_id: str
    kind: str
    status: str
    created_at: datetime
    updated_at: datetime
    lines: list[FulfilmentLineOut] = Field(default_factory=list)


class AdvanceIn(BaseModel):
    to: FulfilmentStatus
    pickup_code: Annotated[str, StringConstraints(max_length=12)] | None = Field(
        None, description="Required to hand a pickup order over"
    )


class ReturnLineIn(BaseModel):
    line_no: int = Field(ge=1)
    qty: Qty


class ReturnIn(BaseModel):
    reason: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="A code of the return_reason dictionary"
    )
    lines: list[ReturnLineIn] = Field(min_length=1, max_length=200)


class ReceiveReturnIn(BaseModel):
    location: LocationRef = Field(description="Any store or warehouse")
    disposition: Disposition = Disposition.restock


class ReturnLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sku_id: str
    qty: int
    refund: int


class ReturnOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    number: str
    order_id: str
    status: str
    reason: str
    refund: int
    location_id: str | None
    disposition: str | None
    exchange_order_id: str | None = Field(description="换货: the order of the goods instead")
    created_at: datetime
    lines: list[ReturnLineOut] = Field(default_factory=list)


class TaxRateIn(BaseModel):
    category: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    rate_bp: int = Field(ge=0, le=10_000, description="Basis points: 1300 = 13%")


class TaxRateOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    category_id: str
    rate_bp: int


class InvoiceIn(BaseModel):
    title: Annotated[str, StringConstraints(min_length=1, max_length=200)] = Field(
        description="个人 (personal) or the company name"
    )
    tax_number: Annotated[str, StringConstraints(pattern=r"^[0-9A-Z]{15,20}$")] | None = Field(
        None, description="纳税人识别号, for company invoices"
    )
    email: (
        Annotated[str, StringConstraints(max_length=200, pattern=r"^[^@\s]+@[^@\s]+$")] | None
    ) = None


class InvoiceOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    order_id: str
    title: str
    tax_number: str | None
    email: str | None
    amount: int
    tax: int
    status: str
    created_at: datetime


class CartLineIn(BaseModel):
    qty: int = Field(ge=0, le=10**9, description="0 takes the line out")


class CartMergeIn(BaseModel):
    source: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The guest cart signed in with: its lines join this cart and it is gone"
    )


class CheckoutIn(BaseModel):
    """The cart's lines become an order (the same workflow as `POST /v1/orders`)."""

    channel: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    fulfilment: FulfilmentIn
    hold_minutes: int = Field(30, ge=1, le=7 * 24 * 60)
    backorder: bool = False
    coupons: list[CouponCode] = Field(default_factory=list, max_length=10)


class CartLineOut(BaseModel):
    sku: str
    name: str
    qty: int
    unit_price: int | None = Field(description="None when the SKU has no price here")
    gross: int
    sellable: bool = Field(description="Listed and active on the channel (and store) now")


class CartOut(BaseModel):
    id: str
    owner: str
    version: int
    updated_at: datetime
    channel: str
    lines: list[CartLineOut]
    total: int = Field(description="Of the sellable, priced lines, before promotions")
    discount: int = Field(description="What the promotions on offer take off now")
    payable: int
    applied: list[AppliedOut]
    not_applied: list[NotAppliedOut] = Field(description="With what is missing (凑单提示)")


class SlotOut(BaseModel):
    start: datetime
    end: datetime
    remaining: int = Field(description="Orders the serving locations can still take")
    locations: list[str] = Field(description="Codes of the locations with room")


class SlotCapacityIn(BaseModel):
    location: LocationRef
    per_slot: int = Field(ge=0, le=10_000, description="Orders per hour-long slot")


class SlotCapacityOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    location_id: str
    per_slot: int


class ShortLineIn(BaseModel):
    sku: LongCode
    qty: Qty


class ShortIn(BaseModel):
    """拣货缺货: units not found when picking."""

    lines: list[ShortLineIn] = Field(min_length=1, max_length=200)


class ExchangeIn(BaseModel):
    """换货: the goods the shopper takes instead of the returned ones."""

    lines: list[OrderLineIn] = Field(min_length=1, max_length=200)
    fulfilment: FulfilmentIn
