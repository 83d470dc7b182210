"""Smart sourcing: the solver's plan is feasible, never dearer than greedy, and optimal
(checked against trying every set of locations on small instances); pruning never drops
a location of an optimal plan; the plan's method says honestly what it is worth."""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhongtai.orders import sourcing
from zhongtai.orders.sourcing import (
    Candidate,
    Costs,
    Unsourceable,
    greedy,
    plan_cost,
    source,
)

SKUS = ("a", "b", "c")


def costs_by_set(
    lines: Mapping[str, int], candidates: list[Candidate], costs: Costs
) -> dict[frozenset[str], float]:
    """The cheapest plan shipping from each set of locations that holds the order (every
    location of the set pays its fixed cost); within a set each SKU is taken cheapest unit
    first, which is optimal as SKUs do not interact."""
    out = {}
    for n in range(1, len(candidates) + 1):
        for chosen in combinations(candidates, n):
            shipments: dict[str, dict[str, int]] = {c.location_id: {} for c in chosen}
            feasible = True
            for sku, qty in lines.items():
                for c in sorted(chosen, key=lambda c: c.distance_m):
                    take = min(qty, c.stock.get(sku, 0))
                    if take:
                        shipments[c.location_id][sku] = take
                        qty -= take
                feasible &= qty == 0
            if feasible:
                fixed_unused = sum(
                    costs.parcel + costs.per_km * c.distance_m / 1000 + costs.per_queued * c.queued
                    for c in chosen
                    if not shipments[c.location_id]
                )
                by_id = {c.location_id: c for c in chosen}
                out[frozenset(by_id)] = plan_cost(shipments, by_id, costs) + fixed_unused
    return out


def brute_force(lines: Mapping[str, int], candidates: list[Candidate], costs: Costs) -> float:
    """Cheapest plan by trying every set of shipping locations."""
    return min(costs_by_set(lines, candidates, costs).values(), default=math.inf)


@st.composite
def instances(draw: st.DrawFn) -> tuple[dict[str, int], list[Candidate]]:
    candidates = [
        Candidate(
            location_id=f"L{i}",
            code=f"L{i}",
            distance_m=draw(st.integers(0, 30_000)),
            stock={s: draw(st.integers(0, 6)) for s in SKUS},
            queued=draw(st.integers(0, 20)),
        )
        for i in range(draw(st.integers(1, 5)))
    ]
    lines = {s: draw(st.integers(1, 6)) for s in draw(st.sets(st.sampled_from(SKUS), min_size=1))}
    return lines, candidates


def _delivers(
    plan_shipments: Mapping[str, Mapping[str, int]],
    lines: Mapping[str, int],
    candidates: list[Candidate],
) -> None:
    by_id = {c.location_id: c for c in candidates}
    for sku, qty in lines.items():
        assert sum(units.get(sku, 0) for units in plan_shipments.values()) == qty
    for loc, units in plan_shipments.items():
        for sku, n in units.items():
            assert 0 < n <= by_id[loc].stock[sku]


@settings(max_examples=150, deadline=None)
@given(instances())
def test_the_solver_plan_is_optimal_and_never_worse_than_greedy(
    instance: tuple[dict[str, int], list[Candidate]],
) -> None:
    lines, candidates = instance
    costs = Costs()
    try:
        plan = source(lines, candidates, costs)
    except Unsourceable as exc:
        assert any(sum(c.stock[s] for c in candidates) < q for s, q in lines.items())
        assert set(exc.short) == {
            s for s, q in lines.items() if sum(c.stock[s] for c in candidates) < q
        }
        return
    assert plan.method == "optimal"
    _delivers(plan.shipments, lines, candidates)
    assert plan.cost == pytest.approx(brute_force(lines, candidates, costs))
    assert plan.cost <= greedy(lines, candidates, costs).cost + 1e-6
    assert set(plan.reasons) == set(plan.shipments)


def test_one_parcel_from_further_beats_two_from_nearer() -> None:
    """Greedy takes the nearest store for each line and splits; the solver sends one
    parcel from the DC 6 km away, which holds both lines (1,990 points against 2,470)."""
    near_a = Candidate("S1", "S1", 1_000, {"a": 2, "b": 0})
    near_b = Candidate("S2", "S2", 2_000, {"a": 0, "b": 1})
    dc = Candidate("DC", "DC", 6_000, {"a": 50, "b": 50})
    lines = {"a": 2, "b": 1}
    plan = source(lines, [near_a, near_b, dc])
    assert plan.shipments == {"DC": {"a": 2, "b": 1}} and plan.parcels == 1
    assert greedy(lines, [near_a, near_b, dc], Costs()).parcels == 2
    assert "6.0 km" in plan.reasons["DC"]


def test_a_busy_store_loses_to_a_quiet_one_a_bit_further() -> None:
    busy = Candidate("S1", "S1", 1_000, {"a": 5}, queued=40)
    quiet = Candidate("S2", "S2", 3_000, {"a": 5}, queued=0)
    assert list(source({"a": 1}, [busy, quiet]).shipments) == ["S2"]


