"""Use cases of the price service; each runs inside the caller's unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select

from zhongtai.platform.errors import ValidationFailed
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import model
from zhongtai.pricing.store import PriceRow


@dataclass(frozen=True)
class PriceChange:
    sku_id: str
    amount: int
    currency: str
    channel: str | None = None
    store_id: str | None = None
    member_tier: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    def key(self) -> tuple[object, ...]:
        return (self.channel, self.store_id, self.member_tier, self.valid_from, self.valid_to)


def rule_of(row: PriceRow) -> model.PriceRule:
    return model.PriceRule(
        row.id,
        row.amount,
        row.currency,
        row.channel,
        row.store_id,
        row.member_tier,
        row.valid_from,
        row.valid_to,
    )


def _key(row: PriceRow) -> tuple[object, ...]:
    return (row.channel, row.store_id, row.member_tier, row.valid_from, row.valid_to)


def current_rows(uow: UnitOfWork, sku_ids: list[str]) -> list[PriceRow]:
    query = select(PriceRow).where(PriceRow.sku_id.in_(sku_ids), PriceRow.superseded_by.is_(None))
    return list(uow.session.scalars(query).all())


def current_base_rows(uow: UnitOfWork, sku_ids: list[str] | None = None) -> list[PriceRow]:
    """Current base prices (no channel, store, tier or time), of these SKUs or of all."""
    query = select(PriceRow).where(
        PriceRow.superseded_by.is_(None),
        PriceRow.channel.is_(None),
        PriceRow.store_id.is_(None),
        PriceRow.member_tier.is_(None),
        PriceRow.valid_from.is_(None),
        PriceRow.valid_to.is_(None),
    )
    if sku_ids is not None:
        query = query.where(PriceRow.sku_id.in_(sku_ids))
    return list(uow.session.scalars(query).all())


def set_price(uow: UnitOfWork, change: PriceChange) -> PriceRow:
    """Set a price; the rule it replaces is kept as history. Setting the same amount again
    changes nothing (so re-running an import is harmless)."""
    problems = model.problems(
        model.PriceRule(
            "",
            change.amount,
            change.currency,
            valid_from=change.valid_from,
            valid_to=change.valid_to,
        )
    )
    for field, message in problems:
        raise ValidationFailed(field, message)
    old = next((r for r in current_rows(uow, [change.sku_id]) if _key(r) == change.key()), None)
    if old is not None and old.amount == change.amount and old.currency == change.currency:
        return old
    row = PriceRow(
        sku_id=change.sku_id,
        amount=change.amount,
        currency=change.currency,
        channel=change.channel,
        store_id=change.store_id,
        member_tier=change.member_tier,
        valid_from=change.valid_from,
        valid_to=change.valid_to,
        set_by=uow.actor_id,
    )
    uow.session.add(row)
    uow.session.flush()
    if old is not None:
        old.superseded_by = row.id
    uow.emit(
        "price.changed",
        {
            "sku_id": change.sku_id,
            "price_id": row.id,
            "amount": change.amount,
            "previous_amount": old.amount if old else None,
            "currency": change.currency,
            "channel": change.channel,
            "store_id": change.store_id,
            "member_tier": change.member_tier,
            "valid_from": change.valid_from.isoformat() if change.valid_from else None,
            "valid_to": change.valid_to.isoformat() if change.valid_to else None,
        },
    )
    return row


def resolve(uow: UnitOfWork, sku_id: str, query: model.PriceQuery) -> PriceRow | None:
    """The price row that applies to this query (see pricing.model for the order)."""
    return resolve_many(uow, [sku_id], query)[sku_id]


def resolve_many(
    uow: UnitOfWork, sku_ids: list[str], query: model.PriceQuery
) -> dict[str, PriceRow | None]:
    """`resolve` for several SKUs with one read of their current rows."""
    by_sku: dict[str, list[PriceRow]] = {sku_id: [] for sku_id in sku_ids}
    for row in current_rows(uow, sku_ids):
        by_sku[row.sku_id].append(row)
    out: dict[str, PriceRow | None] = {}
    for sku_id, rows in by_sku.items():
        chosen = model.resolve((rule_of(r) for r in rows), query)
        out[sku_id] = next((r for r in rows if chosen and r.id == chosen.id), None)
    return out


def base_prices(uow: UnitOfWork, sku_ids: list[str]) -> dict[str, int]:
    """The base price of each SKU that has one (one current base rule per SKU)."""
    return {r.sku_id: r.amount for r in current_base_rows(uow, sku_ids)}


def history(uow: UnitOfWork, sku_id: str) -> list[PriceRow]:
    query = select(PriceRow).where(PriceRow.sku_id == sku_id).order_by(PriceRow.id)
    return list(uow.session.scalars(query).all())
