"""Smart sourcing (智能路由): which locations fulfil an order, at the least documented cost.

Pure: the caller gathers the candidates (locations allowed for the channel and the
fulfilment type, with what each may promise of every SKU) and gets back a plan.

The cost of a plan, in points (think: fen of handling and delivery cost):
- `parcel` for every location that ships something: each is a parcel to pick, pack and
  deliver, so needless splits cost;
- `per_km` for every kilometre between a shipping location and the customer, per parcel
  (delivery time and cost grow with distance);
- `per_queued` for every fulfilment order already waiting at that location (store
  workload: a busy store is slower and its staff also serve the shop floor);
- `per_unit_km` for every unit and kilometre (heavier parcels cost more to carry).
Safety stock is never planned: candidates only offer what their channel may promise,
which already leaves safety stock, holds and other channels' quotas alone.

An integer program solved by HiGHS finds the cheapest plan; when the solver cannot
answer in time, a greedy plan (nearest location first, as most platforms do) is used
and the plan says so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import highspy


@dataclass(frozen=True)
class Candidate:
    location_id: str
    code: str
    distance_m: float  # to the customer; 0 where distance does not matter (in store)
    stock: Mapping[str, int]  # SKU id -> units this channel may promise here
    queued: int = 0  # fulfilment orders already waiting here


@dataclass(frozen=True)
class Costs:
    parcel: int = 1_000
    per_km: int = 150
    per_queued: int = 50
    per_unit_km: int = 5


@dataclass(frozen=True)
class Plan:
    """Units per location and SKU, what the plan costs, how it was found, and for each
    location why it was chosen."""

    shipments: dict[str, dict[str, int]]
    cost: float
    method: str  # "optimal", or "greedy" when the solver gave no answer in time
    reasons: dict[str, str] = field(default_factory=dict)

    @property
    def parcels(self) -> int:
        return len(self.shipments)


class Unsourceable(Exception):
    """No combination of candidates holds the order: `short` maps SKU id to units missing."""

    def __init__(self, short: dict[str, int]) -> None:
        super().__init__(f"not enough stock for {sorted(short)}")
        self.short = short


def _fixed(c: Candidate, costs: Costs) -> float:
    return costs.parcel + costs.per_km * c.distance_m / 1000 + costs.per_queued * c.queued


def _unit(c: Candidate, costs: Costs) -> float:
    return costs.per_unit_km * c.distance_m / 1000


def plan_cost(
    shipments: Mapping[str, Mapping[str, int]], by_id: Mapping[str, Candidate], costs: Costs
) -> float:
    """The documented cost of any plan (the solver's objective, the same formula)."""
    return sum(
        _fixed(by_id[loc], costs) + _unit(by_id[loc], costs) * sum(units.values())
        for loc, units in shipments.items()
        if any(units.values())
    )


def _check(lines: Mapping[str, int], candidates: list[Candidate]) -> None:
    short = {
        sku: qty - held
        for sku, qty in lines.items()
        if (held := sum(c.stock.get(sku, 0) for c in candidates)) < qty
    }
    if short:
        raise Unsourceable(short)


def _explain(
    plan: dict[str, dict[str, int]], by_id: Mapping[str, Candidate], costs: Costs
) -> dict[str, str]:
    out = {}
    for loc, units in plan.items():
        c = by_id[loc]
        out[loc] = (
            f"{c.code}: {sum(units.values())} units of {len(units)} SKUs, "
            f"{c.distance_m / 1000:.1f} km away, {c.queued} orders queued, "
            f"cost {_fixed(c, costs) + _unit(c, costs) * sum(units.values()):.0f}"
        )
    return out


def greedy(lines: Mapping[str, int], candidates: list[Candidate], costs: Costs) -> Plan:
    """Nearest location first, line by line: what most platforms do; splits whenever the
    nearest cannot give a whole line."""
    _check(lines, candidates)
    nearest = sorted(candidates, key=lambda c: (c.distance_m, c.code))
    plan: dict[str, dict[str, int]] = {}
    for sku, qty in lines.items():
        for c in nearest:
            take = min(qty, c.stock.get(sku, 0))
            if take:
                plan.setdefault(c.location_id, {})[sku] = take
                qty -= take
            if not qty:
                break
    by_id = {c.location_id: c for c in candidates}
    return Plan(plan, plan_cost(plan, by_id, costs), "greedy", _explain(plan, by_id, costs))


def source(
    lines: Mapping[str, int],
    candidates: list[Candidate],
    costs: Costs | None = None,
    time_limit_s: float = 0.5,
) -> Plan:
    """The cheapest plan, by a mixed-integer program: x[l, s] units of SKU s from
    location l, y[l] = 1 if l ships; minimise the sum of y[l] * fixed(l) + x[l, s] *
    unit(l) subject to every line met and x[l, s] <= min(stock, qty) * y[l]."""
    costs = costs or Costs()
    _check(lines, candidates)
    useful = [c for c in candidates if any(c.stock.get(s, 0) > 0 for s in lines)]
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.silent()
    h.setOptionValue("time_limit", time_limit_s)
    ships = {c.location_id: h.addBinary(obj=_fixed(c, costs)) for c in useful}
    units: dict[tuple[str, str], highspy.highs_var] = {}
    for c in useful:
        for sku, qty in lines.items():
            cap = min(qty, c.stock.get(sku, 0))
            if cap > 0:
                x = h.addIntegral(lb=0, ub=cap, obj=_unit(c, costs))
                units[(c.location_id, sku)] = x
                h.addConstr(x <= cap * ships[c.location_id])
    for sku, qty in lines.items():
        h.addConstr(h.qsum(x for (_loc, s), x in units.items() if s == sku) == qty)
    h.run()
    solved = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    if not solved:
        return greedy(lines, candidates, costs)
    values = h.getSolution().col_value
    plan: dict[str, dict[str, int]] = {}
    for (loc, sku), x in units.items():
        got = round(values[x.index])
        if got:
            plan.setdefault(loc, {})[sku] = got
    by_id = {c.location_id: c for c in candidates}
    return Plan(plan, plan_cost(plan, by_id, costs), "optimal", _explain(plan, by_id, costs))
