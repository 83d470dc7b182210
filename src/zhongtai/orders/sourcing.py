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
which already leaves safety stock, holds and other channels' quotas alone. Costs are
never negative (the pruning below relies on it).

An integer program solved by HiGHS finds the cheapest plan. To answer within a checkout:
1. a quick search (greedy constructions, then dropping, adding and swapping locations)
   finds a good plan first: its cost bounds what the optimum may cost;
2. locations that cannot be in any plan that cheap are left out of the program (a lower
   bound on the cost of any plan using them exceeds it), and the program is told the
   least number of parcels such a plan needs: both leave every plan at least that cheap
   in, so the optimum is not lost;
3. HiGHS starts from the plan of step 1 and proves it optimal or finds a cheaper one.

`Plan.method` says what the answer is worth:
- "optimal": HiGHS proved no plan is cheaper (within its 0.01 % gap tolerance);
- "best-found": the solver ran out of time before proving it, but the best plan found
  is cheaper than greedy's;
- "greedy": nothing better than the greedy plan (nearest location first, as most
  platforms do) was found in time.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

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
    method: str  # "optimal", "best-found" or "greedy": see the module docstring
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
        if (held := sum(max(0, c.stock.get(sku, 0)) for c in candidates)) < qty
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
            take = min(qty, max(0, c.stock.get(sku, 0)))  # an oversold level offers none
            if take:
                plan.setdefault(c.location_id, {})[sku] = take
                qty -= take
            if not qty:
                break
    by_id = {c.location_id: c for c in candidates}
    return Plan(plan, plan_cost(plan, by_id, costs), "greedy", _explain(plan, by_id, costs))


@dataclass(frozen=True)
class _Order:
    """The order as plain lists, which the search and the program index by position.
    Locations are sorted cheapest unit first (then as greedy sorts them), so a sorted list
    of positions is the order in which to take units."""

    sites: list[Candidate]
    skus: list[str]
    qty: list[int]
    cap: list[list[int]]  # cap[l][s]: units of SKU s location l can give (at most the line)
    fixed: list[float]
    unit: list[float]


def _order(lines: Mapping[str, int], candidates: list[Candidate], costs: Costs) -> _Order:
    skus = list(lines)
    qty = [max(0, lines[s]) for s in skus]
    key = {c.location_id: (_unit(c, costs), c.distance_m, c.code) for c in candidates}
    caps = {
        c.location_id: [max(0, min(q, c.stock.get(s, 0))) for s, q in zip(skus, qty, strict=True)]
        for c in candidates
    }
    sites = sorted(
        (c for c in candidates if any(caps[c.location_id])), key=lambda c: key[c.location_id]
    )
    return _Order(
        sites=sites,
        skus=skus,
        qty=qty,
        cap=[caps[c.location_id] for c in sites],
        fixed=[_fixed(c, costs) for c in sites],
        unit=[_unit(c, costs) for c in sites],
    )


def _cost(o: _Order, chosen: Sequence[int], cutoff: float = math.inf) -> float:
    """The cheapest plan shipping from `chosen` only (sorted positions), infinite if they
    do not hold the order or it costs `cutoff` or more: each line from the cheapest units
    first is optimal, as lines do not interact once the locations are chosen. The hot
    loop of the search, hence plain code and the early way out."""
    total, used = 0.0, set()
    for s, need in enumerate(o.qty):
        for loc in chosen:
            if not need:
                break
            got = o.cap[loc][s]
            if got:
                take = need if need < got else got
                total += take * o.unit[loc]
                if loc not in used:
                    used.add(loc)
                    total += o.fixed[loc]
                need -= take
        if need or total >= cutoff:
            return math.inf
    return total


def _shipments(o: _Order, chosen: Sequence[int]) -> dict[int, dict[int, int]]:
    """The plan `_cost` prices: position -> SKU position -> units (shipping ones only)."""
    out: dict[int, dict[int, int]] = {}
    for s, need in enumerate(o.qty):
        for loc in chosen:
            take = min(need, o.cap[loc][s])
            if take:
                out.setdefault(loc, {})[s] = take
                need -= take
    return out


def _used(o: _Order, chosen: Sequence[int]) -> list[int]:
    return sorted(_shipments(o, chosen))


