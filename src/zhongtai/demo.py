"""Demo data: a small retail chain to click through after `make demo`."""

from __future__ import annotations

from sqlalchemy import select

from zhongtai.catalog import importer
from zhongtai.catalog import service as catalog
from zhongtai.catalog.model import Pack
from zhongtai.catalog.schemas import CategoryIn, ListingIn, ProductIn, SettingsIn, SkuIn
from zhongtai.demo_catalog import FAMILIES, catalog_rows
from zhongtai.org import service as org
from zhongtai.org.model import UnitKind
from zhongtai.org.schemas import DictionaryEntryIn, OrgUnitIn, StaffIn
from zhongtai.org.store import OrgUnit, Role
from zhongtai.platform.db import Database
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import service as pricing

DEMO_TENANT = "demo"
DEMO_ADMIN = ("admin", "demo-pass-2026")
DEMO_MANAGER = ("manager.sh01", "demo-pass-2026")

# (code, name, kind, parent code)
UNITS = [
    ("EAST", "华东大区 East region", UnitKind.region, "HQ"),
    ("SOUTH", "华南大区 South region", UnitKind.region, "HQ"),
    ("SH01", "上海徐汇店 Shanghai Xuhui", UnitKind.store, "EAST"),
    ("SH02", "上海浦东店 Shanghai Pudong", UnitKind.store, "EAST"),
    ("HZ01", "杭州西湖店 Hangzhou Xihu", UnitKind.store, "EAST"),
    ("GZ01", "广州天河店 Guangzhou Tianhe", UnitKind.store, "SOUTH"),
    ("DC-EAST", "华东配送中心 East DC", UnitKind.warehouse, "EAST"),
    ("FW-SH01", "上海前置仓 Shanghai front warehouse", UnitKind.front_warehouse, "EAST"),
]


def load(db: Database, tenant: str = DEMO_TENANT, catalog_size: int = 5000) -> str:
    """Create the demo tenant, its chain and its catalogue; returns the tenant id."""
    tenant_id = org.create_tenant(db, tenant, DEMO_ADMIN[0], DEMO_ADMIN[1], "示范零售 Demo Retail")
    with UnitOfWork(db, tenant_id) as uow:
        ids = {u.code: u.id for u in uow.session.scalars(select(OrgUnit)).all()}
        for code, name, kind, parent in UNITS:
            unit = org.create_unit(
                uow, OrgUnitIn(code=code, name=name, kind=kind, parent_id=ids[parent])
            )
            ids[code] = unit.id
        manager_role = uow.session.scalar(select(Role.id).where(Role.name == "store_manager"))
        org.create_staff(
            uow,
            StaffIn(
                username=DEMO_MANAGER[0],
                display_name="张店长 Store manager Zhang",
                password=DEMO_MANAGER[1],
                org_unit_id=ids["SH01"],
                role_ids=[manager_role or ""],
            ),
        )
        org.add_entry(
            uow, "return_reason", DictionaryEntryIn(code="size", label="尺码不合适 Wrong size")
        )
        uow.commit()
    with UnitOfWork(db, tenant_id) as uow:
        _catalog(uow, ids, catalog_size)
        uow.commit()
    return tenant_id


def _catalog(uow: UnitOfWork, units: dict[str, str], size: int) -> None:
    """Every industry pack on, the demo catalogue imported, and a few real-life touches:
    a store's own price, prescription drugs off the online channels, installation service."""
    catalog.set_settings(uow, SettingsIn(packs=list(Pack)))
    for code, name, *_rest in FAMILIES:
        catalog.create_category(uow, CategoryIn(code=code, name=name))
    rows = catalog_rows(size)
    importer.run(uow, rows)
    first = {r["category"]: r["sku_code"] for r in reversed(rows)}
    snack = catalog.sku_by_code(uow, first["snacks"])
    pricing.set_price(uow, pricing.PriceChange(snack.id, 590, "CNY", store_id=units["SH01"]))
    for row in rows:
        if row["prescription_only"]:
            rx = catalog.sku_by_code(uow, row["sku_code"])
            for channel in ("mall", "live"):
                catalog.set_listing(uow, rx.id, ListingIn(channel=channel, listed=False))
    catalog.create_product(
        uow,
        ProductIn(
            code="SVC-INSTALL",
            name="上门安装 Home installation",
            category="services",
            skus=[SkuIn(code="SVC-INSTALL-DESK", price=9900, service_for=first["furniture"])],
        ),
    )
