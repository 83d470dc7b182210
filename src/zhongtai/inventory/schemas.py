"""Request and response shapes of the inventory centre."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from zhongtai.catalog.schemas import LongCode
from zhongtai.inventory.model import AllocationKind, LocationType
from zhongtai.org.schemas import Code, Id, Name

LocationRef = Annotated[
    str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.\-]+$")
]
Batch = Annotated[str, StringConstraints(min_length=1, max_length=40)]
Qty = Annotated[int, Field(ge=1, le=10**9, description="Base units (each, or grams)")]
Serials = Annotated[
    list[Annotated[str, StringConstraints(min_length=1, max_length=64)]] | None,
    Field(max_length=1000, description="One serial number per unit, for serialised SKUs"),
]


class LocationIn(BaseModel):
    code: Code
    name: Name
    type: LocationType
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    parent_id: Id | None = Field(None, description="Region or company; default: HQ")
    service_radius_m: int = Field(0, ge=0, le=200_000)
    opening_hours: dict[str, Annotated[str, StringConstraints(max_length=40)]] = Field(
        default_factory=dict, max_length=7, description='e.g. {"mon": "08:00-22:00"}'
    )


class LocationPatch(BaseModel):
    name: Name | None = None
    lat: float | None = Field(None, ge=-90, le=90)
    lng: float | None = Field(None, ge=-180, le=180)
    service_radius_m: int | None = Field(None, ge=0, le=200_000)
    opening_hours: dict[str, Annotated[str, StringConstraints(max_length=40)]] | None = Field(
        None, max_length=7
    )


class LocationOut(BaseModel):
    id: str
    code: str
    name: str
    type: str
    parent_id: str | None
    lat: float | None
    lng: float | None
    service_radius_m: int
    opening_hours: dict[str, Any]
    distance_m: float | None = None


class ReceiptLine(BaseModel):
    sku: LongCode
    qty: Qty
    batch: Batch | None = None
    expiry: date | None = None
    serials: Serials = None


class ReceiptIn(BaseModel):
    location: LocationRef = Field(description="Location code (or id)")
    lines: list[ReceiptLine] = Field(min_length=1, max_length=1000)


class AdjustmentLine(BaseModel):
    sku: LongCode
    qty: Annotated[int, Field(ge=-(10**9), le=10**9, description="Signed: + found, - lost")]
    batch: Batch | None = None
    serials: Serials = None


class AdjustmentIn(BaseModel):
    location: LocationRef
    reason: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="A code of the adjustment_reason dictionary"
    )
    lines: list[AdjustmentLine] = Field(min_length=1, max_length=1000)


class MovementOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    sku_id: str
    location_id: str
    batch: str
    kind: str
    qty: int
    reason: str | None
    document: str
    at: datetime


class StockDocumentOut(BaseModel):
    document: str
    location: str
    movements: list[MovementOut]


class AvailabilityOut(BaseModel):
    location: str = Field(description="Location code")
    location_id: str
    on_hand: int
    reserved: int
    in_transit: int
    safety_stock: int
    available: int = Field(description="What the channel asked for may promise here")
    quota_remaining: int | None = Field(None, description="The channel's quota left here")
    bin: str | None = None


class ReserveLine(BaseModel):
    sku: LongCode
    qty: Qty
    location: LocationRef


class ReserveIn(BaseModel):
    owner: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="What holds the stock: a cart or order reference"
    )
    channel: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    ttl_seconds: int = Field(
        900, ge=1, le=7 * 86400, description="Until it lapses unless confirmed"
    )
    lines: list[ReserveLine] = Field(min_length=1, max_length=200)


_PRINTABLE = r"^[^\x00-\x1f\x7f]+$"


class HoldIn(BaseModel):
    """A one-line reservation for the hot path (秒杀): combined with concurrent ones into
    one transaction."""

    # No control characters: a value the database refuses would fail the whole batch of
    # concurrent holds it is combined with, not this request alone.
    owner: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=_PRINTABLE)]
    channel: Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=_PRINTABLE)]
    sku: LongCode
    location: LocationRef
    qty: Qty = 1
    ttl_seconds: int = Field(900, ge=1, le=7 * 86400)


class ReservationLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sku_id: str
    location_id: str
    qty: int


class ReservationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    owner: str
    channel: str
    status: str
    expires_at: datetime | None
    created_at: datetime
    lines: list[ReservationLineOut] = Field(default_factory=list)


class TransferLineIn(BaseModel):
    sku: LongCode
    qty: Qty
    batch: Batch | None = None
    serials: Serials = None


class TransferIn(BaseModel):
    from_location: LocationRef = Field(alias="from")
    to_location: LocationRef = Field(alias="to")
    lines: list[TransferLineIn] = Field(min_length=1, max_length=1000)

    model_config = ConfigDict(populate_by_name=True)


class TransferLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sku_id: str
    batch: str
    qty: int


class TransferOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    number: str
    from_location_id: str
    to_location_id: str
    status: str
    created_at: datetime
    received_at: datetime | None
    lines: list[TransferLineOut] = Field(default_factory=list)


class CountIn(BaseModel):
    location: LocationRef
    category_id: Id | None = Field(None, description="Count only this category's SKUs")


class CountLineIn(BaseModel):
    sku: LongCode = Field(description="SKU code, or a scanned barcode from a PDA")
    counted: int = Field(ge=0, le=10**9)


class CountLinesIn(BaseModel):
    lines: list[CountLineIn] = Field(min_length=1, max_length=2000)


class CountLineOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    sku_id: str
    counted: int
    system_qty: int
    counted_at: datetime


class CountOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    number: str
    location_id: str
    category_id: str | None
    status: str
    opened_at: datetime
    posted_at: datetime | None
    lines: list[CountLineOut] = Field(default_factory=list)


class ExpiringOut(BaseModel):
    sku_id: str
    location_id: str
    batch: str
    expiry: date
    on_hand: int
    days_left: int


class SaleLine(BaseModel):
    sku: LongCode
    qty: Qty
    batch: Batch | None = None
    serials: Serials = None


class SaleIn(BaseModel):
    location: LocationRef
    reference: Annotated[str, StringConstraints(min_length=1, max_length=64)] = Field(
        description="The POS ticket number"
    )
    offline: bool = Field(
        False, description="Made while the POS was offline: recorded even if stock is short"
    )
    lines: list[SaleLine] = Field(min_length=1, max_length=500)


class SafetyStockIn(BaseModel):
    sku: LongCode
    location: LocationRef
    qty: Annotated[int, Field(ge=0, le=10**9)] = Field(description="安全库存: never promised")


class AllocationIn(BaseModel):
    """库存分配 rule: `source` (the channel sells from this location; once a channel has
    one, only from those), `hold` (keep `pct`% of on hand here for this channel),
    `quota` (`qty` units of `sku` here for this channel alone, and no more)."""

    kind: AllocationKind
    channel: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    location: LocationRef
    sku: LongCode | None = None
    pct: Annotated[int, Field(ge=1, le=100)] | None = None
    qty: Qty | None = None
    note: Annotated[str, StringConstraints(max_length=200)] = ""


class AllocationOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    kind: str
    channel: str
    location_id: str
    sku_id: str | None
    pct: int
    qty: int
    used: int
    active: bool
    note: str
    created_at: datetime
    ended_at: datetime | None


class ChannelStockOut(BaseModel):
    """可售库存: what a channel may promise of a SKU, summed and per location."""

    sku: str
    channel: str
    available: int
    locations: dict[str, int] = Field(description="Location code -> available to the channel")


class SerialOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    sku_id: str
    serial: str
    location_id: str
    status: str
    document: str
    updated_at: datetime


class BinIn(BaseModel):
    code: Code
    zone: Annotated[str, StringConstraints(max_length=40)] = ""


class BinOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)
    id: str
    location_id: str
    code: str
    zone: str


class SlotIn(BaseModel):
    """Put a SKU away in a bin of a location: pickers go there."""

    sku: LongCode
    location: LocationRef
    bin: Code
