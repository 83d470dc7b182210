"""The hot-SKU path: group commit (组提交) for reservations.

In a flash sale thousands of callers reserve the same stock level. One transaction per
caller serialises them all on that row's lock. Here callers from any number of threads
hand their request to a batcher; one worker drains everything pending and applies it in
one transaction, taking each stock level's lock once, granting requests in arrival order
while stock lasts and the channel allocation rules allow (`model.Rulebook.take`, the
rule the single-request path uses too), writing every granted reservation, and only
after the commit answers each caller. A crash before the commit acknowledges nothing and writes
nothing; after it, every acknowledged reservation is durable.
"""

from __future__ import annotations

import queue
import threading
from collections import defaultdict
from concurrent.futures import Future
from dataclasses import dataclass, field
from datetime import timedelta

from sqlalchemy import Connection, bindparam, func, insert, select, tuple_, update

from zhongtai.inventory import model
from zhongtai.inventory.service import draw_quota, rulebooks
from zhongtai.inventory.store import Reservation, ReservationLine, StockLevel
from zhongtai.platform.db import Base, Database, dialect_insert
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.outbox import OutboxEvent


@dataclass(frozen=True)
class HoldRequest:
    """One caller's single-line reservation."""

    tenant_id: str
    actor_id: str
    sku_id: str
    location_id: str
    qty: int
    channel: str
    owner: str
    ttl_seconds: int = 900


@dataclass
class _Pending:
    request: HoldRequest
    answer: Future[str] = field(default_factory=Future)


class ReservationBatcher:
    """Submit from many threads; one worker applies batches. `reserve` returns the
    reservation id or raises `model.OutOfStockError`."""

    def __init__(self, db: Database, max_batch: int = 5000) -> None:
        self.db = db
        self.max_batch = max_batch
        self._queue: queue.SimpleQueue[_Pending | None] = queue.SimpleQueue()
        self._worker = threading.Thread(target=self._run, name="zt-reservations", daemon=True)
        self._worker.start()
        self.batches = 0

    def reserve(self, request: HoldRequest, timeout: float = 30.0) -> str:
        if request.qty <= 0:
            raise model.StockRuleError("qty", "must be positive")
        pending = _Pending(request)
        self._queue.put(pending)
        return pending.answer.result(timeout)

    def close(self) -> None:
        self._queue.put(None)
        self._worker.join(timeout=30)

    def _run(self) -> None:
        while (first := self._queue.get()) is not None:
            batch = [first]
            stop = False
            while len(batch) < self.max_batch:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if nxt is None:
                    stop = True
                    break
                batch.append(nxt)
            self._apply(batch)
            if stop:
                return

    def _apply(self, batch: list[_Pending]) -> None:
        try:
            with self.db.engine.execution_options(zt_write=True).begin() as conn:
                outcomes = _apply_batch(conn, self.db.dialect, [p.request for p in batch])
        except Exception as exc:  # nothing was committed: every caller learns it failed
            for p in batch:
                p.answer.set_exception(exc)
            return
        self.batches += 1
        for p, outcome in zip(batch, outcomes, strict=True):
            if isinstance(outcome, str):
                p.answer.set_result(outcome)
            else:
                p.answer.set_exception(outcome)


Key = tuple[str, str, str]  # (tenant, sku, location)


def _lock_all(conn: Connection, dialect: str, keys: list[Key]) -> dict[Key, model.Balance]:
    """Make missing levels, lock every level of the batch in key order (so batches from
    several processes cannot deadlock), and read their balances net of lapsed holds: three
    statements however many levels the batch touches."""
    insert_ = dialect_insert(dialect)
    now = utcnow()
    missing = [
        {
            "tenant_id": t,
            "sku_id": s,
            "location_id": loc,
            "on_hand": 0,
            "reserved": 0,
            "in_transit": 0,
            "safety_stock": 0,
            "updated_at": now,
        }
        for t, s, loc in keys
    ]
    for start in range(0, len(missing), 1000):  # SQLite allows 32,766 bound values
        conn.execute(
            insert_(StockLevel).values(missing[start : start + 1000]).on_conflict_do_nothing()
        )
    c = StockLevel
    rows = conn.execute(
        select(
            c.tenant_id,
            c.sku_id,
            c.location_id,
            c.on_hand,
            c.reserved,
            c.in_transit,
            c.safety_stock,
        )
        .where(tuple_(c.tenant_id, c.sku_id, c.location_id).in_(keys))
        .order_by(c.tenant_id, c.sku_id, c.location_id)
        .with_for_update()
    ).all()
    line = ReservationLine
    lapsed = {
        (t, s, loc): int(q)
        for t, s, loc, q in conn.execute(
            select(line.tenant_id, line.sku_id, line.location_id, func.sum(line.qty))
            .where(
                tuple_(line.tenant_id, line.sku_id, line.location_id).in_(keys),
                line.expires_at <= now,
            )
            .group_by(line.tenant_id, line.sku_id, line.location_id)
        )
    }
    return {
        (r.tenant_id, r.sku_id, r.location_id): model.Balance(
            r.on_hand,
            r.reserved - lapsed.get((r.tenant_id, r.sku_id, r.location_id), 0),
            r.in_transit,
            r.safety_stock,
        )
        for r in rows
    }


