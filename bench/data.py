"""Data benchmark: collecting events, loading the warehouse, and OneID at scale.

Ingest over HTTP: a real server (uvicorn, one worker, `zhongtai serve`, relay off so the
ingester does not run inside the timed window) on loopback, on a fresh SQLite file and on
a schema of its own on the PostgreSQL server. 8 concurrent clients POST pre-encoded
`/v1/events` bodies of 500 events each (a mix of page and screen views, searches,
product views, carts, checkouts, purchases, coupons, store visits, community joins and
custom events with their properties, from a population of web, app and mini-program
shoppers, some logged in, some carrying phone or WeChat ids) for 20 s (3 s with
`--quick`). An event counts once the server has answered 200 with it accepted: it is then
durable in the inbox (validated, counted per day, audited with its request; its batch one
row as sent), not yet in the warehouse: the ingester makes its row. The baseline in the
same server: the same events one per request, 8 clients, half that time. For the reader,
the collector's own work without HTTP: the same bodies split as the route splits them,
through `collector.service.collect` and a commit, in the benchmark process. Then the
batches of 500 into a collector tier on each database (`serve --collector-only --workers
2`: sign-in and `/v1/events` only, without relay or warehouse, one process per core). Then the
same batches once more into a SQLite server configured with NATS (`ZT_BENCH_NATS_URL`,
default the local server): accepted batches wait in a JetStream stream instead of the
inbox table, and the ingester empties the stream.

Inbox drain: after the server stops, the benchmark process runs the ingester
(`collector.service.ingest`, the relay job) until it returns 0, moving everything the
HTTP and in-process runs accepted (up to 5,000 events per batch: each event checked again
and its row made, OneID links, the actor map, whatever else the ingester does, the chDB
insert, the inbox delete) into embedded chDB, and checks the warehouse holds every event
drained.

Bulk load: what an importer does, straight into the warehouse's `events` table: rows made
in Python (not timed) and inserted with `warehouse.insert("events", rows)` in chunks of
100,000 (the timed part: JSONEachRow encoding in Python, parsing and writing in chDB);
1,000,000 events (100,000 with `--quick`) over the last 30 days, under the 100 partitions
one insert may touch. Beside it, the same number of similar rows made by chDB itself
(`INSERT ... SELECT ... FROM numbers(N)`): the warehouse's own write speed, without any
Python in between.

OneID rebuild (全量重算): a seeded identity graph made with numpy, 10,000,000 identifiers
and about 16,000,000 links (1,000,000 and 1,600,000 with `--quick`): persons with 1 to 4
devices and 0 to 3 cookies, a member id for 30% of them (most with a phone, half with an
e-mail), a phone for 40% of the others, WeChat union ids and open ids for 35%; every strong
id seen with every device and cookie of its person, each cookie with one device; browsers
on a family member's device (two persons, sometimes two member ids, in one component: the
split by nearest member runs) and shared devices seen with 4 to 40 phones (the guard blocks
them), numbered in an interleaved first-seen order. Timed: `shared_nodes` plus
`resolve_arrays`, the rebuild path of `oneid.service.rebuilt` without its database reads;
the Python list of kinds `shared_nodes` takes is built and timed apart. Baseline in the same
run: plain scipy `connected_components` over the same links (adjacency built included),
without guards or member splits. Context, not measured here: the public
sql-identity-resolution benchmark reports DuckDB 143 s and Snowflake 168 s for a graph of
this size.

OneID incremental (增量归并): on a fresh SQLite file, and on a PostgreSQL schema of its own,
holding 50,000 persons (5,000 with `--quick`) linked in batches of 1,000: one identify
event at a time (member id, cookie, device) through `oneid.service.link` and a commit:
returning members on a new browser, anonymous shoppers logging in, brand-new shoppers, and
repeats of known links. 1,000 events (200 with `--quick`); median and 99th percentile.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import os
import random
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import numpy as np
import numpy.typing as npt
import pyarrow as pa
from pyroaring import BitMap
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from zhongtai.benchrun import fresh_database, median_ms, served, timed
from zhongtai.data import warehouse
from zhongtai.data.analysis import queries as funnel_queries
from zhongtai.data.analysis.model import Condition, FunnelIn
from zhongtai.data.collector import model as collector_model
from zhongtai.data.collector import service as collector
from zhongtai.data.collector import stream as collector_stream
from zhongtai.data.oneid import service as oneid
from zhongtai.data.oneid.model import Guards, IdKind, resolve_arrays, shared_nodes
from zhongtai.data.tags import queries as tag_queries
from zhongtai.data.tags import service as tags_service
from zhongtai.data.tags.model import Expr
from zhongtai.data.tags.store import TagBitmap
from zhongtai.org.service import create_tenant
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.migrate import upgrade
from zhongtai.platform.uow import UnitOfWork

CLIENTS = 8
NATS_URL = os.environ.get("ZT_BENCH_NATS_URL", "nats://127.0.0.1:4222")
BATCH = 500
ADMIN, PASSWORD = "admin", "bench-pass-2026"
IntArray = npt.NDArray[np.int64]

# --- events as clients send them ---------------------------------------------------------

# (type, weight): what a storefront's tracking sends, most of it browsing
TYPES = [
    ("page_view", 22),
    ("screen_view", 14),
    ("product_view", 24),
    ("search", 9),
    ("add_to_cart", 10),
    ("checkout", 4),
    ("purchase", 3),
    ("coupon_claimed", 4),
    ("store_visit", 3),
    ("group_joined", 2),
    ("custom", 5),
]
SEARCHES = ["牛奶", "鸡蛋", "面包", "矿泉水", "纸巾", "洗发水", "苹果", "大米", "酸奶", "咖啡"]
SCREENS = ["home", "category", "product", "cart", "checkout", "me", "orders", "coupons"]
CUSTOM = ["share", "video_play", "live_enter", "banner_click", "lottery"]
STORES = ["SH01", "SH02", "HZ01", "GZ01"]


class Shopper(NamedTuple):
    channel: str  # mall (web), app or miniapp
    cookie: str
    device: str | None
    member: str | None
    phone: str | None
    union_id: str | None
    open_id: str | None


def _shoppers(rng: random.Random, n: int) -> list[Shopper]:
    out = []
    for i in range(n):
        channel = rng.choices(["mall", "app", "miniapp"], [3, 4, 3])[0]
        member = f"M{i:08d}" if rng.random() < 0.3 else None
        wechat = channel == "miniapp"
        out.append(
            Shopper(
                channel,
                f"c-{rng.getrandbits(64):016x}",
                f"d-{rng.getrandbits(64):016x}" if channel == "app" else None,
                member,
                f"13{rng.randrange(10**9):09d}" if member and rng.random() < 0.8 else None,
                f"oU{rng.getrandbits(96):024x}" if wechat else None,
                f"oP{rng.getrandbits(96):024x}" if wechat else None,
            )
        )
    return out


def _sku(rng: random.Random) -> str:
    return f"SKU-{int(5000 ** rng.random()) - 1:05d}"  # log-uniform: a few SKUs lead


def _properties(rng: random.Random, type_: str, n: int) -> dict[str, Any]:
    price = rng.randrange(100, 50_000)
    if type_ == "page_view":
        path = rng.choice(["/", "/c/dairy", "/c/snacks", f"/p/{_sku(rng)}", "/cart", "/promo"])
        return {"url": f"https://shop.example.cn{path}", "referrer": "", "title": "商城"}
    if type_ == "screen_view":
        return {"screen": rng.choice(SCREENS), "duration_ms": rng.randrange(200, 60_000)}
    if type_ == "product_view":
        return {"sku": _sku(rng), "price": price, "list": rng.choice(["search", "home", "cat"])}
    if type_ == "search":
        return {"query": rng.choice(SEARCHES), "results": rng.randrange(0, 200)}
    if type_ == "add_to_cart":
        return {"sku": _sku(rng), "qty": rng.randint(1, 3), "price": price}
    if type_ == "checkout":
        return {"amount": price * 3, "items": rng.randint(1, 8)}
    if type_ == "purchase":
        return {"order": f"SO{n:010d}", "amount": price * 3, "items": rng.randint(1, 8)}
    if type_ == "coupon_claimed":
        return {"coupon": f"CPN-{rng.randrange(40):03d}"}
    if type_ == "group_joined":
        return {"group": f"G-{rng.randrange(200):04d}"}
    if type_ == "custom":
        return {"name": rng.choice(CUSTOM), "value": rng.randrange(100)}
    return {"beacon": f"B-{rng.randrange(50):03d}"}  # store_visit: the in-store beacon


def _event(rng: random.Random, who: Shopper, n: int, now: datetime) -> dict[str, Any]:
    type_ = rng.choices([t for t, _ in TYPES], [w for _, w in TYPES])[0]
    when = now - timedelta(seconds=rng.expovariate(1 / 600))  # most arrive within minutes
    event: dict[str, Any] = {
        "id": f"e{n:010d}",
        "type": type_,
        "time": when.isoformat(timespec="milliseconds"),
        "anonymous_id": who.cookie,
        "channel": who.channel,
        "properties": _properties(rng, type_, n),
    }
    if who.device:
        event["device_id"] = who.device
    if who.member and (type_ in ("checkout", "purchase") or rng.random() < 0.7):
        event["member"] = who.member
    if type_ == "store_visit":
        event["store"] = rng.choice(STORES)
    identities: dict[str, str | None] = {}
    if who.union_id:
        identities.update(union_id=who.union_id, open_id=who.open_id)
    if who.phone and rng.random() < 0.1:
        identities["phone"] = who.phone
    if identities:
        event["identities"] = identities
    return event


def _batches(seed: int, batches: int) -> list[list[dict[str, Any]]]:
    """`batches` batches of BATCH events from a population of 1 shopper per 8 events."""
    rng = random.Random(seed)
    people = _shoppers(rng, max(2_000, batches * BATCH // 8))
    weights = [1 / (rank + 10) for rank in range(len(people))]  # some shop far more often
    now = datetime.now(UTC)
    out = []
    for b in range(batches):
        who = rng.choices(people, weights, k=BATCH)
        out.append([_event(rng, p, b * BATCH + i, now) for i, p in enumerate(who)])
    return out


def _body(events: list[dict[str, Any]]) -> bytes:
    return json.dumps({"events": events}, ensure_ascii=False).encode()


# --- the HTTP collector --------------------------------------------------------------------


class Load(NamedTuple):
    events_per_s: float
    latencies: list[float]
    events: int


async def _clients(base: str, token: str, bodies: list[tuple[bytes, int]], seconds: float) -> Load:
    """CLIENTS closed-loop clients posting the next body (with its event count) until
    `seconds` pass; every event of every answered body must be accepted."""
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    feed = itertools.cycle(bodies)
    accepted, latencies = 0, []

    async def client(deadline: float) -> None:
        nonlocal accepted
        async with httpx.AsyncClient(base_url=base, headers=headers, timeout=120) as c:
            while time.perf_counter() < deadline:
                body, n = next(feed)
                t0 = time.perf_counter()
                resp = await c.post("/v1/events", content=body)
                latencies.append(time.perf_counter() - t0)
                if resp.status_code != 200 or resp.json()["accepted"] != n:
                    raise RuntimeError(f"collector refused events: {resp.text[:300]}")
                accepted += n

    start = time.perf_counter()
    await asyncio.gather(*(client(start + seconds) for _ in range(CLIENTS)))
    return Load(accepted / (time.perf_counter() - start), latencies, accepted)


def _collect_in_process(db: Database, tenant_id: str, bodies: list[tuple[bytes, int]]) -> float:
    """Events per second through the route's split of the body (`events_of`),
    `collector.service.collect` and a commit, no HTTP."""
    start, n = time.perf_counter(), 0
    for body, _count in bodies:
        with UnitOfWork(db, tenant_id) as uow:
            out = collector.collect(uow, collector_model.events_of(body))
            uow.commit()
        n += out.accepted
    return n / (time.perf_counter() - start)


def _in_warehouse(settings: Settings, tenant_id: str) -> int:
    wh = warehouse.of(settings)
    rows = wh.rows(
        f"SELECT count() AS n FROM {wh.database}.events WHERE tenant_id = {{t:String}}",
        {"t": tenant_id},
    )
    return int(rows[0]["n"])


def _drain(db: Database) -> tuple[float, int]:
    """(events per second, events) of the ingester emptying the inbox."""
    start, n = time.perf_counter(), 0
    while taken := collector.ingest(db):
        n += taken
    return n / (time.perf_counter() - start), n


Arm = tuple[str, list[tuple[bytes, int]], float]  # what, (body, events) to post, seconds


def _loads(
    db: Database,
    tmp: str,
    more_env: dict[str, str],
    arms: list[Arm],
    say: Callable[[str], None],
    args: tuple[str, ...] = (),
) -> tuple[str, list[Load]]:
    """A tenant on `db`, a real server over it (`zhongtai serve` with `args`), a warm-up,
    then each arm's bodies posted by CLIENTS clients for its seconds: (the tenant's id,
    each arm's load)."""
    name = f"databench{random.randrange(10**9)}"
    tenant_id = create_tenant(db, name, ADMIN, PASSWORD)
    with served(db, tmp, (name, ADMIN, PASSWORD), more_env, args) as (base, token):
        asyncio.run(_clients(base, token, arms[-1][1][-2:], 0.5))  # warm-up
        loads = []
        for what, bodies, seconds in arms:
            say(f"{db.dialect}: {CLIENTS} clients, {what}")
            loads.append(asyncio.run(_clients(base, token, bodies, seconds)))
    return tenant_id, loads


