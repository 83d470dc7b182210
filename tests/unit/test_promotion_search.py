"""The promotion engine's search at sizes brute force cannot reach, and the greedy
baseline: on medium carts (25 to 45 promotions, typically 20 to 40 of them worth
something) the engine's answer equals an independent exact search (the first engine's
include/exclude enumeration with its stand-alone bound and no limit, on the brute
force's own rules and worth), and so does the decomposed search alone whenever it proves
its answer; what it cannot prove (an optimistic delivery, a big order-level unit deal)
goes to the two-level search; greedy is always legal and never beats the exact answer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.unit.test_promotion_model import (
    CART,
    KITCHEN,
    Ranked,
    brute_total,
    carts,
    covers,
    documented_rank,
    promo,
    promotions,
    ranked_answer,
)
from zhongtai.promotions import model
from zhongtai.promotions.model import CartLine, Group, Kind, Promotion, Scope, price_cart

SKUS = tuple(f"sku{i}" for i in range(10))
CATS = ("drinks", "kitchen", "garden")
BRANDS = ("b1", "b2", "b3")
GROUPS = (Group.item, Group.order, Group.delivery)


def reference_best(lines: list[CartLine], promos: list[Promotion], fee: int) -> Ranked:
    """Exact by include/exclude over the promotions worth something alone (item, then
    order, then delivery), cutting a branch only when what it holds plus every remaining
    stand-alone worth cannot reach the best total (ties are explored, as priority and
    ids may decide); exclusive ones alone."""
    alone = {p.promotion_id: brute_total(lines, [p], fee) for p in promos}
    found = [p for p in promos if p.kind is not Kind.gift and alone[p.promotion_id]]
    worth = {p.promotion_id: alone[p.promotion_id][0] for p in found}  # type: ignore[index]
    shared = sorted((p for p in found if not p.exclusive), key=lambda p: GROUPS.index(p.group))
    best: list[Ranked] = [(0, 0, 0, (), ())]

    def consider(combo: Sequence[Promotion]) -> None:
        got = brute_total(lines, combo, fee)
        if got is not None:
            best[0] = min(best[0], documented_rank(got[0], combo))

    def scoped(p: Promotion) -> set[int]:
        if p.group is Group.delivery:
            return {-1}
        return {i for i, x in enumerate(lines) if covers(p, x)}

    def search(k: int, combo: list[Promotion], cap: int, used: dict[Group, set[int]]) -> None:
        if cap + sum(worth[p.promotion_id] for p in shared[k:]) < -best[0][0]:
            return
        if k == len(shared):
            consider(combo)
            return
        p, mine = shared[k], scoped(shared[k])
        if not mine & used[p.group]:
            used[p.group] |= mine
            search(k + 1, [*combo, p], cap + worth[p.promotion_id], used)
            used[p.group] -= mine
        search(k + 1, combo, cap, used)

    search(0, [], 0, {g: set() for g in GROUPS})
    for p in found:
        if p.exclusive:
            consider([p])
    return best[0]


@st.composite
def medium_carts(draw: st.DrawFn) -> list[CartLine]:
    skus = draw(st.lists(st.sampled_from(SKUS), min_size=6, max_size=9, unique=True))
    return [
        CartLine(
            f"L{i}",
            sku,
            draw(st.sampled_from(CATS)),
            draw(st.sampled_from(BRANDS)),
            draw(st.integers(1, 120)) * 1_00 + draw(st.sampled_from([0, 50, 90])),
            draw(st.sampled_from([1, 1, 2, 3])),
        )
        for i, sku in enumerate(skus)
    ]


@st.composite
def medium_scopes(draw: st.DrawFn) -> Scope:
    """Whole store, a category, a brand or a few SKUs: scopes that overlap, as real ones."""
    pick = draw(st.integers(0, 3))
    if pick == 0:
        return Scope(exclude_brands=frozenset(draw(st.lists(st.sampled_from(BRANDS), max_size=1))))
    if pick == 1:
        return Scope(categories=frozenset({draw(st.sampled_from(CATS))}))
    if pick == 2:
        return Scope(brands=frozenset({draw(st.sampled_from(BRANDS))}))
    return Scope(skus=frozenset(draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=3))))


def medium_promotions() -> st.SearchStrategy[list[Promotion]]:
    return promotions(count=(25, 45), scope=medium_scopes(), exclusive_one_in=16, top_priority=1)


@settings(max_examples=40, deadline=None)
@given(medium_carts(), medium_promotions(), st.sampled_from([0, 8_00]))
def test_medium_carts_match_an_independent_exact_search(
    lines: list[CartLine], promos: list[Promotion], fee: int
) -> None:
    p = price_cart(lines, promos, delivery_fee=fee)
    assert p.exact
    assert ranked_answer(p, promos) == reference_best(lines, promos, fee)


def test_greedy_takes_the_largest_first() -> None:
    """The docstring example of `test_exact_beats_greedy`: greedy keeps the 30.00."""
    drinks = Scope(categories=frozenset({"drinks"}))
    promos = [
        promo("A", Kind.amount_off, amount=30_00),
        promo("B", Kind.amount_off, amount=25_00, scope=KITCHEN),
        promo("C", Kind.amount_off, amount=20_00, scope=drinks),
    ]
    chosen, exact, unproven = model.greedy_combination(CART, promos)
    assert [p.promotion_id for p in chosen] == ["A"] and not exact and not unproven
    p = price_cart(CART, promos, method="greedy")
    assert p.discount == 30_00 and not p.exact
    assert price_cart(CART, promos).discount == 45_00


@settings(max_examples=300, deadline=None)
@given(carts(), promotions(), st.sampled_from([0, 8_00]))
def test_greedy_is_legal_and_never_beats_the_exact_answer(
    lines: list[CartLine], promos: list[Promotion], fee: int
) -> None:
    greedy = price_cart(lines, promos, delivery_fee=fee, method="greedy")
    chosen = [q for q in promos if q.promotion_id in {a.promotion_id for a in greedy.applied}]
    got: Any = brute_total(lines, chosen, fee)
    assert got is not None and got[0] == greedy.discount
    assert price_cart(lines, promos, delivery_fee=fee).discount >= greedy.discount


def split_answer(lines: list[CartLine], promos: list[Promotion], fee: int) -> Ranked | None:
    """The decomposed search alone (seeded with nothing): its ranked answer if it proves
    it, None if it gives up or cannot confirm an optimistic delivery."""
    cart = model._Cart(lines, promos, fee)
    search = model._Search(cart, 10**7)
    for c in search.exclusives:
        if c.key > search.best:
            search.best, search.best_set = c.key, [c.p]
    try:
        if not model._Split(search).solve():
            return None
    except model._GiveUp:
        return None
    chosen = search.best_set
    got: Any = brute_total(lines, chosen, fee)
    assert got is not None
    return documented_rank(got[0], chosen)


@settings(max_examples=60, deadline=None)
@given(medium_carts(), medium_promotions(), st.sampled_from([0, 8_00]))
def test_the_decomposed_search_when_it_proves_matches_the_independent_one(
    lines: list[CartLine], promos: list[Promotion], fee: int
) -> None:
    got = split_answer(lines, promos, fee)
    if got is not None:
        assert got == reference_best(lines, promos, fee)


def test_an_optimistic_delivery_it_cannot_confirm_hands_over_to_the_full_search() -> None:
    """包邮 on L0 from 95.00 is reached on gross prices, not after the 20.00 off L0 that
    wins: the decomposed search counts it optimistically, its pricing says otherwise, so
    it proves nothing and the two-level search settles the cart."""
    lines = [CartLine(f"L{i}", f"s{i}", "c", "b", 100_00, 1) for i in range(5)]
    first = Scope(skus=frozenset({"s0"}))
    promos = [
        promo("A", Kind.amount_off, amount=20_00, scope=first),
        promo("D", Kind.free_delivery, Group.delivery, min_spend=95_00, scope=first),
    ]
    assert split_answer(lines, promos, 8_00) is None
    p = price_cart(lines, promos, delivery_fee=8_00)
    assert p.exact and [a.promotion_id for a in p.applied] == ["A"] and p.discount == 20_00


def test_big_unit_deals_at_order_level_are_left_to_the_full_search() -> None:
    """A whole-cart 第二件半价 at order level is no function of the scoped total alone."""
    lines = [CartLine(f"L{i}", f"s{i}", "c", "b", 10_00 * (i + 1), 1) for i in range(5)]
    promos = [promo("N", Kind.nth_item, Group.order, nth=2, off_bp=5_000)]
    assert split_answer(lines, promos, 0) is None
    p = price_cart(lines, promos)
    assert p.exact and p.discount == (10_00 + 20_00) // 2


def test_a_storewide_step_deal_takes_the_item_deals_that_fill_its_step_exactly() -> None:
    """每满100减60 on 500.00 of goods, and item deals of 30, 20, 50, 15 and 35 off one line
    each: all of them (150 off) leave 350.00 for three steps, 330 in all; item deals of
    exactly 100 keep four steps, 340. Three sets make exactly 100 (ABC, CDE, ABDE): the
    fewer promotions win, then the smaller ids (ABC), unless D has a priority (CDE).
    The engine's answer equals the independent exact search, and the decomposed search
    proves it on its own (through the knapsack over the items' discounts)."""
    lines = [CartLine(f"L{i}", f"s{i}", "c", "b", 100_00, 1) for i in range(5)]
    offs = {"A": 30_00, "B": 20_00, "C": 50_00, "D": 15_00, "E": 35_00}
    for favoured, expected in (("", "ABCR"), ("D", "CDER")):
        promos = [
            promo(
                pid,
                Kind.amount_off,
                amount=off,
                scope=Scope(skus=frozenset({f"s{i}"})),
                priority=int(pid == favoured),
            )
            for i, (pid, off) in enumerate(offs.items())
        ]
        promos.append(promo("R", Kind.repeat_threshold, Group.order, every=100_00, minus=60_00))
        p = price_cart(lines, promos)
        chosen = [q for q in promos if q.promotion_id in {a.promotion_id for a in p.applied}]
        assert p.exact and p.discount == 340_00
        assert "".join(sorted(q.promotion_id for q in chosen)) == expected
        key = ranked_answer(p, promos)
        assert key == reference_best(lines, promos, 0) == split_answer(lines, promos, 0)


@st.composite
def step_deal_carts(draw: st.DrawFn) -> tuple[list[CartLine], list[Promotion]]:
    """Carts shaped as the benchmark's hard ones: a storewide step deal (每满减, 满减 tiers
    or 立减; now and then but for one brand, or none), and many item deals of one or two SKUs each
    whose discounts it must trade against its steps; small order deals on the lines it
    leaves out."""
    lines = [
        CartLine(
            f"L{i}",
            sku,
            "c",
            draw(st.sampled_from(BRANDS)),
            draw(st.integers(1, 15)) * 10_00,  # round prices and deals: ties to settle
            draw(st.sampled_from([1, 1, 2])),
        )
        for i, sku in enumerate(SKUS[: draw(st.integers(5, 9))])
    ]
    kind = draw(st.sampled_from([Kind.repeat_threshold, Kind.threshold, Kind.amount_off]))
    table: dict[Kind, dict[str, Any]] = {
        Kind.repeat_threshold: {"every": 50_00, "minus": draw(st.sampled_from([20_00, 40_00]))},
        Kind.threshold: {"tiers": (model.Tier(300_00, 60_00), model.Tier(500_00, 150_00))},
        Kind.amount_off: {"amount": 20_00},
    }
    params = table[kind]
    left_out = frozenset(draw(st.lists(st.sampled_from(BRANDS), max_size=1)))
    promos = [promo("BIG", kind, Group.order, scope=Scope(exclude_brands=left_out), **params)]
    if draw(st.integers(0, 3)) == 0:  # now and then none: the small deals alone
        promos = []
    skus = [x.sku_id for x in lines]
    for i in range(draw(st.integers(6, 14))):
        scope = Scope(skus=frozenset(draw(st.lists(st.sampled_from(skus), min_size=1, max_size=2))))
        if draw(st.integers(0, 4)) == 0:
            promos.append(
                promo(f"O{i:02d}", Kind.amount_off, Group.order, scope=scope, amount=5_00)
            )
            continue
        item = draw(st.sampled_from([Kind.amount_off, Kind.percent_off]))
        worth: dict[str, Any] = (
            {"amount": draw(st.integers(1, 8)) * 5_00}
            if item is Kind.amount_off
            else {"off_bp": draw(st.sampled_from([1_000, 5_000]))}
        )
        promos.append(
            promo(f"I{i:02d}", item, scope=scope, priority=draw(st.integers(0, 1)), **worth)
        )
    return lines, promos


@settings(max_examples=150, deadline=None)
@given(step_deal_carts(), st.sampled_from([model._MAX_PACKINGS, 3]))
def test_step_deals_against_many_item_deals_match_the_independent_search(
    cart: tuple[list[CartLine], list[Promotion]], packings: int
) -> None:
    """With the engine's limit on listed packings, and with a limit of 3, which makes
    nearly every component of two or more deals a hot one (`_Hot`, searched by sums)."""
    lines, promos = cart
    expected = reference_best(lines, promos, 0)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(model, "_MAX_PACKINGS", packings)
        p = price_cart(lines, promos)
        got = split_answer(lines, promos, 0)
    assert p.exact
    assert ranked_answer(p, promos) == expected
    assert got is None or got == expected


def test_the_delivery_promotion_is_settled_after_the_goods_ones() -> None:
    """A (10 off L0) and B (10 off L0 and L1, 5 each) tie on the discount and cannot
    stack; 包邮 D1 (priority 1, on L0 from 95.00) is reached after B, not after A, while
    D2 (anywhere) is reached after both. The goods decide first (A, the smaller id), the
    delivery promotion last (D2, the one A's net still reaches); the decomposed search
    proves it although the delivery it counted first (D1) is not the one reached."""
    lines = [CartLine(f"L{i}", f"s{i}", "c", "b", 100_00, 1) for i in range(2)]
    first = Scope(skus=frozenset({"s0"}))
    promos = [
        promo("A", Kind.amount_off, amount=10_00, scope=first),
        promo("B", Kind.amount_off, amount=10_00),
        promo("D1", Kind.free_delivery, Group.delivery, min_spend=95_00, scope=first, priority=1),
        promo("D2", Kind.free_delivery, Group.delivery),
    ]
    p = price_cart(lines, promos, delivery_fee=8_00)
    assert p.exact and [a.promotion_id for a in p.applied] == ["A", "D2"]
    assert p.discount == 18_00 and p.delivery_discount == 8_00
    expected = reference_best(lines, promos, 8_00)
    assert ranked_answer(p, promos) == expected == split_answer(lines, promos, 8_00)
