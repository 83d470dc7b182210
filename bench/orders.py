"""Orders benchmark: order creation through the HTTP API, and smart sourcing.

HTTP: a real server (uvicorn, one worker, `zhongtai serve`) on loopback, on a fresh
SQLite file and on a schema of its own on the PostgreSQL server; the demo chain with a
million units of each stocked SKU at the DC, the front warehouse and a store; 64
concurrent clients each placing 3-line home-delivery orders (price, sourcing, hold,
number, audit, idempotency record, outbox event in one transaction) for 30 s (3 s with
`--quick`). Every 201 counts; latency of every call. Before it, one client alone for a
third of that time: an order's latency without a queue (with 64 closed-loop clients the
median is 64 / throughput by Little's law). After it, the baseline in the same server:
64 clients on `GET /v1/me` (token check and caller load, the platform's floor).

Sourcing: a 20-line order over 200 candidate locations with random distance, queue and
stock: the plan's solve time (median of repeats) and its parcels, against the greedy
nearest-first plan's time and parcels in the same run.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx

from zhongtai import demo
from zhongtai.benchrun import fresh_database, served
from zhongtai.inventory import service as inventory
from zhongtai.inventory.schemas import ReceiptIn, ReceiptLine
from zhongtai.orders import sourcing
from zhongtai.platform.db import Database
from zhongtai.platform.uow import UnitOfWork

CLIENTS = 64
XUHUI = {"lat": 31.1890, "lng": 121.4370}


def _stocked(db: Database) -> tuple[str, list[str]]:
    """The demo tenant with a million units of each stocked SKU at three locations."""
    name = f"ordbench{random.randrange(10**9)}"
    tenant = demo.load(db, name, catalog_size=300)
    rows = demo.catalog_rows(300)[::10]
    codes = [r["sku_code"] for r in rows if r["pack"] not in ("electronics", "pharmacy")]
    with UnitOfWork(db, tenant) as uow:
        for location in ("DC-EAST", "FW-SH01", "SH01"):
            lines = [ReceiptLine(sku=c, qty=1_000_000, batch="BENCH") for c in codes]
            inventory.receive(uow, ReceiptIn(location=location, lines=lines))
        uow.commit()
    return name, codes


Call = Callable[[httpx.AsyncClient, random.Random, int], Awaitable[httpx.Response]]


async def _place(
    c: httpx.AsyncClient, rng: random.Random, n: int, codes: list[str]
) -> httpx.Response:
    body: dict[str, Any] = {
        "channel": "mall",
        "member": f"1380000{n:04d}",
        "lines": [{"sku": s, "qty": 1} for s in rng.sample(codes, 3)],
        "fulfilment": {"type": "delivery", **XUHUI},
    }
    return await c.post("/v1/orders", json=body)


async def _me(c: httpx.AsyncClient, _rng: random.Random, _n: int) -> httpx.Response:
    return await c.get("/v1/me")


async def _clients(
    base: str, token: str, call: Call, clients: int, seconds: float
) -> tuple[float, list[float], int]:
    """`clients` closed-loop clients repeating `call` for `seconds`: (successes per
    second, every call's latency, failures)."""
    headers = {"Authorization": f"Bearer {token}"}
    won, failed, latencies = 0, 0, []

    async def client(n: int, deadline: float) -> None:
        nonlocal won, failed
        rng = random.Random(n)
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=60) as c:
            while time.perf_counter() < deadline:
                t0 = time.perf_counter()
                resp = await call(c, rng, n)
                latencies.append(time.perf_counter() - t0)
                if resp.is_success:
                    won += 1
                else:
                    failed += 1

    start = time.perf_counter()
    await asyncio.gather(*(client(n, start + seconds) for n in range(clients)))
    return won / (time.perf_counter() - start), latencies, failed


