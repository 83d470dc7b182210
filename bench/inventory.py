"""Inventory benchmark: flash sale, sell-out and mixed demand on the reservation path.

Run against embedded SQLite and the PostgreSQL server (ZT_BENCH_POSTGRES_URL, default
the local one; a schema of its own, dropped after). Both arms of the flash sale run the
same statements (`inventory.hotpath._apply_batch`): the baseline applies one request per
transaction (SELECT ... FOR UPDATE, check, UPDATE, INSERT, COMMIT: what Saleor does), the
platform hands requests to the group-commit batcher. Callers are 64 threads of this
process for one-transaction-per-request (a sync worker pool), 64 coroutines for the
batcher (how the async HTTP route `POST /v1/stock/holds` calls it), and, for comparison,
64 threads through the batcher too.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import statistics
import threading
import time
import uuid
from collections.abc import Awaitable, Callable

import sqlalchemy as sa

from zhongtai.benchrun import fresh_database
from zhongtai.catalog.store import Category, Product, Sku
from zhongtai.inventory import hotpath, model, service
from zhongtai.inventory.model import LocationType
from zhongtai.inventory.schemas import LocationIn
from zhongtai.inventory.store import ReservationLine, StockLevel
from zhongtai.org.service import create_tenant
from zhongtai.platform.db import Database
from zhongtai.platform.ids import new_id
from zhongtai.platform.uow import UnitOfWork

CALLERS = 64


def _setup(
    db: Database, skus: int, locations: int, on_hand: int
) -> tuple[str, list[str], list[str]]:
    """A tenant with `skus` SKUs stocked with `on_hand` units at each of `locations`."""
    tenant = create_tenant(db, f"inv{uuid.uuid4().hex[:8]}", "admin", "bench-pass-2026")
    with UnitOfWork(db, tenant) as uow:
        loc_ids = [
            service.create_location(
                uow, LocationIn(code=f"L{i:03d}", name=f"Store {i}", type=LocationType.store)
            ).id
            for i in range(locations)
        ]
        category = Category(id=new_id(), code="bench", name="bench", path="")
        category.path = f"{category.id}/"
        product = Product(id=new_id(), code="BENCH", name="bench", category_id=category.id)
        uow.session.add_all([category, product])
        uow.session.flush()
        sku_rows = [
            {
                "id": new_id(),
                "tenant_id": tenant,
                "product_id": product.id,
                "code": f"B{i:06d}",
                "name": f"bench {i}",
                "status": "active",
                "attributes": {},
                "units": [],
                "search_text": "",
            }
            for i in range(skus)
        ]
        uow.session.execute(sa.insert(Sku), sku_rows)
        levels = [
            {
                "tenant_id": tenant,
                "sku_id": s["id"],
                "location_id": loc,
                "on_hand": on_hand,
                "reserved": 0,
                "in_transit": 0,
                "safety_stock": 0,
            }
            for s in sku_rows
            for loc in loc_ids
        ]
        for start in range(0, len(levels), 5000):
            uow.session.execute(sa.insert(StockLevel), levels[start : start + 5000])
        uow.commit()
    return tenant, [str(s["id"]) for s in sku_rows], loc_ids


def _one_per_transaction(db: Database) -> Callable[[hotpath.HoldRequest], str]:
    engine = db.engine.execution_options(zt_write=True)

    def reserve(request: hotpath.HoldRequest) -> str:
        with engine.begin() as conn:
            outcome = hotpath._apply_batch(conn, db.dialect, [request])[0]
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    return reserve


def _race(
    reserve: Callable[[hotpath.HoldRequest], str],
    make: Callable[[random.Random], hotpath.HoldRequest],
    *,
    seconds: float | None = None,
    total: int | None = None,
    callers: int = CALLERS,
) -> tuple[int, float, list[float]]:
    """`callers` threads calling `reserve` until time or requests run out:
    (successes, elapsed seconds, latencies of every call)."""
    won = [0] * callers
    latencies: list[list[float]] = [[] for _ in range(callers)]
    budget = iter(range(total)) if total else None
    lock = threading.Lock()
    barrier = threading.Barrier(callers + 1)

    def caller(n: int) -> None:
        rng = random.Random(n)
        barrier.wait()
        deadline = time.perf_counter() + (seconds or 3600)
        while time.perf_counter() < deadline:
            if budget is not None:
                with lock:
                    if next(budget, None) is None:
                        return
            t0 = time.perf_counter()
            try:
                reserve(make(rng))
                won[n] += 1
            except model.StockRuleError:
                pass
            latencies[n].append(time.perf_counter() - t0)

    threads = [threading.Thread(target=caller, args=(n,)) for n in range(callers)]
    for t in threads:
        t.start()
    barrier.wait()
    start = time.perf_counter()
    for t in threads:
        t.join()
    return sum(won), time.perf_counter() - start, [x for lat in latencies for x in lat]


def _oversold(db: Database, tenant: str) -> int:
    """Units reserved beyond stock, or reservation lines that disagree with the levels."""
    with db.engine.connect() as conn:
        levels = conn.execute(
            sa.select(
                StockLevel.sku_id, StockLevel.location_id, StockLevel.on_hand, StockLevel.reserved
            ).where(StockLevel.tenant_id == tenant)
        ).all()
        lines = dict(
            ((s, loc), int(q))
            for s, loc, q in conn.execute(
                sa.select(
                    ReservationLine.sku_id,
                    ReservationLine.location_id,
                    sa.func.sum(ReservationLine.qty),
                )
                .where(ReservationLine.tenant_id == tenant)
                .group_by(ReservationLine.sku_id, ReservationLine.location_id)
            ).all()
        )
    bad = 0
    for sku, loc, on_hand, reserved in levels:
        bad += max(0, reserved - on_hand) + abs(lines.get((sku, loc), 0) - reserved)
    return bad


async def _race_async(
    reserve: Callable[[hotpath.HoldRequest], Awaitable[str]],
    make: Callable[[random.Random], hotpath.HoldRequest],
    seconds: float,
    callers: int = CALLERS,
) -> tuple[int, float, list[float]]:
    """`callers` coroutines awaiting `reserve` until time runs out, as the HTTP server's
    event loop does: (successes, elapsed seconds, latencies of every call)."""
    won, latencies = 0, []

    async def caller(n: int, deadline: float) -> None:
        nonlocal won
        rng = random.Random(n)
        while time.perf_counter() < deadline:
            t0 = time.perf_counter()
            try:
                await reserve(make(rng))
                won += 1
            except model.StockRuleError:
                pass
            latencies.append(time.perf_counter() - t0)

    start = time.perf_counter()
    await asyncio.gather(*(caller(n, start + seconds) for n in range(callers)))
    return won, time.perf_counter() - start, latencies


def _flash_arm(kind: str, arm: str, seconds: float) -> tuple[int, float, list[float], int]:
    """One arm on a fresh database: (successes, seconds, latencies, oversold units)."""
    with fresh_database(kind) as db:
        tenant, skus, locs = _setup(db, 1, 1, 1_000_000)
        hold = hotpath.HoldRequest(tenant, "bench", skus[0], locs[0], 1, "live", "flash")
        if arm in ("baseline", "loop"):
            single = _one_per_transaction(db)
            callers = 1 if arm == "loop" else CALLERS
            won, elapsed, lat = _race(single, lambda _r: hold, seconds=seconds, callers=callers)
        else:
            batcher = hotpath.ReservationBatcher(db)
            if arm == "threads":
                won, elapsed, lat = _race(batcher.reserve, lambda _r: hold, seconds=seconds)
            else:
                callers = 256 if arm == "batched_256" else CALLERS
                won, elapsed, lat = asyncio.run(
                    _race_async(batcher.reserve_async, lambda _r: hold, seconds, callers)
                )
            batcher.close()
        return won, elapsed, lat, _oversold(db, tenant)


def _flash(kind: str, seconds: float, say: Callable[[str], None]) -> dict[str, float]:
    """Arms: `baseline` (64 threads, one transaction each), `loop` (one caller, one
    transaction each: the best case of that design), `batched` (64 coroutines through
    the batcher, as the HTTP route calls it), `threads` (64 threads through it),
    `batched_256` (256 coroutines through it: a flash sale has thousands of callers)."""
    out: dict[str, float] = {"oversold": 0}
    for arm in ("baseline", "loop", "batched", "threads", "batched_256"):
        say(f"{kind} flash sale, {arm}")
        won, elapsed, lat, oversold = _flash_arm(kind, arm, seconds)
        out[f"{arm}_per_s"] = won / elapsed
        out[f"{arm}_median_ms"] = statistics.median(lat) * 1000
        out[f"{arm}_p99_ms"] = statistics.quantiles(lat, n=100)[98] * 1000
        out["oversold"] += oversold
    return out


def _sellout(kind: str, requests: int, units: int) -> tuple[int, int]:
    with fresh_database(kind) as db:
        tenant, skus, locs = _setup(db, 1, 1, units)
        hold = hotpath.HoldRequest(tenant, "bench", skus[0], locs[0], 1, "live", "sellout")
        batcher = hotpath.ReservationBatcher(db)
        won, _elapsed, _lat = _race(batcher.reserve, lambda _r: hold, total=requests)
        batcher.close()
        return won, _oversold(db, tenant)


def _zipf(n: int, s: float = 1.1) -> list[float]:
    """Cumulative Zipf weights of ranks 1..n: a draw is then a bisection, not a pass over
    all n weights (which cost the callers more than a reservation at 10,000 SKUs)."""
    return list(itertools.accumulate(1 / (k**s) for k in range(1, n + 1)))


def _mixed(kind: str, skus: int, locations: int, seconds: float) -> tuple[float, float, int]:
    with fresh_database(kind) as db:
        tenant, sku_ids, loc_ids = _setup(db, skus, locations, 1_000)
        weights = _zipf(skus)
        batcher = hotpath.ReservationBatcher(db)

        def make(rng: random.Random) -> hotpath.HoldRequest:
            sku = rng.choices(sku_ids, cum_weights=weights)[0]
            return hotpath.HoldRequest(tenant, "bench", sku, rng.choice(loc_ids), 1, "mall", "mix")

        won, elapsed, _lat = asyncio.run(_race_async(batcher.reserve_async, make, seconds))
        batcher.close()
        rng = random.Random(9)
        codes = [f"B{rng.choices(range(skus), cum_weights=weights)[0]:06d}" for _ in range(2000)]
        with UnitOfWork(db, tenant, write=False) as uow:
            start, done = time.perf_counter(), 0
            while time.perf_counter() - start < seconds and done < len(codes):
                service.availability(uow, codes[done])
                done += 1
            queries = done / (time.perf_counter() - start)
        return won / elapsed, queries, _oversold(db, tenant)


def run(quick: bool, say: Callable[[str], None]) -> dict[str, float]:
    seconds = 1.5 if quick else 6.0
    m: dict[str, float] = {}
    oversold = 0
    for kind, key in (("postgresql", "pg"), ("sqlite", "sqlite")):
        f = _flash(kind, seconds, say)
        m[f"flash_sale_{key}_per_s"] = round(f["batched_per_s"], 1)
        m[f"flash_sale_{key}_baseline_per_s"] = round(f["baseline_per_s"], 1)
        m[f"flash_sale_{key}_ratio"] = round(f["batched_per_s"] / f["baseline_per_s"], 2)
        m[f"flash_sale_{key}_median_ms"] = round(f["batched_median_ms"], 2)
        m[f"flash_sale_{key}_p99_ms"] = round(f["batched_p99_ms"], 2)
        m[f"flash_sale_{key}_baseline_p99_ms"] = round(f["baseline_p99_ms"], 2)
        m[f"flash_sale_{key}_loop_per_s"] = round(f["loop_per_s"], 1)
        m[f"flash_sale_{key}_ratio_vs_loop"] = round(f["batched_per_s"] / f["loop_per_s"], 2)
        m[f"flash_sale_{key}_threads_per_s"] = round(f["threads_per_s"], 1)
        m[f"flash_sale_{key}_256_callers_per_s"] = round(f["batched_256_per_s"], 1)
        oversold += int(f["oversold"])
    say("sell-out: 10,000 units, 50,000 requests")
    requests, units = (5_000, 1_000) if quick else (50_000, 10_000)
    won, bad = _sellout("postgresql", requests, units)
    m["sellout_successes"] = won
    oversold += bad
    say("mixed demand")
    skus, locations = (500, 10) if quick else (10_000, 50)
    rate, queries, bad = _mixed("postgresql", skus, locations, seconds)
    m["mixed_reservations_per_s"] = round(rate, 1)
    m["availability_queries_per_s"] = round(queries, 1)
    m["oversold_units"] = oversold + bad
    return m


def summary(m: dict[str, float]) -> str:
    return (
        f"flash sale PG {m['flash_sale_pg_per_s']}/s vs {m['flash_sale_pg_baseline_per_s']}/s "
        f"one-transaction-per-request ({m['flash_sale_pg_ratio']}x, p99 "
        f"{m['flash_sale_pg_p99_ms']} ms; one-caller loop {m['flash_sale_pg_loop_per_s']}/s, "
        f"64 threads via the batcher {m['flash_sale_pg_threads_per_s']}/s, 256 callers "
        f"{m['flash_sale_pg_256_callers_per_s']}/s); "
        f"SQLite {m['flash_sale_sqlite_per_s']}/s vs "
        f"{m['flash_sale_sqlite_baseline_per_s']}/s ({m['flash_sale_sqlite_ratio']}x); "
        f"sell-out {int(m['sellout_successes'])} won; mixed {m['mixed_reservations_per_s']} "
        f"reservations/s, {m['availability_queries_per_s']} availability queries/s; "
        f"oversold {int(m['oversold_units'])}"
    )
