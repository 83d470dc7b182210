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
from typing import Any

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
class Purchase:
    line: int
    customer: str
    day: date
    units: int
    amount: int  # cents (分)


class BadLine(ValueError):
    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"line {line}: {message}")
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
    keys = {f"{source}-{p.line}".upper(): p for p in batch}
    done = set(
        uow.session.scalars(
            select(ProcessedEvent.event_id).where(
                ProcessedEvent.consumer == consumer, ProcessedEvent.event_id.in_(list(keys))
            )
        )
    )
    fresh = [p for key, p in keys.items() if key not in done]
    uow.session.add_all(
        ProcessedEvent(consumer=consumer, event_id=f"{source}-{p.line}".upper()) for p in fresh
    )
    return fresh


def _row(p: Purchase, member: str, source: str, now: datetime) -> dict[str, Any]:
    at = datetime.combine(p.day, time(12), tzinfo=UTC)  # the log has days, not times
    order = f"{source}-{p.line}".upper()
    return events.warehouse_row(
        order,
        "import",
        "purchase",
        at,
        now,
        actor=f"{IdKind.member.value}:{member}",
        member_id=member,
        channel=source,
        order_id=order,
        amount=p.amount,
        qty=p.units,
    )


def load(
    db: Database,
    tenant_id: str,
    purchases: Iterable[Purchase],
    source: str = "cdnow",
    progress: Progress = lambda _step, _done, _total: None,
) -> ImportReport:
    """Members for the customers, then one purchase event per line, by day so the
    warehouse's day partitions fill in order. Running it again adds no member twice."""
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
                row = _row(p, member, source, now)
                links = [[IdKind.member.value, member]]
                rows.append(Buffered(row["event_id"], tenant_id, row, links))
            if rows:
                uow.session.add(collector.held(new_id(), rows, now))
            uow.commit()
        added += len(rows)
        progress("purchases", min(start + BATCH, len(log)), len(log))
    return ImportReport(
        purchases=added,
        already_imported=len(log) - added,
        customers=len(customers),
        new_members=new,
        first_day=log[0].day if log else None,
        last_day=log[-1].day if log else None,
    )
