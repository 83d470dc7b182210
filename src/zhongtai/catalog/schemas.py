"""Request and response shapes of the product centre and price service."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from zhongtai.catalog.model import Pack, Status
from zhongtai.org.schemas import Code, Id, Name

LongCode = Annotated[
    str, StringConstraints(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$")
]
BarcodeText = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Slug = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[a-z0-9_]+$")]
AttrValue = str | int | float | bool
Money = Annotated[int, Field(ge=0, le=10**12, description="Integer minor units (分)")]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class AttributeSpecIn(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=40)]
    required: bool = False
    variant: bool = False
    values: list[Annotated[str, StringConstraints(max_length=40)]] = Field(
        default_factory=list, max_length=200
    )


class CategoryIn(BaseModel):
    code: Code
    name: Name
    parent_id: Id | None = None
    attributes: list[AttributeSpecIn] = Field(default_factory=list, max_length=50)


class CategoryPatch(BaseModel):
    name: Name | None = None
    parent_id: Id | None = None
    attributes: list[AttributeSpecIn] | None = Field(None, max_length=50)


class CategoryOut(Out):
    id: str
    code: str
    name: str
    parent_id: str | None
    attributes: list[dict[str, Any]]
    effective_attributes: list[dict[str, Any]] = Field(default_factory=list)


class BrandIn(BaseModel):
    code: Code
    name: Name


class BrandOut(Out):
    id: str
    code: str
    name: str


class UnitIn(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=20)]
    factor: int = Field(ge=1, le=100_000)
    barcode: BarcodeText | None = None


class SkuIn(BaseModel):
    code: LongCode | None = Field(None, description="Default: product code + variant values")
    name: Name | None = None
    barcode: BarcodeText | None = None
    barcodes: list[BarcodeText] = Field(default_factory=list, max_length=20)
    weighed_code: Annotated[str, StringConstraints(pattern=r"^2[0-9]{3,7}$")] | None = Field(
        None, description="Item part of in-store weighed labels, e.g. 2012345"
    )
    price: Money | None = None
    attributes: dict[str, AttrValue] = Field(default_factory=dict, max_length=50)
    units: list[UnitIn] = Field(default_factory=list, max_length=10)
    prescription_only: bool = False
    service_for: LongCode | None = Field(None, description="SKU code this service installs")


class ProductIn(BaseModel):
    code: LongCode
    name: Name
    category: Code = Field(description="Category code; an unknown code creates a top-level one")
    brand: Code | None = None
    pack: Pack | None = None
    status: Status = Status.active
    attributes: dict[str, AttrValue] = Field(default_factory=dict, max_length=50)
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] = Field(
        default_factory=list, max_length=50
    )
    images: list[Annotated[str, StringConstraints(max_length=1000)]] = Field(
        default_factory=list, max_length=20
    )
    sold_by_weight: bool = False
    matrix: dict[str, list[Annotated[str, StringConstraints(min_length=1, max_length=40)]]] = Field(
        default_factory=dict, max_length=4, description="Variant axes, e.g. colour x size"
    )
    price: Money | None = Field(None, description="Default price of SKUs made from the matrix")
    skus: list[SkuIn] = Field(default_factory=list, max_length=500)


class ProductPatch(BaseModel):
    name: Name | None = None
    status: Status | None = None
    tags: list[Annotated[str, StringConstraints(min_length=1, max_length=40)]] | None = Field(
        None, max_length=50
    )
    images: list[Annotated[str, StringConstraints(max_length=1000)]] | None = Field(
        None, max_length=20
    )
    attributes: dict[str, AttrValue] | None = Field(None, max_length=50)


class SkuPatch(BaseModel):
    name: Name | None = None
    status: Status | None = None
    attributes: dict[str, AttrValue] | None = Field(None, max_length=50)
    prescription_only: bool | None = None


class BarcodeIn(BaseModel):
    code: BarcodeText
    unit: Annotated[str, StringConstraints(min_length=1, max_length=20)] = "each"
    weighed: bool = False


class BarcodeOut(Out):
    code: str
    kind: str
    unit: str
    unit_factor: int


class SkuOut(Out):
    id: str
    product_id: str
    code: str
    name: str
    status: str
    attributes: dict[str, Any]
    base_unit: str
    units: list[dict[str, Any]]
    prescription_only: bool
    batch_required: bool
    serial_required: bool
    service_for_sku_id: str | None
    barcodes: list[BarcodeOut] = Field(default_factory=list)
    price: int | None = Field(None, description="Base price in minor units")


class ProductOut(Out):
    id: str
    code: str
    name: str
    category_id: str
    brand_id: str | None
    pack: str
    status: str
    attributes: dict[str, Any]
    tags: list[str]
    images: list[str]
    sold_by_weight: bool
    created_at: datetime
    skus: list[SkuOut] = Field(default_factory=list)


class ScanOut(BaseModel):
    sku: SkuOut
    product_id: str
    product_name: str
    kind: str
    quantity: int = Field(description="Base units this scan stands for (a case barcode: 12)")
    batch: str | None = None
    expiry: date | None = None
    serial: str | None = None
    weight_g: int | None = None
    price: int | None = Field(None, description="Price printed in the code, minor units")


class ListingIn(BaseModel):
    channel: Slug
    store_id: Id | None = None
    listed: bool
    effective_at: datetime | None = Field(None, description="Default: now; later: scheduled")


class ListingOut(Out):
    id: str
    sku_id: str
    channel: str
    store_id: str | None
    listed: bool
    effective_at: datetime


class ListingStateOut(BaseModel):
    channel: str
    store_id: str | None
    listed: bool
    decided_by: str | None
    next_change: ListingOut | None


class SettingsIn(BaseModel):
    packs: list[Pack] = Field(min_length=1, max_length=6)
    currency: Annotated[str, StringConstraints(pattern=r"^[A-Z]{3}$")] = "CNY"
    weighed_item_digits: int = Field(5, ge=4, le=6)
    weighed_value: Literal["weight", "price"] = "weight"


class SettingsOut(Out):
    packs: list[str]
    currency: str
    weighed_item_digits: int
    weighed_value: str


class PriceIn(BaseModel):
    sku: LongCode = Field(description="SKU code")
    amount: Money
    channel: Slug | None = None
    store_id: Id | None = None
    member_tier: Slug | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None


class PriceOut(Out):
    id: str
    sku_id: str
    amount: int
    currency: str
    channel: str | None
    store_id: str | None
    member_tier: str | None
    valid_from: datetime | None
    valid_to: datetime | None
    superseded_by: str | None
    created_at: datetime


class ResolvedPriceOut(BaseModel):
    sku: str
    amount: int
    currency: str
    rule: PriceOut


class ImportRowError(BaseModel):
    row: int
    field: str
    message: str


class ImportReport(BaseModel):
    applied: bool
    rows: int
    products_created: int = 0
    products_updated: int = 0
    skus_created: int = 0
    skus_updated: int = 0
    prices_changed: int = 0
    unchanged: int = 0
    errors: list[ImportRowError] = Field(default_factory=list)
