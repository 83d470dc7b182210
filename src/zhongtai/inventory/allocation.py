"""Reading the channel allocation rules (库存分配) where a reservation is decided: the
service's unit of work and the hot path's bare connection alike."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Result, func, select, update

from zhongtai.inventory import model
from zhongtai.inventory.store import ReservationLine, StockAllocation
from zhongtai.platform.ids import utcnow


class _Executes(Protocol):
    def execute(self, statement: Any, /) -> Result[Any]: ...


def rulebooks(db: _Executes, tenant_ids: set[str]) -> dict[str, model.Rulebook]:
    """The active allocation rules of each tenant, quotas net of lapsed holds; read with
    an ORM session or a bare connection (the hot path) alike."""
    a, line = StockAllocation, ReservationLine
    rows = db.execute(
        select(
            a.id, a.tenant_id, a.kind, a.channel, a.location_id, a.sku_id, a.pct, a.qty, a.used
        ).where(a.tenant_id.in_(tenant_ids), a.active.is_(True))
    ).all()
    quotas = [r.id for r in rows if r.kind == model.AllocationKind.quota]
    lapsed_by_quota: dict[str, int] = {}
    if quotas:
        lapsed_by_quota = {
            row.quota: int(row.qty)
            for row in db.execute(
                select(line.allocation_id.label("quota"), func.sum(line.qty).label("qty"))
                .where(line.allocation_id.in_(quotas), line.expires_at <= utcnow())
                .group_by(line.allocation_id)
            )
        }
    rules: dict[str, list[model.Allocation]] = {t: [] for t in tenant_ids}
    for r in rows:
        rules[r.tenant_id].append(
            model.Allocation(
                id=r.id,
                kind=model.AllocationKind(r.kind),
                channel=r.channel,
                location_id=r.location_id,
                sku_id=r.sku_id,
                pct=r.pct,
                qty=r.qty,
                used=r.used - lapsed_by_quota.get(r.id, 0),
            )
        )
    return {t: model.Rulebook(found) for t, found in rules.items()}


def draw_quota(db: _Executes, quota_id: str, qty: int) -> None:
    """Count units against a quota (negative: give them back); a single UPDATE, so it is
    safe beside the hot path's batches."""
    a = StockAllocation
    db.execute(update(a).where(a.id == quota_id).values(used=a.used + qty))
