"""Bulk import and export of products, SKUs, barcodes and base prices (CSV and XLSX).

A file is validated whole first; then it is applied whole in one transaction, or not at
all, with a row-by-row error report. Importing the same file twice changes nothing the
second time: rows equal to what is stored write nothing and emit nothing.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any
from zipfile import BadZipFile

from openpyxl import Workbook, load_workbook
from openpyxl.utils.exceptions import InvalidFileException
from sqlalchemy import insert, select, text, update

from zhongtai.catalog import barcodes, model
from zhongtai.catalog.schemas import ImportReport, ImportRowError
from zhongtai.catalog.service import brand_by_code, category_by_code, search_text, settings_of
from zhongtai.catalog.store import Brand, Category, Product, Sku, SkuBarcode
from zhongtai.platform.errors import ProblemError
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.outbox import OutboxEvent
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import service as pricing
from zhongtai.pricing.store import PriceRow

COLUMNS = [
    "product_code",
    "product_name",
    "category",
    "brand",
    "pack",
    "status",
    "tags",
    "product_attributes",
    "sold_by_weight",
    "sku_code",
    "sku_name",
    "sku_attributes",
    "barcodes",
    "weighed_code",
    "price",
    "prescription_only",
]
REQUIRED = ("product_code", "product_name", "category", "sku_code")
Progress = Callable[[str, int, int], None]


class ImportRejected(ProblemError):
    status, type, title = 422, "validation-error", "Import rejected"


def read_table(data: bytes, filename: str) -> list[dict[str, str]]:
    """Rows of a CSV (UTF-8, with or without BOM) or XLSX file, as text keyed by header."""
    try:
        return _read(data, filename)
    except (
        UnicodeDecodeError,
        csv.Error,
        BadZipFile,
        InvalidFileException,
        OSError,
        ValueError,
        KeyError,
    ) as exc:
        raise ImportRejected(
            f"cannot read {filename or 'the file'}: {exc}",
            errors=[{"row": 0, "field": "file", "message": str(exc)[:300]}],
        ) from exc


def _read(data: bytes, filename: str) -> list[dict[str, str]]:
    if filename.lower().endswith(".xlsx"):
        sheet = load_workbook(io.BytesIO(data), read_only=True, data_only=True).worksheets[0]
        rows = sheet.iter_rows(values_only=True)
        header = [str(h or "").strip() for h in next(rows, ())]
        return [
            {h: "" if v is None else str(v).strip() for h, v in zip(header, r, strict=False)}
            for r in rows
            if any(v not in (None, "") for v in r)
        ]
    text = data.decode("utf-8-sig")
    return [
        {k.strip(): (v or "").strip() for k, v in r.items() if k}
        for r in csv.DictReader(io.StringIO(text))
    ]


def _pairs(text: str) -> dict[str, str]:
    out = {}
    for part in filter(None, (p.strip() for p in text.split(";"))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValueError(f"{part!r} is not name=value")
        out[key.strip()] = value.strip()
    return out


def _truthy(text: str) -> bool:
    return text.lower() in ("1", "true", "yes", "y")


def _split(text: str) -> list[str]:
    return [p.strip() for p in text.split("|") if p.strip()]


@dataclass
class Row:
    line: int
    product_code: str
    product_name: str
    category: str
    brand: str
    pack: str
    status: str
    tags: list[str]
    product_attributes: dict[str, str]
    sold_by_weight: bool
    sku_code: str
    sku_name: str
    sku_attributes: dict[str, str]
    barcodes: list[barcodes.Barcode]
    price: int | None
    prescription_only: bool = False


def _parse(line: int, raw: dict[str, str]) -> tuple[Row | None, list[ImportRowError]]:
    errors: list[ImportRowError] = []

    def err(column: str, message: str) -> None:
        errors.append(ImportRowError(row=line, field=column, message=message))

    for column in REQUIRED:
        if not raw.get(column):
            err(column, "required")
    attrs: dict[str, dict[str, str]] = {}
    for column in ("product_attributes", "sku_attributes"):
        try:
            attrs[column] = _pairs(raw.get(column, ""))
        except ValueError as exc:
            err(column, str(exc))
    codes: list[barcodes.Barcode] = []
    for code in _split(raw.get("barcodes", "")):
        try:
            codes.append(barcodes.register(code))
        except barcodes.BarcodeError as exc:
            err("barcodes", f"{code}: {exc}")
    if weighed := raw.get("weighed_code", ""):
        try:
            codes.append(barcodes.register(weighed, weighed=True))
        except barcodes.BarcodeError as exc:
            err("weighed_code", str(exc))
    price: int | None = None
    if text := raw.get("price", ""):
        if not text.isdigit():
            err("price", "a whole number of minor units (分), e.g. 1290 for 12.90")
        else:
            price = int(text)
    status = raw.get("status") or "active"
    if status not in {s.value for s in model.Status}:
        err("status", f"one of {[s.value for s in model.Status]}")
    pack = raw.get("pack") or "general"
    if pack not in {p.value for p in model.Pack}:
        err("pack", f"one of {[p.value for p in model.Pack]}")
    for column, limit in (("product_code", 64), ("sku_code", 64), ("category", 40)):
        if len(raw.get(column, "")) > limit:
            err(column, f"at most {limit} characters")
    if errors:
        return None, errors
    return Row(
        line,
        raw["product_code"],
        raw["product_name"],
        raw["category"],
        raw.get("brand", ""),
        pack,
        status,
        sorted(set(_split(raw.get("tags", "")))),
        attrs["product_attributes"],
        _truthy(raw.get("sold_by_weight", "")),
        raw["sku_code"],
        raw.get("sku_name") or raw["product_name"],
        attrs["sku_attributes"],
        codes,
        price,
    ), []


def _cross_check(rows: list[Row], enabled_packs: set[str]) -> list[ImportRowError]:
    """Rules across rows: one SKU code per row, one barcode per SKU, consistent products."""
    errors: list[ImportRowError] = []
    sku_lines: dict[str, int] = {}
    key_owner: dict[str, str] = {}
    products: dict[str, Row] = {}
    for r in rows:
        if r.sku_code in sku_lines:
            errors.append(
                ImportRowError(
                    row=r.line, field="sku_code", message=f"also on row {sku_lines[r.sku_code]}"
                )
            )
        sku_lines[r.sku_code] = r.line
        for b in r.barcodes:
            owner = key_owner.setdefault(b.key, r.sku_code)
            if owner != r.sku_code:
                errors.append(
                    ImportRowError(
                        row=r.line, field="barcodes", message=f"{b.code} is also on SKU {owner}"
                    )
                )
        first = products.setdefault(r.product_code, r)
        if (first.product_name, first.category, first.pack) != (r.product_name, r.category, r.pack):
            errors.append(
                ImportRowError(
                    row=r.line,
                    field="product_code",
                    message=(
                        f"name, category and pack must match row {first.line} of the same product"
                    ),
                )
            )
        if r.pack not in enabled_packs:
            errors.append(
                ImportRowError(
                    row=r.line, field="pack", message=f"industry pack {r.pack} is not enabled"
                )
            )
        rules = model.PACKS[model.Pack(r.pack)]
        if r.prescription_only and not rules.prescription_flag:
            errors.append(
                ImportRowError(
                    row=r.line, field="prescription_only", message="only pharmacy products have it"
                )
            )
        if missing := [a for a in rules.attributes if a not in r.product_attributes]:
            errors.append(
                ImportRowError(
                    row=r.line,
                    field="product_attributes",
                    message=f"the {r.pack} pack needs {', '.join(missing)}",
                )
            )
    return errors


def _chunks(items: list[Any], size: int = 500) -> Iterator[list[Any]]:
    for i in range(0, len(items), size):
        yield items[i : i + size]


def _existing(uow: UnitOfWork, cls: Any, column: Any, values: Iterable[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for chunk in _chunks(sorted(set(values))):
        for row in uow.session.scalars(select(cls).where(column.in_(chunk))):
            out[getattr(row, column.key)] = row
    return out


def _db_conflicts(uow: UnitOfWork, rows: list[Row]) -> list[ImportRowError]:
    """Barcodes that belong to SKUs outside this file's row for them."""
    keys = {b.key: r for r in rows for b in r.barcodes}
    taken = _existing(uow, SkuBarcode, SkuBarcode.key, keys)
    if not taken:
        return []
    sku_codes = {
        s.id: s.code
        for s in _existing(uow, Sku, Sku.id, {b.sku_id for b in taken.values()}).values()
    }
    errors = []
    for key, owner in taken.items():
        row = keys[key]
        if sku_codes.get(owner.sku_id) != row.sku_code:
            errors.append(
                ImportRowError(
                    row=row.line,
                    field="barcodes",
                    message=(f"{owner.code} belongs to SKU {sku_codes.get(owner.sku_id)}"),
                )
            )
    return errors


