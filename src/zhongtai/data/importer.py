"""Importing a purchase log (历史交易导入): a retailer's past customers become members
(their old customer number as a member card), their purchases become events in the
warehouse, so tags, RFM and model tags run on years of real history.

The log's purchases go through the collector's inbox like any event (the one ingester
owns the warehouse), but as trusted history: no collection-time limits on their age."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from itertools import groupby
from operator import itemgetter
from pathlib import Path
from typing import Any

import pandas as pd
from pydantic import BaseModel
from sqlalchemy import select

from zhongtai.data.collector import model as events
from zhongtai.data.collector import service as collector
from zhongtai.data.collector.stream import Buffered
from zhongtai.data.oneid.model import IdKind
from zhongtai.members import service as members
from zhongtai.members.schemas import MemberIn
from zhongtai.org import service as org
from zhongtai.org.schemas import DictionaryEntryIn
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ValidationFailed
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.outbox import ProcessedEvent
from zhongtai.platform.uow import UnitOfWork

BATCH = 2000  # members or events per transaction
Progress = Callable[[str, int, int], None]


@dataclass(frozen=True)
class Item:
    """One product of a purchase, where the log has them."""

    sku: str
    category: str
    units: int
    amount: int  # cents (分)


@dataclass(frozen=True)
class Purchase:
    line: int  # where the log has it: named in errors, and the key of a log without orders
    customer: str
    day: date
    units: int
    amount: int  # cents (分)
    order: str = ""  # the log's own order (basket) id
    at: datetime | None = None  # when, where the log has times (else noon of `day`)
    store: str = ""
    items: tuple[Item, ...] = ()

    def key(self, source: str) -> str:
        """The purchase's order id in the platform: the same on every import."""
        return f"{source}-{self.order or self.line}".upper()


class BadLine(ValueError):
    """A log the importer refuses, naming the line where it has lines (`line` > 0)."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}" if line else message)
        self.line = line


def read_cdnow(lines: Iterable[str]) -> Iterator[Purchase]:
    """CDNOW's log: customer id, date (YYYYMMDD), number of CDs, dollar value; a header
    line is allowed. A malformed line stops the import, naming the line."""
    for number, text in enumerate(lines, start=1):
        fields = text.split()
        if not fields or (number == 1 and not fields[0].isdigit()):
            continue
        if len(fields) != 4:
            raise BadLine(number, "expected customer, date, units and value")
        customer, day, units, value = fields
        try:
            parsed = datetime.strptime(day, "%Y%m%d").date()
            cents = int(Decimal(value) * 100)
            count = int(units)
        except (ValueError, InvalidOperation) as exc:
            raise BadLine(number, str(exc)) from exc
        if count < 0 or cents < 0:
            raise BadLine(number, "units and value must not be negative")
        yield Purchase(number, customer, parsed, count, cents)


_JOURNEY = (  # the transaction columns read, in the order the reader takes them
    "basket_id",
    "household_id",
    "product_id",
    "quantity",
    "sales_value",
    "store_id",
    "transaction_timestamp",
)


def read_complete_journey(transactions: Path, products: Path) -> Iterator[Purchase]:
    """dunnhumby's The Complete Journey (the R package `completejourney`'s .rda files):
    a household's basket becomes one purchase at its store and time, its transaction
    lines the items, each in its product's category (its department where it has none).
    Times are the log's own (US local, kept as UTC)."""
    lines = _frame(transactions)
    missing = set(_JOURNEY) - set(lines.columns)
    if missing:
        raise BadLine(0, f"transactions without the columns {sorted(missing)}")
    catalogue = _frame(products)
    kinds = catalogue["product_category"].fillna(catalogue["department"]).fillna("")
    category = dict(zip(catalogue["product_id"].astype(str), kinds.astype(str), strict=True))
    try:  # R's POSIXct, or text where a writer kept times as text
        lines["transaction_timestamp"] = pd.to_datetime(lines["transaction_timestamp"])
    except (ValueError, TypeError) as exc:
        raise BadLine(0, f"transaction_timestamp: not times ({exc})") from exc
    columns = [lines[c].tolist() for c in _JOURNEY]
    rows = sorted(zip(*columns, strict=True), key=itemgetter(0))
    baskets = [_basket(list(group), category) for _b, group in groupby(rows, itemgetter(0))]
    yield from sorted(baskets, key=lambda p: (p.at, p.order))


def _basket(rows: list[tuple[Any, ...]], category: dict[str, str]) -> Purchase:
    items = tuple(
        Item(str(product), category.get(str(product), ""), round(qty), round(value * 100))
        for _b, _h, product, qty, value, _s, _t in rows
    )
    basket, household, _p, _q, _v, store, _t = rows[0]
    if any(i.units < 0 or i.amount < 0 for i in items):
        raise BadLine(0, f"basket {basket}: quantities and values must not be negative")
    at = min(r[6] for r in rows).to_pydatetime().replace(tzinfo=UTC)  # pandas' Timestamp
    units, amount = sum(i.units for i in items), sum(i.amount for i in items)
    return Purchase(0, str(household), at.date(), units, amount, str(basket), at, str(store), items)


