"""Use cases of the product centre; each runs inside the caller's unit of work."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import or_, select, update

from zhongtai.catalog import barcodes, model
from zhongtai.catalog.schemas import (
    BarcodeIn,
    BarcodeOut,
    BrandIn,
    CategoryIn,
    CategoryOut,
    CategoryPatch,
    ListingIn,
    ListingOut,
    ListingStateOut,
    ProductIn,
    ProductOut,
    ProductPatch,
    ScanOut,
    SettingsIn,
    SkuIn,
    SkuOut,
    SkuPatch,
)
from zhongtai.catalog.store import (
    Brand,
    CatalogSettings,
    Category,
    ListingRow,
    Product,
    Sku,
    SkuBarcode,
)
from zhongtai.org import service as org
from zhongtai.platform.db import Database
from zhongtai.platform.errors import Conflict, NotFound, ValidationFailed
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import service as pricing

T = TypeVar("T")

# --- settings ----------------------------------------------------------------------


def settings_of(uow: UnitOfWork) -> CatalogSettings:
    """The tenant's catalogue settings, or the defaults (unsaved) if never set."""
    row = uow.session.get(CatalogSettings, uow.tenant_id)
    if row is None:
        return CatalogSettings(
            tenant_id=uow.tenant_id,
            packs=["general"],
            currency="CNY",
            weighed_item_digits=5,
            weighed_value="weight",
        )
    return row


def set_settings(uow: UnitOfWork, cmd: SettingsIn) -> CatalogSettings:
    row = uow.session.get(CatalogSettings, uow.tenant_id)
    if row is None:
        row = CatalogSettings(tenant_id=uow.tenant_id)
        uow.session.add(row)
    row.packs = sorted({p.value for p in cmd.packs} | {"general"})
    row.currency = cmd.currency
    row.weighed_item_digits = cmd.weighed_item_digits
    row.weighed_value = cmd.weighed_value
    uow.emit("catalog.settings_changed", {"packs": row.packs, "currency": row.currency})
    return row


def weighed_format(settings: CatalogSettings) -> barcodes.WeighedFormat:
    digits = settings.weighed_item_digits
    if settings.weighed_value == "price":
        return barcodes.WeighedFormat(item_digits=digits, value="price")
    return barcodes.WeighedFormat(item_digits=digits, value="weight")


# --- categories and brands ------------------------------------------------------------


def get_category(uow: UnitOfWork, category_id: str) -> Category:
    return uow.one(select(Category).where(Category.id == category_id), f"category {category_id}")


def _specs(raw: Iterable[dict[str, Any]]) -> list[model.AttributeSpec]:
    return [
        model.AttributeSpec(
            r["name"], r.get("required", False), r.get("variant", False), tuple(r.get("values", ()))
        )
        for r in raw
    ]


def template_of(uow: UnitOfWork, category: Category) -> list[model.AttributeSpec]:
    """The category's attribute template with everything inherited from its ancestors."""
    ids = [i for i in category.path.split("/") if i]
    rows = {c.id: c for c in uow.session.scalars(select(Category).where(Category.id.in_(ids)))}
    return model.effective_template([_specs(rows[i].attributes) for i in ids if i in rows])


def describe_category(uow: UnitOfWork, category: Category) -> CategoryOut:
    out = CategoryOut.model_validate(category)
    out.effective_attributes = [
        vars(s) | {"values": list(s.values)} for s in template_of(uow, category)
    ]
    return out


def create_category(uow: UnitOfWork, cmd: CategoryIn) -> Category:
    if uow.session.scalar(select(Category.id).where(Category.code == cmd.code)):
        raise Conflict(f"category code {cmd.code} already used", field="code")
    parent = get_category(uow, cmd.parent_id) if cmd.parent_id else None
    category_id = new_id()
    category = Category(
        id=category_id,
        code=cmd.code,
        name=cmd.name,
        parent_id=parent.id if parent else None,
        path=model.path_of(parent.path if parent else "", category_id),
        attributes=[a.model_dump() for a in cmd.attributes],
    )
    uow.session.add(category)
    uow.session.flush()
    uow.emit("category.created", {"id": category.id, "code": category.code})
    return category


def list_categories(uow: UnitOfWork) -> list[Category]:
    return list(uow.session.scalars(select(Category).order_by(Category.path)).all())