@st.composite
def wider_instances(draw: st.DrawFn) -> tuple[dict[str, int], list[Candidate]]:
    """More locations, scarcer stock and the benchmark's spread of distance and queue:
    plans of two to four parcels, where the search, the pruning and the least number of
    parcels all come into play."""
    skus = ("a", "b", "c", "d")
    candidates = [
        Candidate(
            location_id=f"L{i}",
            code=f"L{i}",
            distance_m=draw(st.integers(0, 60_000)),
            stock={s: draw(st.sampled_from([0, 0, 1, 2, 5])) for s in skus},
            queued=draw(st.integers(0, 30)),
        )
        for i in range(draw(st.integers(2, 8)))
    ]
    lines = {s: draw(st.integers(1, 3)) for s in skus}
    return lines, candidates


def _holds(lines: Mapping[str, int], candidates: list[Candidate]) -> bool:
    return all(sum(c.stock.get(s, 0) for c in candidates) >= q for s, q in lines.items())


@settings(max_examples=150, deadline=None)
@given(wider_instances())
def test_pruning_keeps_every_optimal_plan_and_the_solver_finds_one(
    instance: tuple[dict[str, int], list[Candidate]],
) -> None:
    """Pruned with the optimum itself as the bound (the sharpest it ever gets), every
    location of every optimal plan stays, and no optimal plan has fewer parcels than the
    least number the pruning tells the program."""
    lines, candidates = instance
    if not _holds(lines, candidates):
        return
    costs = Costs()
    by_set = costs_by_set(lines, candidates, costs)
    best = min(by_set.values())
    optimal = [chosen for chosen, cost in by_set.items() if cost <= best + 1e-6]
    order = sourcing._order(lines, candidates, costs)
    alive, parcels = sourcing._prune(order, best, keep=[])
    kept = {order.sites[i].location_id for i in alive}
    for chosen in optimal:
        assert chosen <= kept and len(chosen) >= parcels
    plan = source(lines, candidates, costs)
    assert plan.method == "optimal" and plan.cost == pytest.approx(best)
    _delivers(plan.shipments, lines, candidates)


@settings(max_examples=100, deadline=None)
@given(wider_instances(), st.sampled_from([0.0, 0.5]))
def test_the_method_says_what_the_plan_is_worth(
    instance: tuple[dict[str, int], list[Candidate]], time_limit_s: float
) -> None:
    """With no time at all the solver may not prove anything: whatever comes back is
    feasible, "optimal" only if it is, "best-found" only if it beats greedy, and
    otherwise greedy's own plan."""
    lines, candidates = instance
    if not _holds(lines, candidates):
        return
    costs = Costs()
    plan = source(lines, candidates, costs, time_limit_s=time_limit_s)
    fallback = greedy(lines, candidates, costs)
    _delivers(plan.shipments, lines, candidates)
    assert plan.cost == pytest.approx(plan_cost(plan.shipments, _by_id(candidates), costs))
    if plan.method == "optimal":
        assert plan.cost == pytest.approx(brute_force(lines, candidates, costs))
    elif plan.method == "best-found":
        assert plan.cost < fallback.cost
    else:
        assert plan.method == "greedy" and plan.shipments == fallback.shipments


def _by_id(candidates: list[Candidate]) -> dict[str, Candidate]:
    return {c.location_id: c for c in candidates}


def _unproven(
    o: sourcing._Order, alive: list[int], parcels: int, start: list[int], seconds: float
) -> tuple[bool, list[int]]:
    """HiGHS out of time before proving anything: it only holds the start it was given."""
    return False, start


def test_an_unproven_plan_that_beats_greedy_is_best_found(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sourcing, "_solve", _unproven)
    near_a = Candidate("S1", "S1", 1_000, {"a": 2, "b": 0})
    near_b = Candidate("S2", "S2", 2_000, {"a": 0, "b": 1})
    dc = Candidate("DC", "DC", 6_000, {"a": 50, "b": 50})
    plan = source({"a": 2, "b": 1}, [near_a, near_b, dc])
    assert plan.method == "best-found" and plan.shipments == {"DC": {"a": 2, "b": 1}}
    assert plan.cost == pytest.approx(1_990)


def test_an_unproven_plan_no_better_than_greedy_is_greedy(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sourcing, "_solve", _unproven)
    near = Candidate("S1", "S1", 1_000, {"a": 5})
    far = Candidate("S2", "S2", 9_000, {"a": 5})
    plan = source({"a": 2}, [near, far])
    assert plan.method == "greedy" and plan.shipments == {"S1": {"a": 2}}


def test_an_oversold_location_offers_nothing() -> None:
    oversold = sourcing.Candidate("L1", "L1", 100.0, {"s": -3})
    stocked = sourcing.Candidate("L2", "L2", 900.0, {"s": 2})
    with pytest.raises(sourcing.Unsourceable) as short:
        sourcing.greedy({"s": 3}, [oversold, stocked], sourcing.Costs())
    assert short.value.short == {"s": 1}
    plan = sourcing.source({"s": 2}, [oversold, stocked])
    assert plan.shipments == {"L2": {"s": 2}}
    assert (
        sourcing.greedy({"s": 2}, [oversold, stocked], sourcing.Costs()).shipments == plan.shipments
    )