def _construct(o: _Order) -> list[int]:
    """Set-cover greedy: add the location with the lowest cost per unit it still brings
    until the order is held."""
    chosen, need = [], list(o.qty)
    while any(need):
        best, pick = math.inf, 0
        for loc, cap in enumerate(o.cap):
            brings = sum(min(n, c) for n, c in zip(need, cap, strict=True))
            if brings and loc not in chosen and o.fixed[loc] / brings + o.unit[loc] < best:
                best, pick = o.fixed[loc] / brings + o.unit[loc], loc
        if best == math.inf:  # cannot happen once `_check` passed; never loop forever
            return list(range(len(o.cap)))
        chosen.append(pick)
        need = [max(0, n - c) for n, c in zip(need, o.cap[pick], strict=True)]
    return sorted(chosen)


def _neighbours(chosen: list[int], allowed: Sequence[int]) -> list[list[int]]:
    """Drop one location; add one; swap one for one; swap two for one (the move that
    merges two parcels into one, which single swaps cannot reach)."""
    out = [[x for x in chosen if x != d] for d in chosen]
    pairs = [(a, b) for i, a in enumerate(chosen) for b in chosen[i + 1 :]]
    for new in allowed:
        if new in chosen:
            continue
        out.append(sorted([*chosen, new]))
        out.extend(sorted([*(x for x in chosen if x != d), new]) for d in chosen)
        out.extend(sorted([*(x for x in chosen if x not in (a, b)), new]) for a, b in pairs)
    return out


def _improve(
    o: _Order, chosen: list[int], allowed: Sequence[int], deadline: float
) -> tuple[float, list[int]]:
    """Best-improvement local search until no neighbour is cheaper (or time is up)."""
    best = _cost(o, chosen)
    while time.perf_counter() < deadline:
        step, move = best, chosen
        for near in _neighbours(chosen, allowed):
            cost = _cost(o, near, step)
            if cost < step:
                step, move = cost, near
        if step >= best:
            break
        best, chosen = step, _used(o, move)
    return best, chosen


def _search(o: _Order, nearest: list[int], deadline: float) -> tuple[float, list[int]]:
    """A good plan, fast: local search from greedy's plan and from a set-cover
    construction, among the locations that may be in a plan cheaper than either."""
    everyone = list(range(len(o.sites)))
    starts = [nearest, _construct(o)]
    bound = min(_cost(o, start) for start in starts)
    limit = _limit(bound)
    # one cheap pass, no pair check: only narrows the moves, the real pruning comes after
    allowed = _within(o, everyone, _at_least(o, everyone, 1, limit), limit, starts[0])
    best = min(_improve(o, start, allowed, deadline) for start in starts)
    return best[0], _used(o, best[1])


def _lower_bounds(o: _Order, alive: list[int], parcels: int) -> list[float]:
    """For each alive location, a lower bound on any plan that uses it and has at least
    `parcels` parcels from `alive`: its own fixed cost; the cheapest fixed costs of the
    other parcels (at least `parcels - 1` of them, and one holding each line it cannot
    give whole); every unit at the cheapest unit cost of a location holding that SKU."""
    units = sum(
        q * min((o.unit[loc] for loc in alive if o.cap[loc][s]), default=math.inf)
        for s, q in enumerate(o.qty)
        if q
    )
    fixed = sorted(o.fixed[loc] for loc in alive)[:parcels]
    holders = [
        sorted((o.fixed[loc], loc) for loc in alive if o.cap[loc][s])[:2] for s in range(len(o.qty))
    ]
    out = []
    for loc in alive:
        own = o.fixed[loc]
        others = sum(fixed) - (own if own <= fixed[-1] else fixed[-1]) if parcels > 1 else 0.0
        for s, q in enumerate(o.qty):
            if o.cap[loc][s] < q:
                other = [f for f, x in holders[s] if x != loc]
                others = max(others, other[0] if other else math.inf)
        out.append(own + others + units)
    return out


