"""Reading the channel allocation rules (库存分配) where a reservation is decided: the
service's unit of work and the hot path's bare connection alike."""

from __future__ import annotations

from typing import Any, Protocol

from sqlalchemy import Result, bindparam, func, select, update

from zhongtai.inventory import model
from zhongtai.inventory.store import ReservationLine, StockAllocation
from zhongtai.platform.ids import utcnow


class _Executes(Protocol):
    def execute(self, statement: Any, params: Any = None, /) -> Result[Any]: ...


_a, _line = StockAllocation, ReservationLine
_RULES = select(
    _a.id, _a.tenant_id, _a.kind, _a.channel, _a.location_id, _a.sku_id, _a.pct, _a.qty, _a.used
).where(_a.tenant_id.in_(bindparam("tenants", expanding=True)), _a.active.is_(True))
# Rules that bear on some SKUs only: channel sources, rules for every SKU, their own.
_RULES_FOR = _RULES.where(
    (_a.kind == model.AllocationKind.source.value)
    | _a.sku_id.is_(None)
    | _a.sku_id.in_(bindparam("skus", expanding=True))
)
_LAPSED_BY_QUOTA = (
    select(_line.allocation_id.label("quota"), func.sum(_line.qty).label("qty"))
    .where(_line.allocation_id.in_(bindparam("quotas", expanding=True)))
    .where(_line.expires_at <= bindparam("now"))
    .group_by(_line.allocation_id)
)
_DRAW = update(_a).where(_a.id == bindparam("quota")).values(used=_a.used + bindparam("units"))


def rulebooks(
    db: _Executes, tenant_ids: set[str], sku_ids: list[str] | None = None
) -> dict[str, model.Rulebook]:
    """The active allocation rules of each tenant (only those bearing on `sku_ids` when
    given), quotas net of lapsed holds; read with an ORM session or a bare connection
    (the hot path) alike."""
    tenants = list(tenant_ids)
    if sku_ids is None:
        rows = db.execute(_RULES, {"tenants": tenants}).all()
    else:
        rows = db.execute(_RULES_FOR, {"tenants": tenants, "skus": sku_ids}).all()
    quotas = [r.id for r in rows if r.kind == model.AllocationKind.quota]
    lapsed_by_quota: dict[str, int] = {}
    if quotas:
        lapsed_by_quota = {
            row.quota: int(row.qty)
            for row in db.execute(_LAPSED_BY_QUOTA, {"quotas": quotas, "now": utcnow()})
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
    db.execute(_DRAW, {"quota": quota_id, "units": qty})