def update_category(uow: UnitOfWork, category_id: str, patch: CategoryPatch) -> Category:
    category = get_category(uow, category_id)
    if patch.name is not None:
        category.name = patch.name
    if patch.attributes is not None:
        category.attributes = [a.model_dump() for a in patch.attributes]
    if patch.parent_id is not None and patch.parent_id != category.parent_id:
        parent = get_category(uow, patch.parent_id)
        if model.would_cycle(category.path, parent.path):
            raise ValidationFailed("parent_id", "a category cannot move under its own subtree")
        old_path = category.path
        new_path = model.path_of(parent.path, category.id)
        for row in uow.session.scalars(select(Category).where(Category.path.startswith(old_path))):
            row.path = new_path + row.path[len(old_path) :]
        category.parent_id = parent.id
    uow.emit("category.updated", {"id": category.id})
    return category


def _by_code(uow: UnitOfWork, cls: type[Category] | type[Brand], code: str) -> Any:
    return uow.session.scalars(select(cls).where(cls.code == code)).first()


def category_by_code(uow: UnitOfWork, code: str) -> Category:
    """An unknown code makes a top-level category of that name, as the API contract allows."""
    found: Category | None = _by_code(uow, Category, code)
    return found or create_category(uow, CategoryIn(code=code, name=code))


def existing_category(uow: UnitOfWork, code: str, field: str) -> Category:
    """For other capabilities: the category of that code, which must exist."""
    found: Category | None = _by_code(uow, Category, code)
    if found is None:
        raise ValidationFailed(field, f"unknown category {code}")
    return found


def category_paths(uow: UnitOfWork, sku_ids: Iterable[str]) -> dict[str, str]:
    """For other capabilities: each SKU's category path ("root/.../own/", ids), to match
    rules set on a category against everything below it."""
    query = (
        select(Sku.id, Category.path)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(Sku.id.in_(list(sku_ids)))
    )
    return {sku_id: path for sku_id, path in uow.session.execute(query)}


def sku_facets(
    uow: UnitOfWork, sku_ids: Iterable[str]
) -> dict[str, tuple[str, frozenset[str], str]]:
    """For other capabilities: each SKU's category code, the codes of that category and
    all above it (a rule on 食品 covers 零食 below it), and its brand code ("" if none)."""
    rows = uow.session.execute(
        select(Sku.id, Category.code, Category.path, Brand.code)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .outerjoin(Brand, Brand.id == Product.brand_id)
        .where(Sku.id.in_(list(sku_ids)))
    ).all()
    ids = {i for _sku, _code, path, _brand in rows for i in path.split("/") if i}
    codes = dict(
        uow.session.execute(select(Category.id, Category.code).where(Category.id.in_(ids))).all()
    )
    return {
        sku: (code, frozenset(codes[i] for i in path.split("/") if i in codes), brand or "")
        for sku, code, path, brand in rows
    }


def skus_under(uow: UnitOfWork, category_codes: Iterable[str]) -> list[tuple[str, str]]:
    """For other capabilities: the SKUs (id, code) in these categories or any below them."""
    roots = uow.session.scalars(select(Category.path).where(Category.code.in_(set(category_codes))))
    below = [Category.path.startswith(path) for path in roots]
    if not below:
        return []
    query = (
        select(Sku.id, Sku.code)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(or_(*below))
    )
    return [(sku_id, code) for sku_id, code in uow.session.execute(query)]


def unknown_codes(uow: UnitOfWork, kind: str, codes: Iterable[str]) -> list[str]:
    """For other capabilities: which of these SKU, category or brand codes do not exist."""
    column = {"skus": Sku.code, "categories": Category.code, "brands": Brand.code}[kind]
    wanted = set(codes)
    found = set(uow.session.scalars(select(column).where(column.in_(wanted)))) if wanted else set()
    return sorted(wanted - found)


def create_brand(uow: UnitOfWork, cmd: BrandIn) -> Brand:
    if _by_code(uow, Brand, cmd.code):
        raise Conflict(f"brand code {cmd.code} already used", field="code")
    brand = Brand(code=cmd.code, name=cmd.name)
    uow.session.add(brand)
    uow.session.flush()
    uow.emit("brand.created", {"id": brand.id, "code": brand.code})
    return brand


def brand_by_code(uow: UnitOfWork, code: str) -> Brand:
    found: Brand | None = _by_code(uow, Brand, code)
    return found or create_brand(uow, BrandIn(code=code, name=code))