def _at_least(o: _Order, alive: list[int], parcels: int, limit: float) -> int:
    """`parcels`, or one more when no plan costing at most `limit` has that few parcels.
    Checked up to two parcels: trying every triple would cost more time than it saves."""
    if parcels == 1 and all(_cost(o, [loc], limit) > limit for loc in alive):
        return 2
    if parcels == 2:
        # no single location is cheap enough, so a cheap enough pair ships from both
        pairs = ((a, b) for i, a in enumerate(alive) for b in alive[i + 1 :])
        cheap = any(
            o.fixed[a] + o.fixed[b] <= limit and _cost(o, [a, b], limit) <= limit for a, b in pairs
        )
        return 2 if cheap else 3
    return parcels


def _limit(bound: float) -> float:
    return bound + 1e-9 * max(1.0, abs(bound))  # so that plans tying with `bound` stay in


def _within(
    o: _Order, alive: list[int], parcels: int, limit: float, keep: Sequence[int]
) -> list[int]:
    """The alive locations whose lower bound is within `limit`, and those of `keep`."""
    lows = _lower_bounds(o, alive, parcels)
    return [loc for loc, low in zip(alive, lows, strict=True) if low <= limit or loc in keep]


def _prune(o: _Order, bound: float, keep: Sequence[int]) -> tuple[list[int], int]:
    """The locations that may be in a plan costing at most `bound`, and the least number
    of parcels of such a plan. `keep` (a plan that cheap) is always kept: it is the
    program's starting solution. Repeats while either answer sharpens the other."""
    limit = _limit(bound)
    alive, parcels = list(range(len(o.sites))), 1
    while True:
        kept = _within(o, alive, parcels, limit, keep)
        more = _at_least(o, kept, parcels, limit)
        if len(kept) == len(alive) and more == parcels:
            return kept, parcels
        alive, parcels = kept, more


def _pairs(o: _Order, alive: list[int]) -> list[tuple[int, int]]:
    """(position in `alive`, SKU position) for every x column of the program, in order."""
    return [(i, s) for i, loc in enumerate(alive) for s in range(len(o.qty)) if o.cap[loc][s]]


def _rows(
    o: _Order, alive: list[int], parcels: int
) -> list[tuple[list[int], list[float], float, float]]:
    """(columns, coefficients, lower, upper) of x[l, s] - cap * y[l] <= 0, of every line
    met, and of at least `parcels` locations shipping."""
    n, inf = len(alive), highspy.kHighsInf
    rows = []
    by_sku: list[list[int]] = [[] for _ in o.qty]
    for j, (i, s) in enumerate(_pairs(o, alive)):
        rows.append(([i, n + j], [-float(o.cap[alive[i]][s]), 1.0], -inf, 0.0))
        by_sku[s].append(n + j)
    for cols, q in zip(by_sku, o.qty, strict=True):
        rows.append((cols, [1.0] * len(cols), float(q), float(q)))
    if parcels > 1:
        rows.append((list(range(n)), [1.0] * n, float(parcels), inf))
    return rows


def _program(o: _Order, alive: list[int], parcels: int) -> highspy.HighsLp:
    """y[l] (binary: l ships) for l in `alive`, then x[l, s] (units) where l holds s;
    minimise fixed * y + unit * x. x may be continuous: once y is fixed, each line is one
    equality over integer bounds, so optimal vertices are integral (and the plan is
    rebuilt from y anyway), and HiGHS branches on y only. Built as arrays in one go,
    which is several times faster than highspy's expression API."""
    pairs, n = _pairs(o, alive), len(alive)
    rows = _rows(o, alive, parcels)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = n + len(pairs), len(rows)
    lp.col_cost_ = [o.fixed[loc] for loc in alive] + [o.unit[alive[i]] for i, _ in pairs]
    lp.col_lower_ = [0.0] * lp.num_col_
    lp.col_upper_ = [1.0] * n + [float(o.cap[alive[i]][s]) for i, s in pairs]
    kinds = highspy.HighsVarType
    lp.integrality_ = [kinds.kInteger] * n + [kinds.kContinuous] * len(pairs)
    lp.row_lower_, lp.row_upper_ = [r[2] for r in rows], [r[3] for r in rows]
    lp.a_matrix_.format_ = highspy.MatrixFormat.kRowwise
    lp.a_matrix_.start_ = [0, *accumulate(len(r[0]) for r in rows)]
    lp.a_matrix_.index_ = [c for r in rows for c in r[0]]
    lp.a_matrix_.value_ = [v for r in rows for v in r[1]]
    return lp


