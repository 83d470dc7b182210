"""HTTP routes of the product centre: categories, brands, products, SKUs, scan, listing."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Form, Path, Query, UploadFile
from fastapi.responses import JSONResponse, Response

from zhongtai.catalog import importer, service
from zhongtai.catalog.model import Status
from zhongtai.catalog.schemas import (
    BarcodeIn,
    BarcodeOut,
    BrandIn,
    BrandOut,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    ImportReport,
    ListingIn,
    ListingOut,
    ListingStateOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    ScanOut,
    SettingsIn,
    SettingsOut,
    SkuIn,
    SkuOut,
    SkuPatch,
)
from zhongtai.org.schemas import Id
from zhongtai.platform.errors import ValidationFailed
from zhongtai.platform.http import Ctx, reader, writer
from zhongtai.platform.ids import utcnow

router = APIRouter(prefix="/v1")
IdPath = Annotated[Id, Path()]
After = Annotated[Id | None, Query(description="Cursor: the last id seen")]
Limit = Annotated[int, Query(ge=1, le=200)]


@router.get("/catalog/settings", response_model=SettingsOut, tags=["catalog"])
def get_settings(ctx: Ctx = Depends(reader("catalog:read"))) -> SettingsOut:
    with ctx.read() as uow:
        return SettingsOut.model_validate(service.settings_of(uow))


@router.post("/catalog/settings", response_model=SettingsOut, tags=["catalog"])
def set_settings(body: SettingsIn, ctx: Ctx = Depends(writer("catalog:write"))) -> JSONResponse:
    """Enable industry packs (行业包) and set the weighed-label format."""
    return ctx.mutate(lambda uow: SettingsOut.model_validate(service.set_settings(uow, body)))


MAX_UPLOAD = 64 * 1024 * 1024


@router.post("/catalog/imports", response_model=ImportReport, tags=["catalog"])
def import_catalog(
    file: UploadFile,
    dry_run: Annotated[bool, Form()] = False,
    ctx: Ctx = Depends(writer("catalog:write")),
) -> JSONResponse:
    """Bulk import (CSV or XLSX, one row per SKU; columns in zhongtai.catalog.importer):
    validated whole, then applied whole or rejected with a row-by-row report."""
    data = file.file.read(MAX_UPLOAD + 1)
    if len(data) > MAX_UPLOAD:
        raise ValidationFailed("file", "larger than 64 MiB; split it or use the CLI")
    table = importer.read_table(data, file.filename or "upload.csv")
    return ctx.mutate(lambda uow: importer.run(uow, table, dry_run=dry_run))


@router.get("/catalog/export", response_class=Response, tags=["catalog"])
def export_catalog(
    format: Literal["csv", "xlsx"] = "csv", ctx: Ctx = Depends(reader("catalog:read"))
) -> Response:
    """Every SKU as an import row, to edit and import back."""
    with ctx.read() as uow:
        rows = importer.export(uow)
    media = {
        "csv": "text/csv; charset=utf-8",
        "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    }
    return Response(
        importer.write_table(rows, format),
        media_type=media[format],
        headers={"Content-Disposition": f'attachment; filename="catalog.{format}"'},
    )


@router.post("/categories", status_code=201, response_model=CategoryOut, tags=["catalog"])
def create_category(body: CategoryIn, ctx: Ctx = Depends(writer("catalog:write"))) -> JSONResponse:
    return ctx.mutate(
        lambda uow: service.describe_category(uow, service.create_category(uow, body)),
        status_code=201,
    )


@router.get("/categories", response_model=list[CategoryOut], tags=["catalog"])
def list_categories(ctx: Ctx = Depends(reader("catalog:read"))) -> list[CategoryOut]:
    with ctx.read() as uow:
        return [CategoryOut.model_validate(c) for c in service.list_categories(uow)]


@router.get("/categories/{category_id}", response_model=CategoryOut, tags=["catalog"])
def get_category(category_id: IdPath, ctx: Ctx = Depends(reader("catalog:read"))) -> CategoryOut:
    with ctx.read() as uow:
        return service.describe_category(uow, service.get_category(uow, category_id))


@router.patch("/categories/{category_id}", response_model=CategoryOut, tags=["catalog"])
def update_category(
    category_id: IdPath, body: CategoryPatch, ctx: Ctx = Depends(writer("catalog:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: service.describe_category(uow, service.update_category(uow, category_id, body))
    )


@router.post("/brands", status_code=201, response_model=BrandOut, tags=["catalog"])
def create_brand(body: BrandIn, ctx: Ctx = Depends(writer("catalog:write"))) -> JSONResponse:
    return ctx.mutate(
        lambda uow: BrandOut.model_validate(service.create_brand(uow, body)), status_code=201
    )


@router.get("/brands", response_model=list[BrandOut], tags=["catalog"])
def list_brands(ctx: Ctx = Depends(reader("catalog:read"))) -> list[BrandOut]:
    with ctx.read() as uow:
        return [BrandOut.model_validate(b) for b in service.list_brands(uow)]


@router.post("/products", status_code=201, response_model=ProductOut, tags=["catalog"])
def create_product(body: ProductIn, ctx: Ctx = Depends(writer("catalog:write"))) -> JSONResponse:
    """A product (SPU) with its SKUs: listed explicitly, or made from a `matrix` of variant
    axes (colour x size). Prices are integer minor units."""
    return ctx.mutate(
        lambda uow: service.describe_product(uow, service.create_product(uow, body)),
        status_code=201,
    )


@router.get("/products", response_model=list[ProductOut], tags=["catalog"])
def list_products(
    category_id: Annotated[Id | None, Query()] = None,
    tag: Annotated[str | None, Query(max_length=40)] = None,
    status: Status | None = None,
    after: After = None,
    limit: Limit = 50,
    ctx: Ctx = Depends(reader("catalog:read")),
) -> list[ProductOut]:
    with ctx.read() as uow:
        rows = service.list_products(uow, category_id, tag, status, after, limit)
        return [service.describe_product(uow, p) for p in rows]


@router.get("/products/{product_id}", response_model=ProductOut, tags=["catalog"])
def get_product(product_id: IdPath, ctx: Ctx = Depends(reader("catalog:read"))) -> ProductOut:
    with ctx.read() as uow:
        return service.describe_product(uow, service.get_product(uow, product_id))


@router.patch("/products/{product_id}", response_model=ProductOut, tags=["catalog"])
def update_product(
    product_id: IdPath, body: ProductPatch, ctx: Ctx = Depends(writer("catalog:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: service.describe_product(uow, service.update_product(uow, product_id, body))
    )


@router.post(
    "/products/{product_id}/skus", status_code=201, response_model=SkuOut, tags=["catalog"]
)
def add_sku(
    product_id: IdPath, body: SkuIn, ctx: Ctx = Depends(writer("catalog:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: service.describe_skus(uow, [service.add_sku(uow, product_id, body)])[0],
        status_code=201,
    )


@router.get("/skus", response_model=list[SkuOut], tags=["catalog"])
def search_skus(
    q: Annotated[str, Query(max_length=100, description="Barcode, code or words")] = "",
    status: Status | None = None,
    after: After = None,
    limit: Limit = 20,
    ctx: Ctx = Depends(reader("catalog:read")),
) -> list[SkuOut]:
    """Product search for the POS and the console: by barcode, code, name, category, tag."""
    with ctx.read() as uow:
        return service.describe_skus(uow, service.search_skus(uow, q, status, after, limit))


@router.get("/skus/{sku_id}", response_model=SkuOut, tags=["catalog"])
def get_sku(sku_id: IdPath, ctx: Ctx = Depends(reader("catalog:read"))) -> SkuOut:
    with ctx.read() as uow:
        return service.describe_skus(uow, [service.get_sku(uow, sku_id)])[0]


@router.patch("/skus/{sku_id}", response_model=SkuOut, tags=["catalog"])
def update_sku(
    sku_id: IdPath, body: SkuPatch, ctx: Ctx = Depends(writer("catalog:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: service.describe_skus(uow, [service.update_sku(uow, sku_id, body)])[0]
    )


@router.post(
    "/skus/{sku_id}/barcodes", status_code=201, response_model=BarcodeOut, tags=["catalog"]
)
def add_barcode(
    sku_id: IdPath, body: BarcodeIn, ctx: Ctx = Depends(writer("catalog:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: BarcodeOut.model_validate(service.add_barcode(uow, sku_id, body)),
        status_code=201,
    )


@router.get("/scan", response_model=ScanOut, tags=["catalog"])
def scan(
    code: Annotated[str, Query(min_length=1, max_length=200)],
    ctx: Ctx = Depends(reader("catalog:read")),
) -> ScanOut:
    """扫码: resolve a scanned code (EAN/UPC/GTIN, GS1-128 or DataMatrix element string,
    in-store weighed label) to its SKU with batch, expiry, serial, weight or price."""
    with ctx.read() as uow:
        return service.scan(uow, code)


@router.post(
    "/skus/{sku_id}/listings", status_code=201, response_model=ListingOut, tags=["listing"]
)
def set_listing(
    sku_id: IdPath, body: ListingIn, ctx: Ctx = Depends(writer("listing:write"))
) -> JSONResponse:
    """上下架: list or delist on a channel (and optionally one store), now or scheduled."""
    return ctx.mutate(
        lambda uow: ListingOut.model_validate(service.set_listing(uow, sku_id, body)),
        status_code=201,
    )


@router.get("/skus/{sku_id}/listings", response_model=list[ListingStateOut], tags=["listing"])
def listing_states(
    sku_id: IdPath,
    at: datetime | None = None,
    ctx: Ctx = Depends(reader("catalog:read")),
) -> list[ListingStateOut]:
    with ctx.read() as uow:
        return service.listing_states(uow, sku_id, at or utcnow())