def validate(
    uow: UnitOfWork, table: list[dict[str, str]]
) -> tuple[list[Row], list[ImportRowError]]:
    rows: list[Row] = []
    errors: list[ImportRowError] = []
    if not table:
        errors.append(ImportRowError(row=1, field="file", message="no rows"))
    elif missing := [c for c in REQUIRED if c not in table[0]]:
        errors.append(ImportRowError(row=1, field="header", message=f"missing {missing}"))
        return rows, errors
    for i, raw in enumerate(table, start=2):  # row 1 is the header
        row, row_errors = _parse(i, raw)
        errors += row_errors
        if row:
            rows.append(row)
    errors += _cross_check(rows, set(settings_of(uow).packs))
    errors += _db_conflicts(uow, rows)
    return rows, sorted(errors, key=lambda e: e.row)


@dataclass
class _Plan:
    products: list[dict[str, Any]] = field(default_factory=list)
    product_updates: list[dict[str, Any]] = field(default_factory=list)
    skus: list[dict[str, Any]] = field(default_factory=list)
    sku_updates: list[dict[str, Any]] = field(default_factory=list)
    barcodes: list[dict[str, Any]] = field(default_factory=list)
    prices: list[dict[str, Any]] = field(default_factory=list)
    superseded: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)


def _plan(uow: UnitOfWork, rows: list[Row], progress: Progress) -> tuple[_Plan, ImportReport]:
    tenant, now = uow.tenant_id, utcnow()
    currency = settings_of(uow).currency
    categories = {c: category_by_code(uow, c) for c in sorted({r.category for r in rows})}
    brands = {b: brand_by_code(uow, b).id for b in sorted({r.brand for r in rows if r.brand})}
    products = _existing(uow, Product, Product.code, (r.product_code for r in rows))
    skus = _existing(uow, Sku, Sku.code, (r.sku_code for r in rows))
    keys = _existing(uow, SkuBarcode, SkuBarcode.key, (b.key for r in rows for b in r.barcodes))
    prices: dict[str, PriceRow] = {}
    for chunk in _chunks([s.id for s in skus.values()]):
        prices.update({p.sku_id: p for p in pricing.current_base_rows(uow, chunk)})
    plan, report = _Plan(), ImportReport(applied=False, rows=len(rows))
    seen_products: dict[str, dict[str, Any]] = {}
    for n, r in enumerate(rows, start=1):
        if n % 1000 == 0:
            progress("planning", n, len(rows))
        product = products.get(r.product_code)
        fields = {
            "name": r.product_name,
            "category_id": categories[r.category].id,
            "brand_id": brands.get(r.brand),
            "pack": r.pack,
            "status": r.status,
            "tags": r.tags,
            "attributes": r.product_attributes,
            "sold_by_weight": r.sold_by_weight,
        }
        if r.product_code in seen_products:
            product_id = seen_products[r.product_code]["id"]
        elif product is None:
            product_id = new_id()
            seen_products[r.product_code] = {
                "id": product_id,
                "tenant_id": tenant,
                "code": r.product_code,
                "images": [],
                "created_at": now,
                "updated_at": now,
                **fields,
            }
            plan.products.append(seen_products[r.product_code])
            report.products_created += 1
        else:
            product_id = product.id
            seen_products[r.product_code] = {"id": product_id}
            if any(getattr(product, k) != v for k, v in fields.items()):
                plan.product_updates.append({"id": product_id, "updated_at": now, **fields})
                report.products_updated += 1
        spu = Product(code=r.product_code, name=r.product_name, tags=r.tags)
        sku = skus.get(r.sku_code)
        sku_fields = {
            "name": r.sku_name,
            "attributes": r.sku_attributes,
            "status": r.status,
            "base_unit": "g" if r.sold_by_weight else "each",
        }
        search = search_text(
            spu,
            Sku(code=r.sku_code, name=r.sku_name),
            [b.code for b in r.barcodes],
            categories[r.category].name,
        )
        rules = model.PACKS[model.Pack(r.pack)]
        changed = False
        if sku is None:
            sku_id = new_id()
            plan.skus.append(
                {
                    "id": sku_id,
                    "tenant_id": tenant,
                    "product_id": product_id,
                    "code": r.sku_code,
                    "units": [],
                    "search_text": search,
                    "prescription_only": False,
                    "created_at": now,
                    "batch_required": rules.batch_and_expiry_required,
                    "serial_required": rules.serial_required,
                    **sku_fields,
                }
            )
            report.skus_created += 1
            changed = True
        else:
            sku_id = sku.id
            if any(getattr(sku, k) != v for k, v in sku_fields.items()) or (
                sku.search_text != search
            ):
                plan.sku_updates.append({"id": sku_id, "search_text": search, **sku_fields})
                report.skus_updated += 1
                changed = True
        for b in r.barcodes:
            if b.key not in keys:
                plan.barcodes.append(
                    {
                        "id": new_id(),
                        "tenant_id": tenant,
                        "sku_id": sku_id,
                        "code": b.code,
                        "kind": b.kind,
                        "key": b.key,
                        "unit": "g" if b.kind == "weighed_item" else "each",
                        "unit_factor": 1,
                    }
                )
                changed = True
        old = prices.get(sku_id)
        if r.price is not None and (old is None or old.amount != r.price):
            price_id = new_id()
            plan.prices.append(
                {
                    "id": price_id,
                    "tenant_id": tenant,
                    "sku_id": sku_id,
                    "amount": r.price,
                    "currency": currency,
                    "set_by": uow.principal.actor_id if uow.principal else "import",
                    "created_at": now,
                }
            )
            if old is not None:
                plan.superseded.append({"id": old.id, "superseded_by": price_id})
            plan.events.append(
                {
                    "id": new_id(),
                    "tenant_id": tenant,
                    "type": "price.changed",
                    "version": 1,
                    "occurred_at": now,
                    "payload": {
                        "sku_id": sku_id,
                        "price_id": price_id,
                        "amount": r.price,
                        "previous_amount": old.amount if old else None,
                        "currency": currency,
                        "channel": None,
                        "store_id": None,
                        "member_tier": None,
                        "valid_from": None,
                        "valid_to": None,
                    },
                }
            )
            report.prices_changed += 1
            changed = True
        report.unchanged += 0 if changed else 1
    return plan, report


