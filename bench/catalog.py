"""Catalog benchmark: bulk import, price resolution and barcode lookups.

Against the configured database (a fresh embedded SQLite file by default, PostgreSQL with
ZT_DATABASE_URL), in one run:
- import N SKUs (100,000; 5,000 with --quick) from a CSV file through the importer, the
  same code path as `zhongtai catalog import` and POST /v1/catalog/imports;
- resolve prices for M random (SKU, store, channel, member tier) queries (10,000; 1,000)
  with the price service, and as the baseline the same queries answered by one plain SQL
  lookup each (WHERE dimensions match, ORDER BY specificity, LIMIT 1);
- scan random barcodes of the imported SKUs through the scan service.
"""

from __future__ import annotations

import os
import random
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlalchemy import insert, select, text

from zhongtai.benchrun import median_ms
from zhongtai.catalog import importer
from zhongtai.catalog import service as catalog
from zhongtai.catalog.model import Pack
from zhongtai.catalog.schemas import SettingsIn
from zhongtai.catalog.store import Sku, SkuBarcode
from zhongtai.demo_catalog import catalog_rows
from zhongtai.org.service import create_tenant
from zhongtai.platform.config import load_settings
from zhongtai.platform.db import Database
from zhongtai.platform.ids import new_id
from zhongtai.platform.migrate import upgrade
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import model as price_model
from zhongtai.pricing import service as pricing
from zhongtai.pricing.store import PriceRow

CHANNELS = [None, "pos", "mall", "o2o"]
TIERS = [None, "silver", "gold"]


def _import(db: Database, tenant_id: str, n: int, say: Callable[[str], None]) -> float:
    table = importer.read_table(importer.write_table(catalog_rows(n), "csv"), "bench.csv")
    say(f"importing {len(table)} SKUs")
    start = time.perf_counter()
    with UnitOfWork(db, tenant_id) as uow:
        importer.run(uow, table)
        uow.commit()
    return len(table) / (time.perf_counter() - start)


def _extra_rules(db: Database, tenant_id: str, sku_ids: list[str], stores: list[str]) -> None:
    """One store, channel, tier or time-bound price for every fifth SKU."""
    rng = random.Random(11)
    now = datetime.now(UTC)
    rows = []
    for sku_id in sku_ids[::5]:
        kind = rng.randrange(4)
        rows.append(
            {
                "id": new_id(),
                "tenant_id": tenant_id,
                "sku_id": sku_id,
                "currency": "CNY",
                "amount": rng.randrange(100, 10_000),
                "set_by": "bench",
                "created_at": now,
                "store_id": rng.choice(stores) if kind == 0 else None,
                "channel": rng.choice(CHANNELS[1:]) if kind == 1 else None,
                "member_tier": rng.choice(TIERS[1:]) if kind == 2 else None,
                "valid_from": now - timedelta(days=1) if kind == 3 else None,
                "valid_to": now + timedelta(days=1) if kind == 3 else None,
            }
        )
    with UnitOfWork(db, tenant_id) as uow:
        for i in range(0, len(rows), 2000):
            uow.session.execute(insert(PriceRow), rows[i : i + 2000])
        uow.commit()


BASELINE_SQL = text("""
    SELECT amount FROM price
    WHERE tenant_id = :tenant AND sku_id = :sku AND superseded_by IS NULL
      AND (channel IS NULL OR channel = :channel)
      AND (store_id IS NULL OR store_id = :store)
      AND (member_tier IS NULL OR member_tier = :tier)
      AND (valid_from IS NULL OR valid_from <= :at)
      AND (valid_to IS NULL OR valid_to > :at)
    ORDER BY member_tier IS NOT NULL DESC, store_id IS NOT NULL DESC,
             channel IS NOT NULL DESC,
             (valid_from IS NOT NULL OR valid_to IS NOT NULL) DESC, id DESC
    LIMIT 1
""")