def list_brands(uow: UnitOfWork) -> list[Brand]:
    return list(uow.session.scalars(select(Brand).order_by(Brand.code)).all())


# --- products and SKUs ----------------------------------------------------------------


@dataclass
class _Context:
    """What validating a product's SKUs needs to know, gathered once."""

    product: Product
    template: list[model.AttributeSpec]
    pack: model.PackRules
    settings: CatalogSettings
    category_name: str


def search_text(product: Product, sku: Sku, codes: Iterable[str], category: str) -> str:
    words = [product.name, product.code, sku.name, sku.code, category, *product.tags, *codes]
    return " ".join(w for w in words if w).lower()


def _taken_keys(uow: UnitOfWork, keys: list[str]) -> set[str]:
    query = select(SkuBarcode.key).where(SkuBarcode.key.in_(keys))
    return set(uow.session.scalars(query).all())


def _barcode_rows(uow: UnitOfWork, sku_in: SkuIn, field: str, seen: set[str]) -> list[SkuBarcode]:
    """Validated barcodes of one SKU; a key used anywhere in the tenant is a 409."""
    wanted: list[tuple[str, str, barcodes.Barcode, int]] = []
    codes = [c for c in [sku_in.barcode, *sku_in.barcodes] if c]
    for i, code in enumerate(codes):
        where = f"{field}.barcode" if i == 0 and sku_in.barcode else f"{field}.barcodes[{i}]"
        wanted.append((where, "each", _registered(code, where), 1))
    if sku_in.weighed_code:
        where = f"{field}.weighed_code"
        wanted.append((where, "g", _registered(sku_in.weighed_code, where, weighed=True), 1))
    for j, unit in enumerate(sku_in.units):
        if unit.barcode:
            where = f"{field}.units[{j}].barcode"
            wanted.append((where, unit.name, _registered(unit.barcode, where), unit.factor))
    taken = _taken_keys(uow, [b.key for _w, _u, b, _f in wanted])
    rows = []
    for where, unit_name, barcode, factor in wanted:
        if barcode.key in taken or barcode.key in seen:
            raise Conflict(f"barcode {barcode.code} belongs to another SKU", field=where)
        seen.add(barcode.key)
        rows.append(
            SkuBarcode(
                code=barcode.code,
                kind=barcode.kind,
                key=barcode.key,
                unit=unit_name,
                unit_factor=factor,
            )
        )
    return rows


def _registered(code: str, field: str, *, weighed: bool = False) -> barcodes.Barcode:
    try:
        return barcodes.register(code, weighed=weighed)
    except barcodes.BarcodeError as exc:
        raise ValidationFailed(field, str(exc)) from exc


def _check_attributes(
    template: list[model.AttributeSpec], attrs: dict[str, Any], field: str, *, variant: bool
) -> None:
    if missing := model.missing_attributes(template, attrs, variant=variant):
        raise ValidationFailed(f"{field}.attributes", f"missing {', '.join(missing)}")
    if bad := model.bad_values(template, attrs):
        raise ValidationFailed(f"{field}.attributes", f"values not allowed for {', '.join(bad)}")


def _new_sku(uow: UnitOfWork, ctx: _Context, sku_in: SkuIn, field: str, seen: set[str]) -> Sku:
    product = ctx.product
    attrs = dict(sku_in.attributes)
    _check_attributes(ctx.template, attrs, field, variant=True)
    code = sku_in.code or model.matrix_code(product.code, {k: str(v) for k, v in attrs.items()})
    if code in seen or uow.session.scalar(select(Sku.id).where(Sku.code == code)):
        raise Conflict(f"SKU code {code} already used", field=f"{field}.code")
    seen.add(code)
    if sku_in.prescription_only and not ctx.pack.prescription_flag:
        raise ValidationFailed(f"{field}.prescription_only", "only pharmacy products have it")
    service_for = None
    if sku_in.service_for:
        service_for = uow.session.scalar(select(Sku.id).where(Sku.code == sku_in.service_for))
        if service_for is None:
            raise ValidationFailed(f"{field}.service_for", f"unknown SKU {sku_in.service_for}")
    variant = " ".join(str(v) for v in attrs.values())
    sku = Sku(
        id=new_id(),
        product_id=product.id,
        code=code,
        name=sku_in.name or " ".join(p for p in (product.name, variant) if p),
        status=product.status,
        attributes=attrs,
        base_unit="g" if product.sold_by_weight else "each",
        units=[{"name": u.name, "factor": u.factor} for u in sku_in.units],
        prescription_only=sku_in.prescription_only,
        batch_required=ctx.pack.batch_and_expiry_required,
        serial_required=ctx.pack.serial_required,
        service_for_sku_id=service_for,
    )
    codes = _barcode_rows(uow, sku_in, field, seen)
    sku.search_text = search_text(product, sku, [b.code for b in codes], ctx.category_name)
    uow.session.add(sku)
    for row in codes:
        row.sku_id = sku.id
        uow.session.add(row)
    if sku_in.price is not None:
        pricing.set_price(uow, pricing.PriceChange(sku.id, sku_in.price, ctx.settings.currency))
    return sku