def _write(uow: UnitOfWork, plan: _Plan, progress: Progress) -> None:
    session = uow.session
    steps: list[tuple[str, Any, list[dict[str, Any]], bool]] = [
        ("products", Product, plan.products, True),
        ("product updates", Product, plan.product_updates, False),
        ("SKUs", Sku, plan.skus, True),
        ("SKU updates", Sku, plan.sku_updates, False),
        ("barcodes", SkuBarcode, plan.barcodes, True),
        ("prices", PriceRow, plan.prices, True),
        ("price history", PriceRow, plan.superseded, False),
        ("events", OutboxEvent, plan.events, True),
    ]
    for label, cls, items, is_insert in steps:
        for done, chunk in enumerate(_chunks(items, 2000), start=1):
            session.execute(insert(cls) if is_insert else update(cls), chunk)
            progress(label, min(done * 2000, len(items)), len(items))
    if plan.skus:
        # A bulk load changes row counts by orders of magnitude: refresh the planner's
        # statistics, or PostgreSQL goes on planning for empty tables (sequential scans).
        tables = "product, sku, sku_barcode, price"
        session.execute(text(f"ANALYZE {tables}" if _is_pg(uow) else "ANALYZE"))


def _is_pg(uow: UnitOfWork) -> bool:
    return uow.db.dialect == "postgresql"