def _start(o: _Order, alive: list[int], chosen: list[int]) -> highspy.HighsSolution:
    """The search's plan as the program's first incumbent."""
    ships = _shipments(o, chosen)
    values = [1.0 if loc in ships else 0.0 for loc in alive]
    values += [float(ships.get(alive[i], {}).get(s, 0)) for i, s in _pairs(o, alive)]
    solution = highspy.HighsSolution()
    solution.col_value = values
    solution.value_valid = True
    return solution


# HiGHS's own primal heuristics (its sub-MIPs above all) took most of the solve time
# although it starts from the search's plan, which is optimal or close: off. Restarts
# (presolving again after fixing columns) cost more than they saved on these small models.
# One thread: its worker threads burnt about 8 ms of CPU per checkout on the other core,
# which the web server needs, for no gain in time on models this small.
_OPTIONS: dict[str, bool | float | int] = {
    "threads": 1,
    "mip_allow_restart": False,
    "mip_heuristic_effort": 0.0,
    "mip_heuristic_run_rins": False,
    "mip_heuristic_run_rens": False,
    "mip_heuristic_run_root_reduced_cost": False,
    "mip_heuristic_run_feasibility_jump": False,
}


def _solve(
    o: _Order, alive: list[int], parcels: int, start: list[int], seconds: float
) -> tuple[bool, list[int]]:
    """Whether HiGHS proved optimality, and the locations of the best plan it holds."""
    h = highspy.Highs()  # type: ignore[no-untyped-call]
    h.silent()
    for name, value in _OPTIONS.items():
        h.setOptionValue(name, value)
    h.setOptionValue("time_limit", max(seconds, 0.0))
    h.passModel(_program(o, alive, parcels))
    h.setSolution(_start(o, alive, start))
    h.run()
    solution = h.getSolution()
    if not solution.value_valid:
        return False, start
    proven = h.getModelStatus() == highspy.HighsModelStatus.kOptimal
    ships = solution.col_value[: len(alive)]
    return proven, [loc for loc, y in zip(alive, ships, strict=True) if y > 0.5]


def _plan(o: _Order, chosen: list[int], costs: Costs, method: str) -> Plan:
    plan = {
        o.sites[loc].location_id: {o.skus[s]: n for s, n in units.items()}
        for loc, units in _shipments(o, chosen).items()
    }
    by_id = {c.location_id: c for c in o.sites}
    return Plan(plan, plan_cost(plan, by_id, costs), method, _explain(plan, by_id, costs))


def source(
    lines: Mapping[str, int],
    candidates: list[Candidate],
    costs: Costs | None = None,
    time_limit_s: float = 0.5,
) -> Plan:
    """The cheapest plan, by a mixed-integer program: x[l, s] units of SKU s from
    location l, y[l] = 1 if l ships; minimise the sum of y[l] * fixed(l) + x[l, s] *
    unit(l) subject to every line met and x[l, s] <= min(stock, qty) * y[l], solved as
    the module docstring says. `time_limit_s` is for the whole call: the local search
    stops at half of it at the latest and HiGHS gets what is left (the constructions and
    the pruning, a few milliseconds, are not cut short)."""
    began = time.perf_counter()
    costs = costs or Costs()
    fallback = greedy(lines, candidates, costs)  # raises Unsourceable when it must
    o = _order(lines, candidates, costs)
    if not o.sites:
        return fallback
    position = {c.location_id: i for i, c in enumerate(o.sites)}
    nearest = sorted(position[loc] for loc in fallback.shipments if loc in position)
    bound, found = _search(o, nearest, began + time_limit_s / 2)
    alive, parcels = _prune(o, bound, found)
    left = time_limit_s - (time.perf_counter() - began)
    proven, chosen = _solve(o, alive, parcels, found, left)
    cost = _cost(o, chosen)
    if proven and cost < math.inf:
        return _plan(o, chosen, costs, "optimal")
    if min(cost, bound) < fallback.cost - 1e-9 * max(1.0, fallback.cost):
        return _plan(o, chosen if cost < bound else found, costs, "best-found")
    return fallback