def _sku_inputs(cmd: ProductIn) -> list[SkuIn]:
    if not cmd.matrix:
        return cmd.skus or [SkuIn(price=cmd.price)]
    given = {tuple(sorted((k, str(v)) for k, v in s.attributes.items())): s for s in cmd.skus}
    out = []
    for combo in model.matrix(cmd.matrix):
        key = tuple(sorted(combo.items()))
        base = given.get(key, SkuIn(price=cmd.price))
        out.append(
            base.model_copy(
                update={
                    "attributes": dict(combo),
                    "price": base.price if base.price is not None else cmd.price,
                }
            )
        )
    return out


def create_product(uow: UnitOfWork, cmd: ProductIn) -> Product:
    if uow.session.scalar(select(Product.id).where(Product.code == cmd.code)):
        raise Conflict(f"product code {cmd.code} already used", field="code")
    settings = settings_of(uow)
    pack = cmd.pack or model.Pack.general
    if pack.value not in settings.packs:
        raise ValidationFailed("pack", f"industry pack {pack.value} is not enabled")
    category = category_by_code(uow, cmd.category)
    template = template_of(uow, category)
    variant_names = {s.name for s in template if s.variant} | set(cmd.matrix)
    template = [
        s if s.name not in cmd.matrix else model.AttributeSpec(s.name, variant=True)
        for s in template
    ] + [model.AttributeSpec(n, variant=True) for n in variant_names - {s.name for s in template}]
    _check_attributes(template, cmd.attributes, "product", variant=False)
    rules = model.PACKS[pack]
    if missing := [a for a in rules.attributes if a not in cmd.attributes]:
        raise ValidationFailed("attributes", f"the {pack.value} pack needs {', '.join(missing)}")
    product = Product(
        id=new_id(),
        code=cmd.code,
        name=cmd.name,
        category_id=category.id,
        brand_id=brand_by_code(uow, cmd.brand).id if cmd.brand else None,
        pack=pack.value,
        status=cmd.status.value,
        attributes=dict(cmd.attributes),
        tags=sorted(set(cmd.tags)),
        images=list(cmd.images),
        sold_by_weight=cmd.sold_by_weight,
    )
    uow.session.add(product)
    ctx = _Context(product, template, rules, settings, category.name)
    seen: set[str] = set()
    skus = [_new_sku(uow, ctx, s, f"skus[{i}]", seen) for i, s in enumerate(_sku_inputs(cmd))]
    uow.session.flush()
    uow.emit(
        "product.created", {"id": product.id, "code": product.code, "skus": [s.code for s in skus]}
    )
    return product


def get_product(uow: UnitOfWork, product_id: str) -> Product:
    return uow.one(select(Product).where(Product.id == product_id), f"product {product_id}")


def get_sku(uow: UnitOfWork, sku_id: str) -> Sku:
    return uow.one(select(Sku).where(Sku.id == sku_id), f"SKU {sku_id}")


def sku_by_code(uow: UnitOfWork, code: str, field: str = "sku") -> Sku:
    sku = uow.session.scalars(select(Sku).where(Sku.code == code)).first()
    if sku is None:
        raise ValidationFailed(field, f"unknown SKU {code}")
    return sku


def _context(uow: UnitOfWork, product: Product) -> _Context:
    category = get_category(uow, product.category_id)
    return _Context(
        product,
        template_of(uow, category),
        model.PACKS[model.Pack(product.pack)],
        settings_of(uow),
        category.name,
    )