def run(
    uow: UnitOfWork,
    table: list[dict[str, str]],
    *,
    dry_run: bool = False,
    progress: Progress = lambda _s, _d, _t: None,
) -> ImportReport:
    """Validate the whole table, then apply it whole (unless `dry_run`); raise on errors."""
    rows, errors = validate(uow, table)
    if errors:
        raise ImportRejected(
            f"{len(errors)} problems in the file; nothing was imported",
            errors=[{"row": e.row, "field": e.field, "message": e.message} for e in errors[:1000]],
        )
    plan, report = _plan(uow, rows, progress)
    if not dry_run:
        _write(uow, plan, progress)
        if report.unchanged < report.rows:
            uow.emit("catalog.imported", report.model_dump(exclude={"errors", "applied"}))
        report.applied = True
    return report


def export(uow: UnitOfWork) -> list[dict[str, str]]:
    """Every SKU as an import row: export, edit, import back."""
    categories = {c.id: c.code for c in uow.session.scalars(select(Category))}
    brands = {b.id: b.code for b in uow.session.scalars(select(Brand))}
    products = {p.id: p for p in uow.session.scalars(select(Product))}
    codes: dict[str, tuple[list[str], str]] = {}
    for b in uow.session.scalars(select(SkuBarcode).order_by(SkuBarcode.id)):
        plain, weighed = codes.get(b.sku_id, ([], ""))
        if b.kind == "weighed_item":
            weighed = b.code
        elif b.unit_factor == 1:
            plain = [*plain, b.code]
        codes[b.sku_id] = (plain, weighed)
    prices = {p.sku_id: p.amount for p in pricing.current_base_rows(uow)}
    out = []
    for sku in uow.session.scalars(select(Sku).order_by(Sku.code)):
        p = products[sku.product_id]
        plain, weighed = codes.get(sku.id, ([], ""))
        out.append(
            {
                "product_code": p.code,
                "product_name": p.name,
                "category": categories[p.category_id],
                "brand": brands.get(p.brand_id or "", ""),
                "pack": p.pack,
                "status": sku.status,
                "tags": "|".join(p.tags),
                "product_attributes": ";".join(f"{k}={v}" for k, v in p.attributes.items()),
                "sold_by_weight": "true" if p.sold_by_weight else "",
                "sku_code": sku.code,
                "sku_name": sku.name,
                "sku_attributes": ";".join(f"{k}={v}" for k, v in sku.attributes.items()),
                "barcodes": "|".join(plain),
                "weighed_code": weighed,
                "price": str(prices[sku.id]) if sku.id in prices else "",
            }
        )
    return out


def write_table(rows: list[dict[str, str]], fmt: str) -> bytes:
    if fmt == "xlsx":
        book = Workbook(write_only=True)
        sheet = book.create_sheet("catalog")
        sheet.append(COLUMNS)
        for r in rows:
            sheet.append([r.get(c, "") for c in COLUMNS])
        buffer = io.BytesIO()
        book.save(buffer)
        return buffer.getvalue()
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows(rows)
    return text.getvalue().encode("utf-8")
