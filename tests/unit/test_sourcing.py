"""Smart sourcing: the solver's plan is feasible, never dearer than greedy, and optimal
(checked against trying every set of locations on small instances)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from itertools import combinations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhongtai.orders.sourcing import (
    Candidate,
    Costs,
    Unsourceable,
    greedy,
    plan_cost,
    source,
)

SKUS = ("a", "b", "c")


def brute_force(lines: Mapping[str, int], candidates: list[Candidate], costs: Costs) -> float:
    """Cheapest plan by trying every set of shipping locations; within a set each SKU is
    taken cheapest unit first, which is optimal as SKUs do not interact."""
    best = math.inf
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
                best = min(best, plan_cost(shipments, by_id, costs) + fixed_unused)
    return best


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