def add_sku(uow: UnitOfWork, product_id: str, cmd: SkuIn) -> Sku:
    product = get_product(uow, product_id)
    sku = _new_sku(uow, _context(uow, product), cmd, "sku", set())
    uow.session.flush()
    uow.emit("sku.created", {"id": sku.id, "code": sku.code, "product_id": product.id})
    return sku


def update_product(uow: UnitOfWork, product_id: str, patch: ProductPatch) -> Product:
    product = get_product(uow, product_id)
    changes = patch.model_dump(exclude_none=True)
    if "tags" in changes:
        changes["tags"] = sorted(set(changes["tags"]))
    for field, value in changes.items():
        setattr(product, field, value)
    if "status" in changes:
        uow.session.execute(
            update(Sku).where(Sku.product_id == product.id).values(status=product.status)
        )
    _refresh_search(uow, [product.id])
    uow.emit("product.updated", {"id": product.id, "changed": sorted(changes)})
    return product


def update_sku(uow: UnitOfWork, sku_id: str, patch: SkuPatch) -> Sku:
    sku = get_sku(uow, sku_id)
    if patch.attributes is not None:
        ctx = _context(uow, get_product(uow, sku.product_id))
        _check_attributes(ctx.template, patch.attributes, "sku", variant=True)
    for field, value in patch.model_dump(exclude_none=True).items():
        setattr(sku, field, value)
    _refresh_search(uow, [sku.product_id])
    uow.emit("sku.updated", {"id": sku.id, "status": sku.status})
    return sku


def add_barcode(uow: UnitOfWork, sku_id: str, cmd: BarcodeIn) -> SkuBarcode:
    sku = get_sku(uow, sku_id)
    factors = {u["name"]: u["factor"] for u in sku.units} | {sku.base_unit: 1, "each": 1}
    if cmd.unit not in factors:
        raise ValidationFailed("unit", f"the SKU has no unit {cmd.unit}")
    barcode = _registered(cmd.code, "code", weighed=cmd.weighed)
    if _taken_keys(uow, [barcode.key]):
        raise Conflict(f"barcode {cmd.code} is already in use", field="code")
    row = SkuBarcode(
        sku_id=sku.id,
        code=barcode.code,
        kind=barcode.kind,
        key=barcode.key,
        unit=cmd.unit,
        unit_factor=factors[cmd.unit],
    )
    uow.session.add(row)
    uow.session.flush()
    _refresh_search(uow, [sku.product_id])
    uow.emit("barcode.added", {"sku_id": sku.id, "code": barcode.code})
    return row


def _refresh_search(uow: UnitOfWork, product_ids: list[str]) -> None:
    for product in uow.session.scalars(select(Product).where(Product.id.in_(product_ids))):
        category = get_category(uow, product.category_id)
        skus = uow.session.scalars(select(Sku).where(Sku.product_id == product.id)).all()
        codes = _codes_of(uow, [s.id for s in skus])
        for sku in skus:
            sku.search_text = search_text(product, sku, codes.get(sku.id, []), category.name)


def _codes_of(uow: UnitOfWork, sku_ids: list[str]) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {}
    query = select(SkuBarcode).where(SkuBarcode.sku_id.in_(sku_ids)).order_by(SkuBarcode.id)
    for row in uow.session.scalars(query):
        out.setdefault(row.sku_id, []).append(row.code)
    return out


def describe_skus(uow: UnitOfWork, skus: list[Sku]) -> list[SkuOut]:
    ids = [s.id for s in skus]
    query = select(SkuBarcode).where(SkuBarcode.sku_id.in_(ids)).order_by(SkuBarcode.id)
    codes: dict[str, list[BarcodeOut]] = {}
    for row in uow.session.scalars(query):
        codes.setdefault(row.sku_id, []).append(BarcodeOut.model_validate(row))
    prices = pricing.base_prices(uow, ids)
    return [
        SkuOut.model_validate(s).model_copy(
            update={"barcodes": codes.get(s.id, []), "price": prices.get(s.id)}
        )
        for s in skus
    ]


def describe_product(uow: UnitOfWork, product: Product) -> ProductOut:
    skus = uow.session.scalars(
        select(Sku).where(Sku.product_id == product.id).order_by(Sku.code)
    ).all()
    out = ProductOut.model_validate(product)
    out.skus = describe_skus(uow, list(skus))
    return out