def _frame(path: Path) -> Any:
    import pyreadr  # only this importer reads R's files

    try:
        frames = pyreadr.read_r(str(path))
    except (
        pyreadr.custom_errors.PyreadrError,
        pyreadr.custom_errors.LibrdataError,
        OSError,
    ) as exc:
        raise BadLine(0, f"{path.name}: not an R data file ({exc})") from exc
    if len(frames) != 1:
        raise BadLine(0, f"{path.name}: expected one table, found {len(frames)}")
    return next(iter(frames.values()))


class ImportReport(BaseModel):
    purchases: int
    already_imported: int
    customers: int
    new_members: int
    first_day: date | None
    last_day: date | None


def _members(
    db: Database, tenant_id: str, source: str, customers: Sequence[str], progress: Progress
) -> tuple[dict[str, str], int]:
    """Each customer's member id: found by card, or registered with it (in the log's own
    channel, added to the dictionary if the tenant does not have it)."""
    with UnitOfWork(db, tenant_id) as uow:
        try:
            org.require_entry(uow, "channel", source, "source")
        except ValidationFailed:
            org.add_entry(
                uow, "channel", DictionaryEntryIn(code=source, label=f"{source} (imported)")
            )
            uow.commit()
    ids: dict[str, str] = {}
    new = 0
    for start in range(0, len(customers), BATCH):
        with UnitOfWork(db, tenant_id) as uow:
            for customer in customers[start : start + BATCH]:
                card = f"{source}-{customer}".upper()
                found = members.find(uow, card)
                if found is None:
                    found = members.register(uow, MemberIn(channel=source, card=card))
                    new += 1
                ids[customer] = found.id
            uow.commit()
        progress("members", min(start + BATCH, len(customers)), len(customers))
    return ids, new


def _not_yet(uow: UnitOfWork, source: str, batch: Sequence[Purchase]) -> list[Purchase]:
    """The purchases of the batch not imported before, now marked as imported (in the
    same transaction as their events): an import run twice adds nothing the second time."""
    consumer = f"import:{uow.tenant_id}:{source}"
    keys = {p.key(source): p for p in batch}
    done = set(
        uow.session.scalars(
            select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer == consumer, ProcessedEvent.event_id.in_(list(keys))
            )
        )
    )
    fresh = [p for key, p in keys.items() if key not in done]
    uow.session.add_all(ProcessedEvent(consumer=consumer, event_id=p.key(source)) for p in fresh)
    return fresh


def _rows(p: Purchase, member: str, source: str, now: datetime) -> list[dict[str, Any]]:
    """The purchase as a warehouse row, and one `order.line` row per item it lists (as an
    order placed on the platform gives them)."""
    at = p.at or datetime.combine(p.day, time(12), tzinfo=UTC)  # CDNOW has days only
    order = p.key(source)
    head = events.warehouse_row(
        order,
        "import",
        "purchase",
        at,
        now,
        actor=f"{IdKind.member.value}:{member}",
        member_id=member,
        channel=source,
        store=p.store,
        order_id=order,
        amount=p.amount,
        qty=p.units,
    )
    return [head] + [
        head
        | {"event_id": f"{order}:{i}", "type": "order.line", "sku": item.sku}
        | {"category": item.category, "qty": item.units, "amount": item.amount}
        for i, item in enumerate(p.items)
    ]


def load(
    db: Database,
    tenant_id: str,
    purchases: Iterable[Purchase],
    source: str = "cdnow",
    progress: Progress = lambda _step, _done, _total: None,
) -> ImportReport:
    """Members for the customers, then one purchase event per purchase (with its items'
    rows), by day so the warehouse's day partitions fill in order. Running it again adds
    no member and no purchase twice."""
    log = sorted(purchases, key=lambda p: (p.day, p.line))
    customers = sorted({p.customer for p in log})
    member_of, new = _members(db, tenant_id, source, customers, progress)
    now, added = utcnow(), 0
    for start in range(0, len(log), BATCH):
        with UnitOfWork(db, tenant_id) as uow:
            fresh = _not_yet(uow, source, log[start : start + BATCH])
            rows = []
            for p in fresh:
                member = member_of[p.customer]
                links = [[IdKind.member.value, member]]
                made = _rows(p, member, source, now)
                rows += [
                    Buffered(r["event_id"], tenant_id, r, links if r is made[0] else [])
                    for r in made
                ]
            if rows:
                uow.session.add(collector.held(new_id(), rows, now))
            uow.commit()
        added += len(fresh)
        progress("purchases", min(start + BATCH, len(log)), len(log))
    return ImportReport(
        purchases=added,
        already_imported=len(log) - added,
        customers=len(customers),
        new_members=new,
        first_day=log[0].day if log else None,
        last_day=log[-1].day if log else None,
    )