def _bulk_insert(conn: Connection, dialect: str, table: str, rows: list[dict[str, object]]) -> None:
    """Many rows at once: COPY on PostgreSQL (one round trip instead of one per row),
    executemany on SQLite (in-process, already cheap)."""
    if not rows:
        return
    columns = list(rows[0])
    if dialect != "postgresql":
        conn.execute(insert(Base.metadata.tables[table]), rows)
        return
    cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])


def _apply_batch(
    conn: Connection, dialect: str, requests: list[HoldRequest]
) -> list[str | Exception]:
    groups: dict[tuple[str, str, str], list[int]] = defaultdict(list)
    for i, r in enumerate(requests):
        groups[(r.tenant_id, r.sku_id, r.location_id)].append(i)
    outcomes: list[str | Exception] = [model.OutOfStockError("qty", "not granted")] * len(requests)
    holds: list[dict[str, object]] = []
    lines: list[dict[str, object]] = []
    events: list[dict[str, object]] = []
    now = utcnow()
    balances = _lock_all(conn, dialect, sorted(groups))
    # Quota counters change only under their level's lock: read them once it is held.
    books = rulebooks(conn, {t for t, _s, _l in groups})
    increments: list[dict[str, object]] = []
    draws: dict[str, int] = defaultdict(int)
    for (tenant, sku, location), idx in sorted(groups.items()):
        balance = balances[(tenant, sku, location)]
        granted = 0
        for i in idx:
            r = requests[i]
            try:
                balance, quota = books[tenant].take(balance, r.channel, sku, location, r.qty)
            except model.StockRuleError as exc:
                outcomes[i] = exc
                continue
            hold_id = new_id()
            expires = now + timedelta(seconds=r.ttl_seconds)
            holds.append(
                {
                    "id": hold_id,
                    "tenant_id": tenant,
                    "owner": r.owner,
                    "channel": r.channel,
                    "status": "active",
                    "actor_id": r.actor_id,
                    "expires_at": expires,
                    "created_at": now,
                }
            )
            lines.append(
                {
                    "id": new_id(),
                    "tenant_id": tenant,
                    "reservation_id": hold_id,
                    "sku_id": sku,
                    "location_id": location,
                    "qty": r.qty,
                    "expires_at": expires,
                    "allocation_id": quota and quota.id,
                }
            )
            if quota is not None:
                draws[quota.id] += r.qty
            outcomes[i] = hold_id
            granted += 1
        total = balance.reserved - balances[(tenant, sku, location)].reserved
        if total:
            increments.append({"t": tenant, "s": sku, "l": location, "add": total})
            events.append(
                {
                    "id": new_id(),
                    "tenant_id": tenant,
                    "type": "stock.reserved",
                    "version": 1,
                    "occurred_at": now,
                    "payload": {
                        "sku_id": sku,
                        "location_id": location,
                        "qty": total,
                        "reservations": granted,
                        "available": balance.available,
                    },
                }
            )
    for quota_id, qty in draws.items():
        draw_quota(conn, quota_id, qty)
    if increments:
        c = StockLevel
        conn.execute(
            update(StockLevel)
            .where(
                c.tenant_id == bindparam("t"),
                c.sku_id == bindparam("s"),
                c.location_id == bindparam("l"),
            )
            .values(reserved=c.reserved + bindparam("add"), updated_at=now),
            increments,
        )
    _bulk_insert(conn, dialect, Reservation.__tablename__, holds)
    _bulk_insert(conn, dialect, ReservationLine.__tablename__, lines)
    for start in range(0, len(events), 2000):
        conn.execute(insert(OutboxEvent), events[start : start + 2000])
    return outcomes
