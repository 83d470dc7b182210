"""Foundation benchmark: what the platform's own machinery costs per request.

Runs a real server (uvicorn, one worker) on 127.0.0.1 against the configured database
(embedded SQLite by default, PostgreSQL with ZT_DATABASE_URL) and measures, in one run:
- the baseline: GET /healthz (no auth, no database);
- an authenticated read: GET /v1/me (token check + principal load);
- a mutating POST with Idempotency-Key (work + audit + outbox + idempotency record);
- coding-rule numbers taken by concurrent clients, checked for gaps and duplicates;
- the relay: outbox events delivered to an idempotent in-process consumer.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx

from zhongtai.benchrun import median_ms, server, timed
from zhongtai.org.service import create_tenant
from zhongtai.platform.config import load_settings
from zhongtai.platform.db import Database
from zhongtai.platform.migrate import upgrade
from zhongtai.platform.outbox import Event, consume_once, subscribe
from zhongtai.platform.relay import Relay
from zhongtai.platform.uow import UnitOfWork

PASSWORD = "bench-pass-2026"


def _relay_rate(db: Database, tenant_id: str, events: int) -> tuple[float, float]:
    """(events inserted per second, events relayed per second)."""
    seen: set[str] = set()

    @subscribe("bench.tick", "bench-counter")
    def _count(database: Database, event: Event) -> None:
        consume_once(database, "bench-counter", event, lambda _s: seen.add(event.id))

    start = time.perf_counter()
    for start_at in range(0, events, 100):
        with UnitOfWork(db, tenant_id) as uow:
            for i in range(start_at, min(events, start_at + 100)):
                uow.emit("bench.tick", {"n": i})
            uow.commit()
    inserted = events / (time.perf_counter() - start)
    settings = load_settings()
    relay = Relay(db, settings)
    start = time.perf_counter()
    asyncio.run(_drain(relay))
    relayed = len(seen) / (time.perf_counter() - start)
    if len(seen) != events:
        raise RuntimeError(f"relay delivered {len(seen)} of {events} events")
    return inserted, relayed


async def _drain(relay: Relay) -> None:
    await relay.run_until_idle()
    await relay.close()


def _codes(base: str, headers: dict[str, str], total: int, workers: int) -> tuple[float, int, int]:
    """(numbers per second, gaps, duplicates) with `workers` concurrent clients."""

    def take(count: int) -> list[str]:
        with httpx.Client(base_url=base, headers=headers, timeout=30) as c:
            out = []
            for _ in range(count):
                r = c.post("/v1/coding-rules/bench_doc/next")
                r.raise_for_status()
                out.append(str(r.json()["code"]))
            return out

    start = time.perf_counter()
    with ThreadPoolExecutor(workers) as pool:
        codes = [c for chunk in pool.map(take, [total // workers] * workers) for c in chunk]
    total = len(codes)
    rate = total / (time.perf_counter() - start)
    seqs = sorted(int(c[-6:]) for c in codes)
    duplicates = len(seqs) - len(set(seqs))
    gaps = (max(seqs) - min(seqs) + 1) - len(set(seqs))
    return rate, gaps, duplicates


def run(quick: bool, say: Callable[[str], None]) -> dict[str, float]:
    n = 60 if quick else 600
    with tempfile.TemporaryDirectory() as tmp:
        os.environ.update({"ZT_DATA_DIR": tmp, "ZT_RUN_RELAY": "0"})
        db = Database(load_settings())
        upgrade(db.engine)
        name = f"bench{int(time.time())}"
        tenant_id = create_tenant(db, name, "admin", PASSWORD)
        say("starting server")
        with server({"ZT_DATA_DIR": tmp, "ZT_RUN_RELAY": "0"}) as base:
            with httpx.Client(base_url=base, timeout=30) as c:
                form = {"tenant": name, "username": "admin", "password": PASSWORD}
                token = c.post("/v1/auth/token", data=form).json()["access_token"]
                h = {"Authorization": f"Bearer {token}"}
                say("baseline GET /healthz")
                base_get = timed(lambda: c.get("/healthz").raise_for_status(), n)
                say("GET /v1/me")
                me = timed(lambda: c.get("/v1/me", headers=h).raise_for_status(), n)
                say("POST with Idempotency-Key")
                counter = iter(range(10**9))

                def post() -> None:
                    i = next(counter)
                    c.post(
                        "/v1/dictionaries/bench/entries",
                        headers={**h, "Idempotency-Key": f"k{i}"},
                        json={"code": f"c{i}", "label": f"entry {i}"},
                    ).raise_for_status()

                posts = timed(post, n)
            say("concurrent coding-rule numbers")
            rate, gaps, dups = _codes(base, h, n * 2, 8)
        say("outbox relay")
        inserted, relayed = _relay_rate(db, tenant_id, n * 10)
        db.dispose()
    get_ms, me_ms, post_ms = median_ms(base_get), median_ms(me), median_ms(posts)
    return {
        "healthz_median_ms": get_ms,
        "auth_get_median_ms": me_ms,
        "auth_get_vs_healthz_ratio": round(me_ms / get_ms, 2),
        "mutating_post_median_ms": post_ms,
        "mutating_post_vs_healthz_ratio": round(post_ms / get_ms, 2),
        "codes_per_s_8_clients": round(rate, 1),
        "code_gaps": gaps,
        "code_duplicates": dups,
        "outbox_insert_events_per_s": round(inserted, 1),
        "relay_events_per_s": round(relayed, 1),
        "relay_vs_insert_ratio": round(relayed / inserted, 3),
    }


def summary(m: dict[str, float]) -> str:
    return (
        f"GET /v1/me {m['auth_get_median_ms']} ms ({m['auth_get_vs_healthz_ratio']}x healthz), "
        f"idempotent POST {m['mutating_post_median_ms']} ms "
        f"({m['mutating_post_vs_healthz_ratio']}x), "
        f"{m['codes_per_s_8_clients']} codes/s with {m['code_gaps']} gaps "
        f"and {m['code_duplicates']} duplicates, relay {m['relay_events_per_s']} events/s"
    )