def list_products(
    uow: UnitOfWork,
    category_id: str | None,
    tag: str | None,
    status: str | None,
    after: str | None,
    limit: int,
) -> list[Product]:
    """A page of products in id order; `category_id` includes its whole subtree."""
    query = select(Product).order_by(Product.id)
    if category_id:
        category = get_category(uow, category_id)
        inside = select(Category.id).where(Category.path.startswith(category.path))
        query = query.where(Product.category_id.in_(inside))
    if status:
        query = query.where(Product.status == status)
    out: list[Product] = []
    cursor = after
    while len(out) < limit:
        # Tags are a JSON list (no portable SQL test), so filter in pages until full.
        page = query.limit(limit * 2)
        rows = list(uow.session.scalars(page.where(Product.id > cursor) if cursor else page))
        out += [p for p in rows if tag is None or tag in p.tags]
        if len(rows) < limit * 2:
            break
        cursor = rows[-1].id
    return out[:limit]


def search_skus(
    uow: UnitOfWork, q: str, status: str | None, after: str | None, limit: int
) -> list[Sku]:
    """POS lookup: an exact barcode or code first, else words in names, codes, tags."""
    text = q.strip().lower()
    query = select(Sku).order_by(Sku.id).limit(limit)
    if status:
        query = query.where(Sku.status == status)
    if after:
        query = query.where(Sku.id > after)
    exact = _exact(uow, q.strip())
    if exact:
        query = query.where(Sku.id.in_(exact))
    elif text:
        for word in text.split():
            query = query.where(Sku.search_text.contains(word, autoescape=True))
    return list(uow.session.scalars(query).all())


def _exact(uow: UnitOfWork, q: str) -> list[str]:
    try:
        key = barcodes.register(q).key if q else ""
    except barcodes.BarcodeError:
        key = q
    by_barcode = select(SkuBarcode.sku_id).where(SkuBarcode.key == key)
    by_code = select(Sku.id).where(Sku.code == q)
    return list(uow.session.scalars(by_barcode.union(by_code)).all()) if key else []


def _owner(uow: UnitOfWork, key: str) -> tuple[SkuBarcode, Sku, Product] | None:
    """The barcode row with its SKU and product, in one query."""
    query = (
        select(SkuBarcode, Sku, Product)
        .join(Sku, Sku.id == SkuBarcode.sku_id)
        .join(Product, Product.id == Sku.product_id)
        .where(SkuBarcode.key == key)
    )
    found = uow.session.execute(query).first()
    return (found[0], found[1], found[2]) if found else None


def scan(uow: UnitOfWork, text: str) -> ScanOut:
    """扫码: a scanned code resolved to its SKU and the data printed in it, in one call."""
    code = text.strip()
    # Only in-store labels (13 digits from 20 to 29) need the tenant's label format.
    label = len(code) == 13 and code[:2] in barcodes.WEIGHED_PREFIXES
    try:
        read = barcodes.scan(code, weighed_format(settings_of(uow)) if label else None)
    except barcodes.BarcodeError as exc:
        raise ValidationFailed("code", str(exc)) from exc
    found = _owner(uow, read.key)
    if found is None and read.kind == "weighed":  # a real EAN-13 that starts with 2
        plain = barcodes.scan(code)
        found = _owner(uow, plain.key)
        read = plain if found else read
    if found is None:
        raise NotFound(f"no SKU has barcode {code}")
    row, sku, product = found
    return ScanOut(
        sku=describe_skus(uow, [sku])[0],
        product_id=product.id,
        product_name=product.name,
        kind=read.kind,
        quantity=read.weight_g if read.weight_g is not None else row.unit_factor,
        batch=read.batch,
        expiry=read.expiry,
        serial=read.serial,
        weight_g=read.weight_g,
        price=read.price_minor,
    )


# --- channel listing (上下架) ------------------------------------------------------------


def set_listing(uow: UnitOfWork, sku_id: str, cmd: ListingIn) -> ListingRow:
    sku = get_sku(uow, sku_id)
    org.require_entry(uow, "channel", cmd.channel, "channel")
    if cmd.store_id:
        org.site_ids(uow, [cmd.store_id], "store_id")
    now = utcnow()
    effective = cmd.effective_at or now
    row = ListingRow(
        sku_id=sku.id,
        channel=cmd.channel,
        store_id=cmd.store_id,
        listed=cmd.listed,
        effective_at=effective,
        announced=effective <= now,
    )
    uow.session.add(row)
    uow.session.flush()
    if row.announced:
        event = "sku.listed" if cmd.listed else "sku.delisted"
    else:
        event = "sku.listing_scheduled"  # its sku.listed/delisted follows when it takes effect
    uow.emit(event, _listing_payload(row, sku.code))
    return row