def _http(kind: str, seconds: float, say: Callable[[str], None]) -> dict[str, float]:
    with fresh_database(kind) as db, tempfile.TemporaryDirectory() as tmp:
        say(f"{kind}: demo tenant and stock")
        name, codes = _stocked(db)
        with served(db, tmp, (name, *demo.DEMO_ADMIN)) as (base, token):

            async def place(c: httpx.AsyncClient, rng: random.Random, n: int) -> httpx.Response:
                return await _place(c, rng, n, codes)

            say(f"{kind}: one client placing orders (no queue)")
            _rate, alone, failed = asyncio.run(_clients(base, token, place, 1, seconds / 3))
            say(f"{kind}: {CLIENTS} clients placing orders")
            rate, lat, failed_many = asyncio.run(_clients(base, token, place, CLIENTS, seconds))
            say(f"{kind}: baseline, {CLIENTS} clients reading GET /v1/me")
            ceiling, _lat, _failed = asyncio.run(_clients(base, token, _me, CLIENTS, seconds / 3))
    if failed or failed_many:
        raise RuntimeError(f"{failed + failed_many} orders failed on {kind}")
    return {
        "per_s": round(rate, 1),
        "p50_ms": round(statistics.median(lat) * 1000, 2),
        "p99_ms": round(statistics.quantiles(lat, n=100)[98] * 1000, 2),
        "one_client_p50_ms": round(statistics.median(alone) * 1000, 2),
        "baseline_per_s": round(ceiling, 1),
        "vs_baseline_ratio": round(rate / ceiling, 3),
    }


def _sourcing(repeats: int) -> tuple[float, float, int, int]:
    """(median solve ms, median greedy ms, parcels of the solver's plan and of the greedy
    plan)."""
    rng = random.Random(7)
    skus = [f"S{i:02d}" for i in range(20)]
    candidates = [
        sourcing.Candidate(
            location_id=f"L{i:03d}",
            code=f"L{i:03d}",
            distance_m=rng.uniform(500, 60_000),
            stock={s: rng.choice([0, 0, 0, 1, 2, 5, 20]) for s in skus},
            queued=rng.randrange(30),
        )
        for i in range(200)
    ]
    lines = {s: rng.randint(1, 3) for s in skus}
    times, greedy_times, plan, greedy = [], [], None, None
    for _ in range(repeats):
        t0 = time.perf_counter()
        plan = sourcing.source(lines, candidates, time_limit_s=5.0)
        times.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        greedy = sourcing.greedy(lines, candidates, sourcing.Costs())
        greedy_times.append(time.perf_counter() - t0)
    assert plan is not None and greedy is not None and plan.method == "optimal"
    return (
        round(statistics.median(times) * 1000, 1),
        round(statistics.median(greedy_times) * 1000, 2),
        plan.parcels,
        greedy.parcels,
    )


def run(quick: bool, say: Callable[[str], None]) -> dict[str, float]:
    seconds = 3.0 if quick else 30.0
    m: dict[str, float] = {}
    for kind, key in (("sqlite", "sqlite"), ("postgresql", "pg")):
        r = _http(kind, seconds, say)
        m[f"http_orders_per_s_{key}"] = r["per_s"]
        m[f"http_orders_p50_ms_{key}"] = r["p50_ms"]
        m[f"http_orders_p99_ms_{key}"] = r["p99_ms"]
        m[f"http_orders_one_client_p50_ms_{key}"] = r["one_client_p50_ms"]
        m[f"http_baseline_per_s_{key}"] = r["baseline_per_s"]
        m[f"http_orders_vs_baseline_ratio_{key}"] = r["vs_baseline_ratio"]
    say("sourcing: 20 lines over 200 locations")
    solve_ms, greedy_ms, parcels, greedy_parcels = _sourcing(3 if quick else 15)
    m["sourcing_median_ms"] = solve_ms
    m["sourcing_greedy_median_ms"] = greedy_ms
    m["sourcing_parcels"] = parcels
    m["sourcing_parcels_greedy"] = greedy_parcels
    return m


def summary(m: dict[str, float]) -> str:
    def arm(name: str, key: str) -> str:
        return (
            f"{name} {m[f'http_orders_per_s_{key}']}/s (p50 {m[f'http_orders_p50_ms_{key}']} ms, "
            f"p99 {m[f'http_orders_p99_ms_{key}']} ms; one client alone p50 "
            f"{m[f'http_orders_one_client_p50_ms_{key}']} ms; "
            f"{m[f'http_orders_vs_baseline_ratio_{key}']}x the GET /v1/me rate)"
        )

    return (
        f"HTTP orders: {arm('SQLite', 'sqlite')}, {arm('PostgreSQL', 'pg')}; sourcing 20 "
        f"lines x 200 locations in {m['sourcing_median_ms']} ms (greedy "
        f"{m['sourcing_greedy_median_ms']} ms): {int(m['sourcing_parcels'])} parcels vs "
        f"{int(m['sourcing_parcels_greedy'])} greedy"
    )