def _baseline(uow: UnitOfWork, sku_id: str, q: price_model.PriceQuery) -> int | None:
    """One plain SQL statement per query: matching rules, most specific first."""
    at = q.at if uow.db.dialect == "postgresql" else q.at.replace(tzinfo=None)
    params = {
        "tenant": uow.tenant_id,
        "sku": sku_id,
        "channel": q.channel,
        "store": q.store_id,
        "tier": q.member_tier,
        "at": at,
    }
    value = uow.session.execute(BASELINE_SQL, params).scalar()
    return None if value is None else int(value)


def _resolutions(
    db: Database, tenant_id: str, sku_ids: list[str], stores: list[str], m: int
) -> tuple[float, float, int]:
    rng = random.Random(5)
    now = datetime.now(UTC)
    queries = [
        (
            rng.choice(sku_ids),
            price_model.PriceQuery(
                now, rng.choice(CHANNELS), rng.choice([None, *stores]), rng.choice(TIERS)
            ),
        )
        for _ in range(m)
    ]
    ours: list[float] = []
    base: list[float] = []
    disagreements = 0
    with UnitOfWork(db, tenant_id, write=False) as uow:
        for sku_id, q in queries:
            t0 = time.perf_counter()
            row = pricing.resolve(uow, sku_id, q)
            t1 = time.perf_counter()
            amount = _baseline(uow, sku_id, q)
            t2 = time.perf_counter()
            ours.append(t1 - t0)
            base.append(t2 - t1)
            disagreements += (row.amount if row else None) != amount
    return median_ms(ours) * 1000, median_ms(base) * 1000, disagreements


def _scans(db: Database, tenant_id: str, codes: list[str], m: int) -> float:
    rng = random.Random(3)
    picks = [rng.choice(codes) for _ in range(m)]
    with UnitOfWork(db, tenant_id, write=False) as uow:
        start = time.perf_counter()
        for code in picks:
            catalog.scan(uow, code)
        return m / (time.perf_counter() - start)


def run(quick: bool, say: Callable[[str], None]) -> dict[str, float]:
    n, m = (5_000, 1_000) if quick else (100_000, 10_000)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"ZT_DATA_DIR": tmp, "ZT_RUN_RELAY": "0"})
        db = Database(load_settings())
        upgrade(db.engine)
        tenant_id = create_tenant(db, f"catbench{int(time.time())}", "admin", "bench-pass-2026")
        with UnitOfWork(db, tenant_id) as uow:
            catalog.set_settings(uow, SettingsIn(packs=list(Pack)))
            uow.commit()
        rate = _import(db, tenant_id, n, say)
        stores = [new_id() for _ in range(8)]
        with UnitOfWork(db, tenant_id, write=False) as uow:
            sku_ids = list(uow.session.scalars(select(Sku.id)).all())
            codes = list(
                uow.session.scalars(select(SkuBarcode.code).where(SkuBarcode.kind == "ean13")).all()
            )
        say("adding store, channel, tier and time-bound prices")
        _extra_rules(db, tenant_id, sku_ids, stores)
        say(f"resolving {m} prices")
        ours, base, disagreements = _resolutions(db, tenant_id, sku_ids, stores, m)
        say(f"scanning {m} barcodes")
        scans = _scans(db, tenant_id, codes, m)
        db.dispose()
    return {
        "skus_imported": float(len(sku_ids)),
        "import_rows_per_s": round(rate, 1),
        "price_resolution_median_us": round(ours, 1),
        "price_resolution_baseline_median_us": round(base, 1),
        "price_resolution_vs_baseline_ratio": round(ours / base, 2),
        "price_disagreements_with_baseline": float(disagreements),
        "barcode_lookups_per_s": round(scans, 1),
    }


def summary(m: dict[str, float]) -> str:
    return (
        f"import {m['import_rows_per_s']} rows/s ({int(m['skus_imported'])} SKUs), "
        f"price resolution {m['price_resolution_median_us']} µs median vs "
        f"{m['price_resolution_baseline_median_us']} µs plain SQL "
        f"({m['price_resolution_vs_baseline_ratio']}x, "
        f"{int(m['price_disagreements_with_baseline'])} disagreements), "
        f"{m['barcode_lookups_per_s']} barcode scans/s"
    )