def _listing_payload(row: ListingRow, sku_code: str) -> dict[str, Any]:
    return {
        "listing_id": row.id,
        "sku_id": row.sku_id,
        "sku": sku_code,
        "channel": row.channel,
        "store_id": row.store_id,
        "listed": row.listed,
        "effective_at": row.effective_at.isoformat(),
    }


def _decisions(rows: Iterable[ListingRow]) -> list[model.ListingDecision]:
    return [
        model.ListingDecision(r.id, r.channel, r.store_id, r.listed, r.effective_at) for r in rows
    ]


def listings(uow: UnitOfWork, sku_id: str) -> list[ListingRow]:
    get_sku(uow, sku_id)
    query = select(ListingRow).where(ListingRow.sku_id == sku_id).order_by(ListingRow.id)
    return list(uow.session.scalars(query).all())


def listing_states(uow: UnitOfWork, sku_id: str, at: datetime) -> list[ListingStateOut]:
    """The state on every channel (and every store with a decision of its own)."""
    rows = listings(uow, sku_id)
    channels = [e.code for e in org.list_entries(uow, "channel") if e.active]
    places = [(c, None) for c in channels] + sorted(
        {(r.channel, r.store_id) for r in rows if r.store_id}
    )
    by_id = {r.id: r for r in rows}
    out = []
    for channel, store in places:
        state = model.listing_state(_decisions(rows), channel, store, at)
        nxt = by_id.get(state.next_change.id) if state.next_change else None
        out.append(
            ListingStateOut(
                channel=channel,
                store_id=store,
                listed=state.listed,
                decided_by=state.decided_by,
                next_change=ListingOut.model_validate(nxt) if nxt else None,
            )
        )
    return out


def sellable_ids(
    uow: UnitOfWork, skus: Iterable[Sku], channel: str, store_id: str | None, at: datetime
) -> set[str]:
    """For orders and carts: of these SKUs, the ids of those active and listed on that
    channel (and store) at that moment; one query for all of them."""
    active = [s.id for s in skus if s.status == model.Status.active]
    rows: dict[str, list[ListingRow]] = {sku_id: [] for sku_id in active}
    query = select(ListingRow).where(ListingRow.sku_id.in_(active), ListingRow.channel == channel)
    for row in uow.session.scalars(query):
        rows[row.sku_id].append(row)
    return {
        sku_id
        for sku_id, found in rows.items()
        if model.listing_state(_decisions(found), channel, store_id, at).listed
    }


def skus_by_code(uow: UnitOfWork, codes: Iterable[str]) -> dict[str, Sku]:
    """The SKUs of these codes that exist, by code; one query."""
    query = select(Sku).where(Sku.code.in_(set(codes)))
    return {sku.code: sku for sku in uow.session.scalars(query)}


def announce_due_listings(db: Database, limit: int = 500) -> int:
    """Emit the event of each scheduled decision once its moment has come (relay job)."""
    now = utcnow()
    with db.session(write=True) as session:
        scope_session(session, None)
        rows = session.scalars(
            select(ListingRow)
            .where(ListingRow.announced.is_(False), ListingRow.effective_at <= now)
            .limit(limit)
        ).all()
        by_tenant: dict[str, list[ListingRow]] = {}
        for row in rows:
            by_tenant.setdefault(row.tenant_id, []).append(row)
        session.commit()
    for tenant_id, due in by_tenant.items():
        with UnitOfWork(db, tenant_id) as uow:
            query = select(Sku.id, Sku.code).where(Sku.id.in_([r.sku_id for r in due]))
            codes = {sku_id: code for sku_id, code in uow.session.execute(query)}
            ids = [r.id for r in due]
            claimed = uow.session.execute(
                update(ListingRow)
                .where(ListingRow.id.in_(ids), ListingRow.announced.is_(False))
                .values(announced=True)
            )
            if claimed.rowcount == len(ids):  # type: ignore[attr-defined]
                for row in due:
                    uow.emit(
                        "sku.listed" if row.listed else "sku.delisted",
                        _listing_payload(row, codes.get(row.sku_id, "")),
                    )
                uow.commit()
    return len(rows)