def _drained(settings: Settings, tenant_id: str) -> tuple[float, int]:
    """The ingester (writing to this process's one chDB folder) empties the inbox, and the
    stream with NATS, and the warehouse must hold every event it took."""
    wdb = Database(settings)
    try:
        drain_rate, drained = _drain(wdb)
        stored = _in_warehouse(settings, tenant_id)
    finally:
        collector_stream.close_buffers()
        wdb.dispose()
    if stored != drained:
        raise RuntimeError(f"{drained} events drained but {stored} in the warehouse")
    return drain_rate, drained


def _http(
    kind: str,
    home: Path,
    seconds: float,
    pool: list[list[dict[str, Any]]],
    say: Callable[[str], None],
) -> dict[str, float]:
    batches = [(_body(events), len(events)) for events in pool]
    singles = [(_body([e]), 1) for events in pool for e in events]
    arms = [
        ("one event per request", singles, seconds / 2),
        (f"{BATCH} per request", batches, seconds),
    ]
    with fresh_database(kind) as db, tempfile.TemporaryDirectory() as tmp:
        tenant_id, (single, batch) = _loads(db, tmp, {}, arms, say)
        say(f"{kind}: the collector in-process, no HTTP")
        inproc = _collect_in_process(db, tenant_id, batches[: max(4, len(batches) // 8)])
        say(f"{kind}: the ingester draining the inbox through OneID into chDB")
        settings = dataclasses.replace(db.settings, data_dir=home, database_url=db.url)
        drain_rate, drained = _drained(settings, tenant_id)
    return {
        "ingest_http_events_per_s": round(batch.events_per_s),
        "ingest_http_single_events_per_s": round(single.events_per_s, 1),
        "ingest_batch_vs_single": round(batch.events_per_s / single.events_per_s, 2),
        "ingest_http_batch_p50_ms": round(statistics.median(batch.latencies) * 1000, 1),
        "ingest_http_batch_p99_ms": round(_p99(batch.latencies) * 1000, 1),
        "ingest_http_single_p50_ms": round(statistics.median(single.latencies) * 1000, 2),
        "collect_inprocess_events_per_s": round(inproc),
        "inbox_drain_events_per_s": round(drain_rate),
        "inbox_drained_events": drained,
    }


def _http_buffered(
    home: Path, seconds: float, pool: list[list[dict[str, Any]]], say: Callable[[str], None]
) -> dict[str, float]:
    """The same batches into a server configured with NATS: accepted batches wait in a
    JetStream stream (file storage) instead of the inbox table; then the ingester empties
    the stream into chDB."""
    nats = {"ZT_NATS_URL": NATS_URL, "ZT_NATS_STREAM": f"ZT_BENCH_{random.randrange(10**9)}"}
    batches = [(_body(events), len(events)) for events in pool]
    with fresh_database("sqlite") as db, tempfile.TemporaryDirectory() as tmp:
        arms = [(f"{BATCH} per request, buffered in NATS", batches, seconds)]
        tenant_id, (load,) = _loads(db, tmp, nats, arms, say)
        settings = dataclasses.replace(
            db.settings,
            data_dir=home,
            database_url=db.url,
            nats_url=NATS_URL,
            nats_stream=nats["ZT_NATS_STREAM"],
        )
        say("sqlite: the ingester draining the stream through OneID into chDB")
        drain_rate, _drained_events = _drained(settings, tenant_id)
        buffer = collector_stream.buffer_of(settings)
        if buffer is not None:  # the stream is the benchmark's own
            buffer.drop()
        collector_stream.close_buffers()
    return {
        "ingest_http_nats_events_per_s": round(load.events_per_s),
        "ingest_http_nats_batch_p50_ms": round(statistics.median(load.latencies) * 1000, 1),
        "stream_drain_events_per_s": round(drain_rate),
    }


def _http_tier(
    kind: str, seconds: float, pool: list[list[dict[str, Any]]], say: Callable[[str], None]
) -> Load:
    """The batches of 500 into a collector tier (`serve --collector-only --workers 2`:
    sign-in and `/v1/events` only, no relay, no warehouse), one process per core."""
    batches = [(_body(events), len(events)) for events in pool]
    arms = [(f"{BATCH} per request, collector tier of 2 workers", batches, seconds)]
    with fresh_database(kind) as db, tempfile.TemporaryDirectory() as tmp:
        args = ("--collector-only", "--workers", "2")
        _tenant_id, (load,) = _loads(db, tmp, {}, arms, say, args)
    return load


def _p99(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=100)[98] if len(samples) > 1 else samples[0]


# --- bulk load into the warehouse -----------------------------------------------------------


def _bulk_rows(rng: random.Random, tenant_id: str, start: int, n: int) -> list[dict[str, Any]]:
    """`n` warehouse rows as an importer makes them, over the last 30 days."""
    now = datetime.now(UTC)
    types = [t for t, _ in TYPES]
    weights = [w for _, w in TYPES]
    rows = []
    for i, type_ in enumerate(rng.choices(types, weights, k=n), start):
        when = now - timedelta(seconds=rng.random() * 29 * 86_400)
        member = f"M{rng.randrange(300_000):08d}" if rng.random() < 0.3 else ""
        cookie = f"c-{rng.randrange(1_000_000):07d}"
        props = _properties(rng, type_, i)
        stamp = when.strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
        rows.append(
            {
                "tenant_id": tenant_id,
                "event_id": f"imp{i:012d}",
                "source": "import",
                "type": type_,
                "name": props["name"] if type_ == "custom" else "",
                "time": stamp,
                "received_at": stamp,
                "actor": f"member:{member}" if member else f"cookie:{cookie}",
                "member_id": member,
                "anonymous_id": cookie,
                "device_id": "",
                "channel": rng.choice(["mall", "app", "miniapp", "pos"]),
                "store": rng.choice(STORES) if type_ == "store_visit" else "",
                "sku": str(props.get("sku", "")),
                "order_id": str(props.get("order", "")),
                "amount": int(props.get("amount", props.get("price", 0))),
                "qty": int(props.get("qty", 0)),
                "properties": json.dumps(props, ensure_ascii=False),
            }
        )
    return rows


def _bulk(settings: Settings, n: int, chunk: int, say: Callable[[str], None]) -> float:
    wh = warehouse.of(settings)
    tenant_id = f"bulk{random.randrange(10**9)}"
    rng = random.Random(3)
    spent = 0.0
    for start in range(0, n, chunk):
        say(f"bulk load: rows {start:,} to {min(n, start + chunk):,} of {n:,}")
        rows = _bulk_rows(rng, tenant_id, start, min(chunk, n - start))
        t0 = time.perf_counter()
        wh.insert("events", rows)
        spent += time.perf_counter() - t0
    if (stored := _in_warehouse(settings, tenant_id)) != n:
        raise RuntimeError(f"bulk load: {stored} of {n} rows in the warehouse")
    return n / spent


# Similar rows, made by chDB: types by the same weights, actors from the same ranges; the
# columns are named, so columns added later take their defaults as in the bulk rows.
NATIVE = """
INSERT INTO {db}.events (tenant_id, event_id, source, type, name, time, received_at, actor,
    member_id, anonymous_id, device_id, channel, store, sku, order_id, amount, qty, properties)
SELECT
    {{tenant:String}} AS tenant_id,
    concat('nat', leftPad(toString(number), 12, '0')) AS event_id,
    'import' AS source,
    {types:s}[1 + toUInt32(h % 100)] AS type,
    if(type = 'custom', ['share', 'video_play', 'live_enter'][1 + toUInt32(h % 3)], '') AS name,
    now64(3) - toIntervalMillisecond(toUInt64(rand64() % (29 * 86400000))) AS time,
    time AS received_at,
    if(member_id != '', concat('member:', member_id), concat('cookie:', anonymous_id)) AS actor,
    if(h % 10 < 3, concat('M', leftPad(toString(g % 300000), 8, '0')), '') AS member_id,
    concat('c-', leftPad(toString(bitShiftRight(g, 20) % 1000000), 7, '0')) AS anonymous_id,
    '' AS device_id,
    ['mall', 'app', 'miniapp', 'pos'][1 + toUInt32(bitShiftRight(g, 40) % 4)] AS channel,
    if(type = 'store_visit', ['SH01', 'SH02', 'HZ01', 'GZ01'][1 + toUInt32(g % 4)], '') AS store,
    if(type IN ('product_view', 'add_to_cart'),
       concat('SKU-', leftPad(toString(bitShiftRight(g, 8) % 5000), 5, '0')), '') AS sku,
    if(type = 'purchase', concat('SO', leftPad(toString(number), 10, '0')), '') AS order_id,
    toInt64(100 + bitShiftRight(h, 12) % 50000) AS amount,
    toInt32(if(type = 'add_to_cart', 1 + bitShiftRight(h, 30) % 3, 0)) AS qty,
    concat('{{"sku":"', sku, '","price":', toString(amount), ',"list":"home"}}') AS properties
FROM (
    SELECT number, cityHash64(number, {{salt:UInt64}}) AS h, cityHash64(h) AS g
    FROM numbers({{n:UInt64}})
)
"""


def _native(settings: Settings, n: int) -> float:
    wh = warehouse.of(settings)
    tenant_id = f"native{random.randrange(10**9)}"
    types = [t for t, w in TYPES for _ in range(w)]  # 100 slots by weight
    sql = NATIVE.format(db=wh.database, types="[" + ",".join(f"'{t}'" for t in types) + "]")
    t0 = time.perf_counter()
    wh.command(sql, {"tenant": tenant_id, "n": n, "salt": random.randrange(2**32)})
    spent = time.perf_counter() - t0
    if (stored := _in_warehouse(settings, tenant_id)) != n:
        raise RuntimeError(f"native load: {stored} of {n} rows in the warehouse")
    return n / spent


# --- OneID: full rebuild --------------------------------------------------------------------

# Identifier slots of one person: 4 devices, 3 cookies, member, phone, e-mail, union id,
# 2 open ids.
SLOTS = [IdKind.device] * 4 + [IdKind.cookie] * 3
SLOTS += [
    IdKind.member,
    IdKind.phone,
    IdKind.email,
    IdKind.union_id,
    IdKind.open_id,
    IdKind.open_id,
]
DEVICES, COOKIES, STRONG, OPEN = range(0, 4), range(4, 7), range(7, 11), range(11, 13)
MEMBER, PHONE, UNION = 7, 8, 10
KINDS = list(IdKind)
IDS_PER_PERSON = 5.275  # the mean of the mix below, measured


class IdentityGraph(NamedTuple):
    codes: npt.NDArray[np.int8]  # each identifier's kind, as an index into KINDS
    edges: IntArray  # (m, 2)


def _identity_graph(identifiers: int, seed: int) -> IdentityGraph:
    rng = np.random.default_rng(seed)
    p = round(identifiers / IDS_PER_PERSON)
    devices = rng.choice([1, 2, 3, 4], p, p=[0.35, 0.3, 0.2, 0.15])
    cookies = rng.choice([0, 1, 2, 3], p, p=[0.3, 0.35, 0.2, 0.15])
    member = rng.random(p) < 0.3
    has = np.zeros((p, len(SLOTS)), dtype=bool)
    has[:, :4] = np.arange(4) < devices[:, None]
    has[:, 4:7] = np.arange(3) < cookies[:, None]
    has[:, MEMBER] = member
    has[:, PHONE] = np.where(member, rng.random(p) < 0.95, rng.random(p) < 0.4)
    has[:, 9] = np.where(member, rng.random(p) < 0.5, rng.random(p) < 0.05)
    has[:, UNION] = rng.random(p) < 0.35
    has[:, 11:13] = np.arange(2) < np.where(has[:, UNION], rng.integers(1, 3, p), 0)[:, None]
    owned = int(has.sum())
    shared = max(1, p // 1000)  # store demo phones and family iPads seen with many phones
    total = owned + shared
    order = rng.permutation(total)  # first-seen order interleaves persons
    ids = np.full(has.shape, -1, dtype=np.int64)
    ids[has] = order[:owned]  # row-major: one person's identifiers after another's
    codes = np.empty(total, dtype=np.int8)
    slot_code = np.array([KINDS.index(k) for k in SLOTS], dtype=np.int8)
    codes[order[:owned]] = slot_code[np.nonzero(has)[1]]
    codes[order[owned:]] = KINDS.index(IdKind.device)

    parts: list[IntArray] = []

    def pair(a: IntArray, b: IntArray) -> None:
        parts.append(np.stack([a, b], axis=1))

    strong_pairs = [(a, b) for a in STRONG for b in STRONG if a < b]
    reach = [(a, b) for a in STRONG for b in [*DEVICES, *COOKIES]]
    opens = [(a, b) for a in OPEN for b in [UNION, *DEVICES]]
    for a, b in strong_pairs + reach + opens:
        both = has[:, a] & has[:, b]
        pair(ids[both, a], ids[both, b])
    for k, slot in enumerate(COOKIES):  # a cookie lives in a browser on one device
        rows = np.flatnonzero(has[:, slot])
        pair(ids[rows, slot], ids[rows, k % devices[rows]])
    # A browser on a family member's device: 1% of persons; with two member ids in one
    # component, the rebuild splits it by nearest member.
    browsers = rng.choice(np.flatnonzero(cookies > 0), p // 100)
    pair(ids[browsers, 4], ids[rng.integers(0, p, browsers.size), 0])
    phones = np.flatnonzero(has[:, PHONE])
    seen_with = rng.integers(4, 41, shared)
    pair(
        np.repeat(order[owned:], seen_with),
        ids[rng.choice(phones, int(seen_with.sum())), PHONE],
    )
    return IdentityGraph(codes, np.concatenate(parts))


def _rebuild(graph: IdentityGraph) -> dict[str, float]:
    """Seconds of each step of a full rebuild, and what it found."""
    t0 = time.perf_counter()
    kinds = [KINDS[c] for c in graph.codes.tolist()]
    t1 = time.perf_counter()
    shared = shared_nodes(kinds, graph.edges, Guards())
    t2 = time.perf_counter()
    nodes = np.arange(len(kinds), dtype=np.int64)
    members = np.flatnonzero(graph.codes == KINDS.index(IdKind.member))
    _component, person = resolve_arrays(nodes, members, graph.edges, sorted(shared))
    t3 = time.perf_counter()
    return {
        "kinds": t1 - t0,
        "shared": t2 - t1,
        "resolve": t3 - t2,
        "persons": int(np.unique(person).size),
        "blocked": len(shared),
    }


def _plain_cc(graph: IdentityGraph) -> tuple[float, int]:
    """Seconds of plain connected components over the same links, and how many."""
    t0 = time.perf_counter()
    n = graph.codes.size
    ones = np.ones(len(graph.edges), dtype=np.int8)
    adjacency = csr_array((ones, (graph.edges[:, 0], graph.edges[:, 1])), shape=(n, n))
    count, _labels = connected_components(adjacency, directed=False)
    return time.perf_counter() - t0, int(count)


def _oneid_build(identifiers: int, repeats: int, say: Callable[[str], None]) -> dict[str, float]:
    say(f"OneID: a graph of {identifiers:,} identifiers")
    graph = _identity_graph(identifiers, seed=5)
    runs, plain = [], []
    for r in range(repeats):
        say(f"OneID: full rebuild {r + 1} of {repeats}")
        runs.append(_rebuild(graph))
        say(f"OneID: plain connected components {r + 1} of {repeats}")
        plain.append(_plain_cc(graph))
    build = statistics.median(r["shared"] + r["resolve"] for r in runs)
    plain_s = statistics.median(s for s, _ in plain)
    return {
        "oneid_identifiers": graph.codes.size,
        "oneid_edges": len(graph.edges),
        "oneid_build_seconds": round(build, 2),
        "oneid_shared_nodes_seconds": round(statistics.median(r["shared"] for r in runs), 2),
        "oneid_resolve_seconds": round(statistics.median(r["resolve"] for r in runs), 2),
        "oneid_kinds_list_seconds": round(statistics.median(r["kinds"] for r in runs), 2),
        "oneid_plain_cc_seconds": round(plain_s, 2),
        "oneid_build_vs_plain_cc": round(build / plain_s, 2),
        "oneid_persons": runs[0]["persons"],
        "oneid_plain_components": plain[0][1],
        "oneid_blocked_identifiers": runs[0]["blocked"],
    }


# --- OneID: incremental linking -------------------------------------------------------------

Observation = list[tuple[IdKind, str]]


class Known(NamedTuple):
    member: str | None
    cookie: str
    device: str


def _token(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{rng.getrandbits(64):016x}"


def _known(rng: random.Random, n: int) -> list[Known]:
    """Stored persons: 60% members, each with a browser cookie and a device."""
    return [
        Known(f"M{i:08d}" if rng.random() < 0.6 else None, _token(rng, "c-"), _token(rng, "d-"))
        for i in range(n)
    ]


def _seen(k: Known, rng: random.Random) -> Observation:
    obs: Observation = [(IdKind.cookie, k.cookie), (IdKind.device, k.device)]
    if k.member:
        obs.insert(0, (IdKind.member, k.member))
        if rng.random() < 0.5:
            obs.append((IdKind.phone, f"13{rng.randrange(10**9):09d}"))
    return obs


def _identify(rng: random.Random, people: list[Known], n: int) -> Iterator[Observation]:
    """Identify events (member id, cookie, device) touching stored persons or not."""
    members = [k for k in people if k.member]
    anonymous = [k for k in people if not k.member]
    for i in range(n):
        r = rng.random()
        if r < 0.35:  # a returning member on a new browser of a known device
            k = rng.choice(members)
            yield [
                (IdKind.member, k.member or ""),
                (IdKind.cookie, _token(rng, "c-")),
                (IdKind.device, k.device),
            ]
        elif r < 0.55:  # an anonymous shopper logs in with a new member id
            k = rng.choice(anonymous)
            yield [
                (IdKind.member, f"N{i:08d}"),
                (IdKind.cookie, k.cookie),
                (IdKind.device, k.device),
            ]
        elif r < 0.75:  # a new shopper
            yield [
                (IdKind.member, f"N{i:08d}"),
                (IdKind.cookie, _token(rng, "c-")),
                (IdKind.device, _token(rng, "d-")),
            ]
        else:  # a known member on a known browser: nothing new
            k = rng.choice(members)
            yield [
                (IdKind.member, k.member or ""),
                (IdKind.cookie, k.cookie),
                (IdKind.device, k.device),
            ]


def _incremental(
    kind: str, persons: int, samples: int, say: Callable[[str], None]
) -> dict[str, float]:
    rng = random.Random(9)
    tenant_id = f"oneid{random.randrange(10**9)}"
    people = _known(rng, persons)
    with fresh_database(kind) as db:
        start = time.perf_counter()
        for at in range(0, persons, 1000):
            say(f"{kind}: OneID holds {at:,} of {persons:,} persons")
            with UnitOfWork(db, tenant_id) as uow:
                oneid.link(uow, [_seen(k, rng) for k in people[at : at + 1000]], "bench")
                uow.commit()
        preload = persons / (time.perf_counter() - start)
        say(f"{kind}: OneID, one identify event at a time")
        times = []
        for obs in _identify(rng, people, samples):
            t0 = time.perf_counter()
            with UnitOfWork(db, tenant_id) as uow:
                oneid.link(uow, [obs], "bench")
                uow.commit()
            times.append(time.perf_counter() - t0)
    return {
        "oneid_incremental_median_ms": round(statistics.median(times) * 1000, 2),
        "oneid_incremental_p99_ms": round(_p99(times) * 1000, 2),
        "oneid_preload_observations_per_s": round(preload),
    }


# --- the run ------------------------------------------------------------------------------


# --- audiences (标签圈选) and funnels (漏斗) at scale --------------------------------------

AUDIENCE_DAY = "2026-11-01"
AUDIENCE = {
    "and": [
        {"tag": "t000", "min": 4},
        {"or": [{"tag": "t001"}, {"tag": "t002"}]},
        {"not": {"tag": "t003"}},
        {"tag": "t004"},
    ]
}


def _tag_people(rng: np.random.Generator, persons: int, density: float) -> npt.NDArray[np.uint64]:
    return (np.flatnonzero(rng.random(persons) < density) + 1).astype(np.uint64)


def _long_table(wh: warehouse.Warehouse, tenant: str, tag: str, value: str, people: Any) -> None:
    """Rows of the long table of tag values, straight from numpy through chDB's Python()."""
    assert isinstance(wh, warehouse.Chdb), "the audience benchmark loads embedded chDB"
    select = f"'{tenant}', '{tag}', toDate('{AUDIENCE_DAY}'), '{value}', person"
    wh.insert_arrow("person_tags", select, pa.table({"person": people}))


def _audience(
    db: Database, settings: Settings, persons: int, tags: int, repeats: int
) -> dict[str, float]:
    """10M persons and 200 tags in the tag centre; a 5-tag expression counted through the
    service (bitmaps) and the same question in plain SQL over the long table."""
    rng = np.random.default_rng(5)
    wh = warehouse.of(settings)
    tenant = f"bench-aud-{random.randrange(10**9)}"
    _long_table(wh, tenant, "_everyone", "all", np.arange(1, persons + 1, dtype=np.uint64))
    scores = rng.integers(1, 6, persons)
    for value in range(1, 6):
        _long_table(
            wh, tenant, "t000", str(value), (np.flatnonzero(scores == value) + 1).astype(np.uint64)
        )
    for i, density in ((1, 0.3), (2, 0.2), (3, 0.1), (4, 0.5)):
        _long_table(wh, tenant, f"t{i:03d}", "yes", _tag_people(rng, persons, density))
    with UnitOfWork(db, tenant) as uow:
        for i in range(tags):
            params = {"event_types": ["purchase"]}
            tags_service.define(
                uow, tags_service.TagIn(code=f"t{i:03d}", name=f"t{i}", kind="rule", params=params)
            )
        for tag in ["_everyone", *(f"t{i:03d}" for i in range(5))]:
            tags_service.keep_bitmaps(uow, tag, AUDIENCE_DAY, wh)
        for i in range(5, tags):  # the other tags: in the tag centre, not in the question
            people = BitMap(
                _tag_people(rng, persons, float(rng.uniform(0.01, 0.5))).astype(np.uint32)
            )
            uow.session.add(
                TagBitmap(
                    tag=f"t{i:03d}",
                    day=AUDIENCE_DAY,
                    value="yes",
                    persons=len(people),
                    bitmap=people.serialize(),
                )
            )
        uow.commit()
    expr = Expr.model_validate(AUDIENCE)
    ask = tags_service.CountIn(expression=expr)
    counts: list[int] = []

    def by_bitmaps() -> None:
        with UnitOfWork(db, tenant, write=False) as uow:
            counts.append(tags_service.count(uow, ask).persons)

    days = {f"t{i:03d}": AUDIENCE_DAY for i in range(5)} | {"_everyone": AUDIENCE_DAY}
    query = tag_queries.audience_sql(wh.database, expr, days, lambda _c: expr)
    sql_counts: list[int] = []

    def by_sql() -> None:
        sql_counts.append(int(wh.rows(query.sql, {**query.params, "tenant": tenant})[0]["persons"]))

    by_bitmaps()  # the first count loads the bitmaps into the cache
    bitmap_s = timed(by_bitmaps, repeats)
    sql_s = timed(by_sql, max(3, repeats // 5))
    if set(counts) != set(sql_counts) or len(set(counts)) != 1:
        raise AssertionError(f"bitmaps {set(counts)} and SQL {set(sql_counts)} disagree")
    return {
        "audience_persons": float(persons),
        "audience_tags": float(tags),
        "audience_selected": float(counts[0]),
        "audience_median_ms": median_ms(bitmap_s),
        "audience_sql_median_ms": median_ms(sql_s),
        "audience_sql_vs_bitmap": round(statistics.median(sql_s) / statistics.median(bitmap_s), 2),
    }


def _funnel(settings: Settings, events: int, persons: int) -> dict[str, float]:
    """100M events of 10M persons made by chDB itself over 30 days (each person's within
    two hours of a day of their own, so funnels complete), each person's actor in the OneID
    person map; a 4-step funnel (1-hour window) through the analysis SQL."""
    wh = warehouse.of(settings)
    tenant = f"bench-funnel-{random.randrange(10**9)}"
    wh.command(
        f"INSERT INTO {wh.database}.events (tenant_id, event_id, source, type, time, received_at,"
        " actor, channel) SELECT {t:String}, toString(number), 'collector',"
        " multiIf(r < 0.5, 'product_view', r < 0.7, 'page_view', r < 0.85, 'add_to_cart',"
        " r < 0.95, 'checkout', 'purchase'),"
        " toDateTime64('2026-10-01 00:00:00', 3, 'UTC') + toIntervalMillisecond(ms),"
        " now64(3), concat('cookie:', toString(number % {p:UInt64})), 'mall'"
        " FROM (SELECT number, (cityHash64(number) % 10000) / 10000 AS r,"
        " cityHash64(number % {p:UInt64}, 3) % 2592000000 + cityHash64(number, 7) % 7200000"
        " AS ms FROM numbers({n:UInt64}))"
        " SETTINGS max_partitions_per_insert_block = 1000",
        {"t": tenant, "n": events, "p": persons},
    )
    wh.command(
        f"INSERT INTO {wh.database}.person_map SELECT {{t:String}},"
        " concat('cookie:', toString(number)), number + 1, 1 FROM numbers({p:UInt64})",
        {"t": tenant, "p": persons},
    )
    steps = [Condition(type=t) for t in ("product_view", "add_to_cart", "checkout", "purchase")]
    ask = FunnelIn(
        steps=steps,
        window_seconds=3600,
        since=datetime(2026, 10, 1, tzinfo=UTC),
        until=datetime(2026, 11, 1, tzinfo=UTC),
    )
    start = time.perf_counter()
    out = funnel_queries.funnel(wh, tenant, ask)
    seconds = time.perf_counter() - start
    reached = [s.persons for s in out.funnels[0].steps]
    return {
        "funnel_events": float(events),
        "funnel_persons": float(persons),
        "funnel_seconds": round(seconds, 2),
        "funnel_first_step_persons": float(reached[0]),
        "funnel_last_step_persons": float(reached[-1]),
    }


def run(quick: bool, say: Callable[[str], None]) -> dict[str, float]:
    seconds = 3.0 if quick else 20.0
    m: dict[str, float] = {}
    say("making events")
    pool = _batches(seed=1, batches=60 if quick else 400)
    # chDB keeps its folder open (and merges in it) until the process ends: its database
    # is dropped before the folder goes, and what it writes after that is left to the OS.
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as home:
        chdb_home = Path(home)  # the one chDB folder of this process
        for kind, prefix in (("sqlite", ""), ("postgresql", "pg_")):
            for key, value in _http(kind, chdb_home, seconds, pool, say).items():
                m[prefix + key] = value
            tier = _http_tier(kind, seconds, pool, say)
            m[f"{prefix}ingest_http_tier_events_per_s"] = round(tier.events_per_s)
            m[f"{prefix}ingest_http_tier_batch_p50_ms"] = round(
                statistics.median(tier.latencies) * 1000, 1
            )
        m.update(_http_buffered(chdb_home, seconds, pool, say))
        settings = Settings(data_dir=chdb_home, secret_key="bench")
        n = 100_000 if quick else 1_000_000
        m["ingest_bulk_events_per_s"] = round(_bulk(settings, n, 100_000, say))
        say(f"native load: {n:,} rows made by chDB")
        m["ingest_native_events_per_s"] = round(_native(settings, n))
        m["ingest_native_vs_bulk"] = round(
            m["ingest_native_events_per_s"] / m["ingest_bulk_events_per_s"], 1
        )
        say("audiences: tags into bitmaps and the long table")
        sql_db = Database(settings)
        upgrade(sql_db.engine)
        persons, tags = (100_000, 20) if quick else (10_000_000, 200)
        m.update(_audience(sql_db, settings, persons, tags, 20 if quick else 50))
        sql_db.dispose()
        say("funnel: events made by chDB")
        m.update(_funnel(settings, *((1_000_000, 100_000) if quick else (100_000_000, 10_000_000))))
        wh = warehouse.of(settings)
        wh.command(f"DROP DATABASE IF EXISTS {wh.database} SYNC")
    m.update(_oneid_build(1_000_000 if quick else 10_000_000, 3 if quick else 1, say))
    for kind, prefix in (("sqlite", ""), ("postgresql", "pg_")):
        r = _incremental(kind, 5_000 if quick else 50_000, 200 if quick else 1_000, say)
        m.update({prefix + k: v for k, v in r.items()})
    return m


def summary(m: dict[str, float]) -> str:
    return (
        f"HTTP ingest {m['ingest_http_events_per_s']:,}/s in batches of {BATCH} "
        f"({m['ingest_batch_vs_single']}x one per request; PostgreSQL "
        f"{m['pg_ingest_http_events_per_s']:,}/s; buffered in NATS "
        f"{m['ingest_http_nats_events_per_s']:,}/s; a collector tier of 2 workers "
        f"{m['ingest_http_tier_events_per_s']:,}/s, on PostgreSQL "
        f"{m['pg_ingest_http_tier_events_per_s']:,}/s), inbox drain through OneID "
        f"{m['inbox_drain_events_per_s']:,}/s; bulk load {m['ingest_bulk_events_per_s']:,}/s from "
        f"Python, {m['ingest_native_events_per_s']:,}/s made in chDB; OneID rebuild of "
        f"{m['oneid_identifiers']:,} identifiers / {m['oneid_edges']:,} links in "
        f"{m['oneid_build_seconds']} s ({m['oneid_build_vs_plain_cc']}x plain connected "
        f"components; DuckDB 143 s at 10M in the public benchmark), incremental link p50 "
        f"{m['oneid_incremental_median_ms']} ms, p99 {m['oneid_incremental_p99_ms']} ms; "
        f"audience of {m['audience_persons']:,.0f} persons / {m['audience_tags']:.0f} tags "
        f"counted in {m['audience_median_ms']} ms ({m['audience_sql_vs_bitmap']}x faster than "
        f"plain SQL, {m['audience_sql_median_ms']} ms); 4-step funnel over "
        f"{m['funnel_events']:,.0f} events in {m['funnel_seconds']} s"
    )
