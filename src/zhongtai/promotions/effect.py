"""效果评估: what a promotion brought, from the orders that used it, against a baseline.

Two baselines, both simple enough for a merchant to check by hand:
- `pre_period`: sales of the promotion's channels and stores in its window so far, against
  the same channels and stores in a period of the same length just before it started;
- `holdout`: among members who bought in the window, the average spend of those the
  promotion was offered to against those held out (`holdout_bp`), times the buyers it
  was offered to. Members only: guests cannot be held out.
ROI is the incremental sales per fen of discount given.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from zhongtai.inventory import service as inventory
from zhongtai.orders import service as orders
from zhongtai.platform.ids import utcnow
from zhongtai.platform.uow import UnitOfWork
from zhongtai.promotions import service
from zhongtai.promotions.schemas import EffectOut
from zhongtai.promotions.store import PromotionRow


class Baseline(StrEnum):
    pre_period = "pre_period"
    holdout = "holdout"


def evaluate(uow: UnitOfWork, row: PromotionRow, baseline: Baseline) -> EffectOut:
    uses = service.uses_of(uow, row.id)
    sales = orders.sales_of(uow, sorted({u.order_id for u in uses}))
    members = sorted({s.member_key for s in sales if s.member_key})
    firsts = orders.first_orders(uow, members)
    used = {s.order_id for s in sales}
    end = min(utcnow(), row.ends_at)
    window = _window_sales(uow, row, row.starts_at, end)
    if baseline is Baseline.pre_period:
        before = _window_sales(uow, row, row.starts_at - (end - row.starts_at), row.starts_at)
        base = sum(s.total for s in before)
        lift = sum(s.total for s in window) - base
    else:
        base, lift = _holdout(row, window)
    discount = sum(u.amount for u in uses if u.order_id in used)
    return EffectOut(
        promotion=row.code,
        orders=len(sales),
        units=sum(s.units for s in sales),
        sales=sum(s.total for s in sales),
        discount=discount,
        new_members=sum(1 for m in members if firsts.get(m) in used),
        baseline=baseline.value,
        baseline_sales=base,
        incremental_sales=lift,
        roi=round(lift / discount, 4) if discount else None,
    )


def _window_sales(
    uow: UnitOfWork, row: PromotionRow, start: datetime, end: datetime
) -> list[orders.Sale]:
    stores = [inventory.resolve_location(uow, code)[1].id for code in row.stores]
    return orders.sales_between(uow, start, end, row.channels, stores)


def _holdout(row: PromotionRow, window: list[orders.Sale]) -> tuple[int, int]:
    """(baseline, incremental): what the offered buyers would have spent at the held-out
    buyers' average, and what they spent above it."""
    spend: dict[str, int] = {}
    for s in window:
        if s.member_key:
            spend[s.member_key] = spend.get(s.member_key, 0) + s.total
    held = [v for k, v in spend.items() if service.in_holdout(row, k)]
    offered = [v for k, v in spend.items() if not service.in_holdout(row, k)]
    if not held or not offered:
        return 0, 0
    base = sum(held) * len(offered) // len(held)
    return base, sum(offered) - base
