"""Promotion engine (促销引擎): every kind on hand-computed carts, parameter checks, and
properties on random carts and rule sets: the engine's combination is the best one an
independent brute force finds (every subset, the stated stacking rules re-implemented
here), gifts go exactly where the gift rule says, the allocation sums to the fen, and the
answer is deterministic."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhongtai.orders.model import allocate
from zhongtai.promotions import model
from zhongtai.promotions.model import (
    CartLine,
    Group,
    InvalidPromotion,
    Kind,
    Promotion,
    Reason,
    Scope,
    Tier,
    price_cart,
)

TEA = CartLine("L1", "tea", "drinks", "b1", 50_00, 2)  # 100.00
CUP = CartLine("L2", "cup", "kitchen", "b2", 30_00, 1)  # 30.00
POT = CartLine("L3", "pot", "kitchen", "b1", 120_00, 1)  # 120.00
CART = [TEA, CUP, POT]  # 250.00
KITCHEN = Scope(categories=frozenset({"kitchen"}))


def promo(pid: str, kind: Kind, group: Group = Group.item, **kw: Any) -> Promotion:
    return Promotion(pid, pid, kind, group, **kw)


def shares(pricing: model.Pricing, pid: str) -> dict[str, int]:
    return dict(next(a for a in pricing.applied if a.promotion_id == pid).lines)


def why(pricing: model.Pricing, pid: str) -> model.NotApplied:
    return next(x for x in pricing.not_applied if x.promotion_id == pid)


def check_sums(p: model.Pricing) -> None:
    assert p.net == p.gross - (p.discount - p.delivery_discount)
    assert sum(a.amount for a in p.applied) == p.discount
    for line in p.lines:
        assert 0 <= line.discount <= line.gross and line.net == line.gross - line.discount
    for a in p.applied:
        assert a.amount == sum(fen for _, fen in a.lines) + a.on_delivery


# --- every kind, by hand -------------------------------------------------------------------


def test_percent_off_the_scoped_lines() -> None:
    p = price_cart(CART, [promo("P", Kind.percent_off, off_bp=1_000, scope=KITCHEN)])
    assert p.discount == 15_00  # 10% of 150.00
    assert shares(p, "P") == {"L2": 3_00, "L3": 12_00}
    check_sums(p)


def test_amount_off_is_split_by_largest_remainders() -> None:
    brand = Scope(brands=frozenset({"b1"}))
    p = price_cart(CART, [promo("A", Kind.amount_off, amount=20_00, scope=brand)])
    # 20.00 over 100.00 and 120.00: 909.09 and 1090.91 fen; the spare fen goes to L3
    assert shares(p, "A") == {"L1": 909, "L3": 1091}
    assert [x.net for x in p.lines] == [100_00 - 909, 30_00, 120_00 - 1091]


def test_amount_off_never_exceeds_the_scoped_total() -> None:
    p = price_cart([CUP], [promo("A", Kind.amount_off, amount=50_00)])
    assert p.discount == 30_00 and p.lines[0].net == 0


TIERS = (Tier(199_00, 20_00), Tier(299_00, 50_00))


def test_threshold_takes_the_best_tier_reached() -> None:
    p = price_cart(CART, [promo("M", Kind.threshold, Group.order, tiers=TIERS)])
    assert p.discount == 20_00  # 250.00: 满199减20 reached, 满299减50 not
    big = CartLine("L9", "tv", "tv", "b3", 300_00, 1)
    assert price_cart([big], [promo("M", Kind.threshold, tiers=TIERS)]).discount == 50_00


def test_threshold_not_reached_says_what_is_missing() -> None:
    top = promo("M", Kind.threshold, Group.order, tiers=(Tier(299_00, 50_00),))
    cart = [CartLine("L1", "a", "c", "b", 276_00, 1)]
    assert why(price_cart(cart, [top]), "M") == model.NotApplied(
        "M", Reason.condition_not_met, "add 23.00 more to get 50.00 off"
    )
    low = [CartLine("L1", "a", "c", "b", 176_00, 1)]
    tiered = promo("T", Kind.threshold, Group.order, tiers=TIERS)
    assert why(price_cart(low, [tiered]), "T").detail == "add 23.00 more to get 20.00 off"


def test_repeating_threshold() -> None:
    every = promo("E", Kind.repeat_threshold, Group.order, every=300_00, minus=40_00)
    cart = [CartLine("L1", "a", "c", "b", 325_00, 2)]  # 650.00: twice 300
    assert price_cart(cart, [every]).discount == 80_00
    assert why(price_cart(CART, [every]), "E").detail == "add 50.00 more to get 40.00 off"


def test_buy_two_get_the_cheapest_free() -> None:
    p = price_cart(CART, [promo("B", Kind.buy_x_get_y, buy=2, get=1, off_bp=10_000)])
    assert shares(p, "B") == {"L2": 30_00}  # 4 units: one free, the 30.00 cup
    half = promo("B", Kind.buy_x_get_y, buy=2, get=1, off_bp=5_000)
    assert price_cart(CART, [half]).discount == 15_00
    short = why(price_cart([POT], [half]), "B")
    assert short.detail == "add 2 more item(s) to qualify"


def test_second_item_half_price() -> None:
    p = price_cart(CART, [promo("N", Kind.nth_item, nth=2, off_bp=5_000)])
    # 4 units: the two cheapest (30.00 and 50.00) at half price
    assert p.discount == 40_00
    assert shares(p, "N") == {"L1": 25_00, "L2": 15_00}


def test_bundle_at_a_fixed_price_uses_the_dearest_units() -> None:
    p = price_cart(CART, [promo("K", Kind.bundle, bundle_qty=2, bundle_price=100_00)])
    # 120 + 50 for 100 saves 70.00; a second bundle (50 + 30) would cost more than 100
    assert p.discount == 70_00
    assert shares(p, "K") == {"L1": 2059, "L3": 4941}
    check_sums(p)


def test_free_delivery_from_a_minimum_spend() -> None:
    free = promo("D", Kind.free_delivery, Group.delivery, min_spend=99_00)
    p = price_cart(CART, [free], delivery_fee=8_00)
    assert p.delivery_discount == 8_00 and p.payable == 250_00
    assert p.applied[0].on_delivery == 8_00 and p.applied[0].lines == ()
    small = price_cart([CUP], [free], delivery_fee=8_00)
    assert why(small, "D").detail == "add 69.00 more to get free delivery"
    assert small.payable == 38_00
    assert why(price_cart(CART, [free]), "D").reason is Reason.not_in_scope


def test_fixed_price_caps_each_scoped_unit() -> None:
    """限时价 40.00 on tea and the pot: tea (50.00 x 2) saves 10.00 a unit, the pot 80.00."""
    both = Scope(skus=frozenset({"tea", "pot"}))
    p = price_cart(CART, [promo("F", Kind.fixed_price, price=40_00, scope=both)])
    assert p.discount == 100_00 and shares(p, "F") == {"L1": 20_00, "L3": 80_00}
    check_sums(p)
    # one unit per order: the dearest one, the pot
    one = promo("F", Kind.fixed_price, price=40_00, max_units=1, scope=both)
    assert shares(price_cart(CART, [one]), "F") == {"L3": 80_00}
    two = promo("F", Kind.fixed_price, price=40_00, max_units=2, scope=both)
    assert shares(price_cart(CART, [two]), "F") == {"L1": 10_00, "L3": 80_00}
    # a unit already below the price is not raised, and gives nothing
    cheap = promo("F", Kind.fixed_price, price=35_00, scope=Scope(skus=frozenset({"cup"})))
    assert why(price_cart(CART, [cheap]), "F").reason is Reason.condition_not_met


def test_fixed_price_stacks_with_an_order_deal_on_what_it_left() -> None:
    flash = promo("F", Kind.fixed_price, price=99_00, scope=Scope(skus=frozenset({"pot"})))
    reach = promo("M", Kind.threshold, Group.order, tiers=(Tier(199_00, 20_00),))
    p = price_cart(CART, [flash, reach])
    assert p.discount == 21_00 + 20_00  # 229.00 left still reaches 199


GIFT = {"gift_sku": "mug", "gift_qty": 2}


def test_a_gift_is_granted_on_the_net_after_discounts() -> None:
    gift = promo("G", Kind.gift, Group.gift, min_spend=200_00, **GIFT)
    p = price_cart(CART, [gift])
    assert p.gifts == (model.Gift("G", "mug", 2),) and p.discount == 0 and not p.applied
    # 10% off everything leaves 225.00: still granted; 25% off leaves 187.50: not
    ten = promo("P", Kind.percent_off, off_bp=1_000)
    assert price_cart(CART, [gift, ten]).gifts == (model.Gift("G", "mug", 2),)
    quarter = promo("P", Kind.percent_off, off_bp=2_500)
    p = price_cart(CART, [gift, quarter])
    assert p.gifts == () and p.discount == 62_50
    assert why(p, "G") == model.NotApplied(
        "G", Reason.condition_not_met, "add 12.50 more to get the gift"
    )


def test_gifts_stack_with_each_other_but_not_with_an_exclusive() -> None:
    kitchen = promo("G1", Kind.gift, Group.gift, min_spend=150_00, scope=KITCHEN, **GIFT)
    store = promo("G2", Kind.gift, Group.gift, min_spend=100_00, gift_sku="bag")
    far = promo("G3", Kind.gift, Group.gift, min_spend=1_000_00, gift_sku="bike")
    p = price_cart(CART, [kitchen, store, far])
    assert [g.promotion_id for g in p.gifts] == ["G1", "G2"]
    assert why(p, "G3").detail == "add 750.00 more to get the gift"
    alone = promo("X", Kind.amount_off, amount=1_00, exclusive=True)
    p = price_cart(CART, [kitchen, store, alone])
    assert p.gifts == () and why(p, "G1").reason is Reason.excluded_by_exclusive
    sofa = promo(
        "G4", Kind.gift, Group.gift, min_spend=1, scope=Scope(skus=frozenset({"x"})), **GIFT
    )
    assert why(price_cart(CART, [sofa]), "G4").reason is Reason.not_in_scope


def test_scope_with_exclusions() -> None:
    scope = Scope(brands=frozenset({"b1"}), exclude_categories=frozenset({"drinks"}))
    assert [scope.covers(x) for x in CART] == [False, False, True]
    assert [Scope(exclude_skus=frozenset({"cup"})).covers(x) for x in CART] == [
        True,
        False,
        True,
    ]
    p = price_cart(CART, [promo("P", Kind.percent_off, off_bp=1_000, scope=scope)])
    assert shares(p, "P") == {"L3": 12_00}
    nothing = Scope(skus=frozenset({"sofa"}))
    off = promo("X", Kind.percent_off, off_bp=1_000, scope=nothing)
    assert why(price_cart(CART, [off]), "X").reason is Reason.not_in_scope


# --- stacking and the search ---------------------------------------------------------------


def test_exact_beats_greedy() -> None:
    """Greedy takes the 30.00 on everything; 25.00 on kitchen plus 20.00 on drinks is
    worth more and shares no line."""
    drinks = Scope(categories=frozenset({"drinks"}))
    promos = [
        promo("A", Kind.amount_off, amount=30_00),
        promo("B", Kind.amount_off, amount=25_00, scope=KITCHEN),
        promo("C", Kind.amount_off, amount=20_00, scope=drinks),
    ]
    p = price_cart(CART, promos)
    assert sorted(a.promotion_id for a in p.applied) == ["B", "C"] and p.discount == 45_00
    assert why(p, "A") == model.NotApplied(
        "A", Reason.beaten, "shares lines with B in the item group"
    )


def test_order_level_sees_what_item_level_left() -> None:
    item = promo("I", Kind.percent_off, off_bp=1_000, scope=KITCHEN)  # 15.00
    reach = promo("M", Kind.threshold, Group.order, tiers=(Tier(199_00, 20_00),))
    p = price_cart(CART, [item, reach])
    assert p.discount == 35_00  # 235.00 left still reaches 199
    assert shares(p, "M") == {"L1": 851, "L2": 230, "L3": 919}  # 20.00 over 100, 27, 108
    # 满240减30 is missed once the 15.00 item discount is taken: it alone is worth more
    miss = promo("M", Kind.threshold, Group.order, tiers=(Tier(240_00, 30_00),))
    p = price_cart(CART, [item, miss])
    assert [a.promotion_id for a in p.applied] == ["M"] and p.discount == 30_00
    assert why(p, "I").reason is Reason.beaten


def test_an_exclusive_promotion_applies_alone() -> None:
    others = [
        promo("A", Kind.percent_off, off_bp=1_000),
        promo("M", Kind.threshold, Group.order, tiers=TIERS),
        promo("D", Kind.free_delivery, Group.delivery),
    ]
    big = promo("X", Kind.amount_off, amount=60_00, exclusive=True)
    p = price_cart(CART, [*others, big], delivery_fee=8_00)
    assert [a.promotion_id for a in p.applied] == ["X"] and p.discount == 60_00
    assert {x.promotion_id: x.detail for x in p.not_applied} == {
        i: "excluded by exclusive X" for i in "AMD"
    }
    small = promo("X", Kind.amount_off, amount=40_00, exclusive=True)
    p = price_cart(CART, [*others, small], delivery_fee=8_00)
    assert p.discount == 25_00 + 20_00 + 8_00  # 满199 still reached on 225.00
    assert why(p, "X").detail == "exclusive: the best combination without it saves more"


def test_ties_go_to_priority_then_fewer_then_ids() -> None:
    one = promo("Z", Kind.amount_off, amount=10_00, priority=1)
    two = promo("A", Kind.amount_off, amount=10_00)
    assert [a.promotion_id for a in price_cart(CART, [two, one]).applied] == ["Z"]
    same = promo("Z", Kind.amount_off, amount=10_00)
    assert [a.promotion_id for a in price_cart(CART, [same, two]).applied] == ["A"]
    whole = promo("W", Kind.amount_off, amount=20_00, scope=Scope(brands=frozenset({"b1"})))
    half = promo("H", Kind.amount_off, amount=20_00, scope=KITCHEN)
    cup = promo("C", Kind.amount_off, amount=1, scope=Scope(skus=frozenset({"cup"})))
    # W alone and H alone both save 20.00; W + C saves 20.01 and wins on the amount
    assert sorted(a.promotion_id for a in price_cart(CART, [whole, half, cup]).applied) == [
        "C",
        "W",
    ]


def test_a_tie_on_the_amount_found_later_still_wins_on_priority() -> None:
    """The bound prunes only branches that cannot reach the best amount: a later branch
    that can only tie it is still searched, as priority may decide."""
    drinks = Scope(categories=frozenset({"drinks"}))
    promos = [
        promo("A", Kind.amount_off, amount=30_00),
        promo("B", Kind.amount_off, amount=20_00, scope=KITCHEN, priority=1),
        promo("C", Kind.amount_off, amount=10_00, scope=drinks, priority=1),
    ]
    assert sorted(a.promotion_id for a in price_cart(CART, promos).applied) == ["B", "C"]


def test_many_independent_promotions_are_solved_exactly() -> None:
    """Twenty disjoint promotions (the old search stopped at sixteen): every one applies."""
    lines = [CartLine(f"L{i}", f"s{i}", "c", "b", 10_00, 1) for i in range(20)]
    promos = [
        promo(f"P{i:02d}", Kind.amount_off, amount=100 + i, scope=Scope(skus=frozenset({f"s{i}"})))
        for i in range(20)
    ]
    p = price_cart(lines, promos)
    assert p.exact and len(p.applied) == 20 and p.discount == sum(100 + i for i in range(20))


def test_past_the_step_limit_the_answer_says_so(monkeypatch: pytest.MonkeyPatch) -> None:
    """A whole-cart 满减 beside many small item deals; with the search cut short the answer
    is legal, at least the greedy one, and every unproven candidate says so."""
    lines = [CartLine(f"L{i}", f"s{i}", "c", "b", 10_00 + i, 1) for i in range(12)]
    promos = [
        promo(f"P{i:02d}", Kind.amount_off, amount=100 + i, scope=Scope(skus=frozenset({f"s{i}"})))
        for i in range(12)
    ]
    promos.append(promo("M", Kind.threshold, Group.order, tiers=(Tier(119_00, 5_00),)))
    chosen, exact, unproven = model.best_combination(lines, promos, limit=3)
    assert not exact and unproven == {p.promotion_id for p in promos} - {
        p.promotion_id for p in chosen
    }
    greedy, greedy_exact, _ = model.greedy_combination(lines, promos)
    assert not greedy_exact
    assert brute_total(lines, chosen, 0) >= brute_total(lines, greedy, 0)  # type: ignore[operator]
    monkeypatch.setattr(model, "MAX_STEPS", 3)
    p = price_cart(lines, promos)
    assert not p.exact
    left = {x.promotion_id for x in p.not_applied if x.reason is Reason.search_limit}
    assert left == unproven
    monkeypatch.undo()
    full = price_cart(lines, promos)
    assert full.exact and full.discount >= p.discount


# --- bad input -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kw", "field"),
    [
        ({"kind": Kind.percent_off, "off_bp": 0}, "off_bp"),
        ({"kind": Kind.percent_off, "off_bp": 10_001}, "off_bp"),
        ({"kind": Kind.amount_off}, "amount"),
        ({"kind": Kind.threshold}, "tiers"),
        ({"kind": Kind.threshold, "tiers": (Tier(100_00, 100_00),)}, "tiers[0].discount"),
        ({"kind": Kind.threshold, "tiers": (Tier(100, 10), Tier(100, 20))}, "tiers[1].threshold"),
        ({"kind": Kind.threshold, "tiers": (Tier(100, 20), Tier(200, 20))}, "tiers[1].discount"),
        ({"kind": Kind.threshold, "tiers": (Tier(100, 0),)}, "tiers[0].discount"),
        ({"kind": Kind.repeat_threshold, "every": 300, "minus": 300}, "minus"),
        ({"kind": Kind.repeat_threshold, "minus": 10}, "every"),
        ({"kind": Kind.buy_x_get_y, "buy": 0, "get": 1, "off_bp": 10_000}, "buy"),
        ({"kind": Kind.buy_x_get_y, "buy": 2, "get": 1}, "off_bp"),
        ({"kind": Kind.nth_item, "nth": 1, "off_bp": 5_000}, "nth"),
        ({"kind": Kind.bundle, "bundle_qty": 1, "bundle_price": 100}, "bundle_qty"),
        ({"kind": Kind.bundle, "bundle_qty": 2}, "bundle_price"),
        ({"kind": Kind.free_delivery, "group": Group.delivery, "min_spend": -1}, "min_spend"),
        ({"kind": Kind.free_delivery}, "group"),
        ({"kind": Kind.amount_off, "amount": 1, "group": Group.delivery}, "group"),
        ({"kind": Kind.amount_off, "amount": 1, "group": Group.gift}, "group"),
        ({"kind": Kind.fixed_price}, "price"),
        ({"kind": Kind.fixed_price, "price": 1, "max_units": -1}, "max_units"),
        ({"kind": Kind.fixed_price, "price": 1, "group": Group.order}, "group"),
        ({"kind": Kind.gift, "min_spend": 1}, "group"),
        ({"kind": Kind.gift, "group": Group.gift, "min_spend": 1}, "gift_sku"),
        ({"kind": Kind.gift, "group": Group.gift, "gift_sku": "g"}, "min_spend"),
        (
            {
                "kind": Kind.gift,
                "group": Group.gift,
                "gift_sku": "g",
                "min_spend": 1,
                "gift_qty": 0,
            },
            "gift_qty",
        ),
        (
            {
                "kind": Kind.gift,
                "group": Group.gift,
                "gift_sku": "g",
                "min_spend": 1,
                "exclusive": True,
            },
            "exclusive",
        ),
    ],
)
def test_bad_parameters_name_the_field(kw: dict[str, Any], field: str) -> None:
    args: dict[str, Any] = {"group": Group.item, **kw}
    with pytest.raises(InvalidPromotion) as err:
        Promotion("P", "P", **args)
    assert err.value.field == field and str(err.value).startswith(field)


def test_bad_cart_input() -> None:
    with pytest.raises(InvalidPromotion, match="qty"):
        CartLine("L", "s", "c", "b", 100, 0)
    with pytest.raises(InvalidPromotion, match="unit_price"):
        CartLine("L", "s", "c", "b", -1, 1)
    off = promo("P", Kind.amount_off, amount=1)
    with pytest.raises(InvalidPromotion, match="promotion_id"):
        price_cart(CART, [off, off])
    with pytest.raises(InvalidPromotion, match="line_id"):
        price_cart([TEA, TEA], [off])
    with pytest.raises(InvalidPromotion, match="delivery_fee"):
        price_cart(CART, [off], delivery_fee=-1)


# --- independent brute force ---------------------------------------------------------------
# Written from the rules in the module docstring, sharing nothing with the engine but
# `allocate` (the order centre's split by largest remainders).


def covers(p: Promotion, line: CartLine) -> bool:
    s = p.scope
    named = {line.sku_id, line.category_id, line.brand_id}
    include = s.skus | s.categories | s.brands
    exclude = s.exclude_skus | s.exclude_categories | s.exclude_brands
    # ids in the test data never collide across sku / category / brand
    return (not include or bool(named & include)) and not named & exclude


def unit_prices(amount: int, qty: int) -> list[int]:
    return [amount // qty + (1 if j < amount % qty else 0) for j in range(qty)]


def worth(p: Promotion, amounts: list[int], qtys: list[int], fee: int) -> tuple[int, list[int]]:
    """(discount, weight per scoped line) for the scoped lines' amounts."""
    total, n = sum(amounts), len(amounts)
    units = sorted((u, i) for i in range(n) for u in unit_prices(amounts[i], qtys[i]))

    def weigh(chosen: Sequence[tuple[int, int]]) -> list[int]:
        return [sum(u for u, i in chosen if i == k) for k in range(n)]

    if p.kind is Kind.percent_off:
        return total * p.off_bp // 10_000, amounts
    if p.kind is Kind.amount_off:
        return min(p.amount, total), amounts
    if p.kind is Kind.threshold:
        reached = [t.discount for t in p.tiers if total >= t.threshold]
        return (reached[-1] if reached else 0), amounts
    if p.kind is Kind.repeat_threshold:
        return (total // p.every) * p.minus, amounts
    if p.kind in (Kind.buy_x_get_y, Kind.nth_item):
        per = p.buy + p.get if p.kind is Kind.buy_x_get_y else p.nth
        free = len(units) // per * (p.get if p.kind is Kind.buy_x_get_y else 1)
        w = weigh(units[:free])
        return sum(w) * p.off_bp // 10_000, w
    if p.kind is Kind.fixed_price:
        dear = sorted(units, key=lambda x: (-x[0], x[1]))[: p.max_units or len(units)]
        w = [sum(u - p.price for u, i in dear if i == k and u > p.price) for k in range(n)]
        return sum(w), w
    if p.kind is Kind.bundle:
        dear = sorted(units, key=lambda x: (-x[0], x[1]))
        options = [
            (sum(u for u, _ in dear[: k * p.bundle_qty]) - k * p.bundle_price, -k)
            for k in range(len(units) // p.bundle_qty + 1)
        ]
        saving, minus_k = max(options)
        return saving, weigh(dear[: -minus_k * p.bundle_qty])
    return (fee if n and total >= p.min_spend else 0), []


def brute_total(
    lines: list[CartLine], combo: Sequence[Promotion], fee: int
) -> tuple[int, list[int]] | None:
    """Total discount and each promotion's discount of a combination, or None if illegal."""
    if any(p.exclusive for p in combo) and len(combo) > 1:
        return None
    if sum(p.group is Group.delivery for p in combo) > 1:
        return None
    amounts = [x.unit_price * x.qty for x in lines]
    got = {}
    for group in (Group.item, Group.order, Group.delivery):
        base = list(amounts)
        taken: set[int] = set()
        for p in (p for p in combo if p.group is group):
            idx = [i for i, x in enumerate(lines) if covers(p, x)]
            if taken & set(idx):
                return None
            taken |= set(idx)
            d, w = worth(p, [base[i] for i in idx], [lines[i].qty for i in idx], fee)
            if group is not Group.delivery:
                for i, part in zip(idx, allocate(d, w), strict=True):
                    amounts[i] -= part
            got[p.promotion_id] = d
    if any(d <= 0 for d in got.values()):
        return None
    return sum(got.values()), list(got.values())


Ranked = tuple[int, int, int, tuple[str, ...], tuple[tuple[int, str], ...]]


def documented_rank(discount: int, combo: Sequence[Promotion]) -> Ranked:
    """The documented order as a tuple, smallest best: the discount, the goods promotions'
    priority sum, their count, their sorted ids, then the delivery promotion's priority
    and id."""
    goods = [p for p in combo if p.group is not Group.delivery]
    return (
        -discount,
        -sum(p.priority for p in goods),
        len(goods),
        tuple(sorted(p.promotion_id for p in goods)),
        tuple((-p.priority, p.promotion_id) for p in combo if p.group is Group.delivery),
    )


def ranked_answer(p: model.Pricing, promos: Sequence[Promotion]) -> Ranked:
    """The documented rank of what the engine applied."""
    applied = {a.promotion_id for a in p.applied}
    return documented_rank(p.discount, [q for q in promos if q.promotion_id in applied])


def brute_best(lines: list[CartLine], promos: list[Promotion], fee: int) -> Ranked:
    """Every subset of the money promotions (gifts take no part), legal ones ranked by the
    documented order."""
    promos = [p for p in promos if p.kind is not Kind.gift]
    ranked = []
    for n in range(len(promos) + 1):
        for combo in combinations(promos, n):
            total = brute_total(lines, combo, fee)
            if total is not None:
                ranked.append(documented_rank(total[0], combo))
    return min(ranked)


SKUS = ("tea", "cup", "pot", "pan")
CATS = ("drinks", "kitchen")
BRANDS = ("b1", "b2")


@st.composite
def carts(draw: st.DrawFn) -> list[CartLine]:
    skus = draw(st.lists(st.sampled_from(SKUS), min_size=1, max_size=4, unique=True))
    return [
        CartLine(
            f"L{i}",
            sku,
            draw(st.sampled_from(CATS)),
            draw(st.sampled_from(BRANDS)),
            draw(st.one_of(st.integers(0, 150_00), st.integers(0, 15).map(lambda x: x * 10_00))),
            draw(st.integers(1, 3)),
        )
        for i, sku in enumerate(skus)
    ]


@st.composite
def scopes(draw: st.DrawFn) -> Scope:
    def some(values: Sequence[str]) -> frozenset[str]:
        return frozenset(draw(st.lists(st.sampled_from(values), max_size=2)))

    if draw(st.booleans()):
        return Scope()
    return Scope(some(SKUS), some(CATS), some(BRANDS), exclude_skus=some(SKUS))


@st.composite
def tiers(draw: st.DrawFn) -> tuple[Tier, ...]:
    thresholds = sorted(draw(st.sets(st.integers(10_00, 400_00), min_size=1, max_size=3)))
    discounts = sorted(draw(st.sets(st.integers(1, 10_00), min_size=3, max_size=3)))
    return tuple(Tier(t, d) for t, d in zip(thresholds, discounts, strict=False))


def benefits(kind: Kind, draw: st.DrawFn) -> dict[str, Any]:
    bp = draw(st.integers(1, 10_000))
    table: dict[Kind, dict[str, Any]] = {
        Kind.percent_off: {"off_bp": bp},
        Kind.amount_off: {"amount": draw(st.integers(1, 16)) * 5_00},  # round: ties
        Kind.threshold: {"tiers": draw(tiers())},
        Kind.repeat_threshold: {"every": 100_00, "minus": draw(st.integers(1, 99_99))},
        Kind.buy_x_get_y: {"buy": draw(st.integers(1, 2)), "get": 1, "off_bp": bp},
        Kind.nth_item: {"nth": draw(st.integers(2, 3)), "off_bp": bp},
        Kind.bundle: {"bundle_qty": 2, "bundle_price": draw(st.integers(1, 200_00))},
        Kind.free_delivery: {"min_spend": draw(st.integers(0, 300_00))},
        Kind.fixed_price: {
            "price": draw(st.integers(1, 150_00)),
            "max_units": draw(st.integers(0, 3)),
        },
        Kind.gift: {"gift_sku": "gift", "gift_qty": 2, "min_spend": draw(st.integers(1, 300_00))},
    }
    return table[kind]


@st.composite
def promotions(
    draw: st.DrawFn,
    count: tuple[int, int] = (0, 6),
    scope: st.SearchStrategy[Scope] | None = None,
    exclusive_one_in: int = 5,
    top_priority: int = 2,
) -> list[Promotion]:
    """Promotions of every kind; by default few, for the brute force; the search tests
    ask for more, with scopes of their own and exclusive ones rarer."""
    out = []
    for i in range(draw(st.integers(*count))):
        kind = draw(st.sampled_from(list(Kind)))
        group = model.LEVEL.get(kind) or draw(st.sampled_from([Group.item, Group.order]))
        out.append(
            Promotion(
                f"P{i:02d}",
                f"promotion {i}",
                kind,
                group,
                scope=draw(scopes() if scope is None else scope),
                exclusive=kind is not Kind.gift and draw(st.integers(1, exclusive_one_in)) == 1,
                priority=draw(st.integers(0, top_priority)),
                **benefits(kind, draw),
            )
        )
    return out


@settings(max_examples=400, deadline=None)
@given(carts(), promotions(), st.sampled_from([0, 8_00]))
def test_the_chosen_combination_is_the_brute_force_best(
    lines: list[CartLine], promos: list[Promotion], fee: int
) -> None:
    p = price_cart(lines, promos, delivery_fee=fee)
    chosen = [q for q in promos if q.promotion_id in {a.promotion_id for a in p.applied}]
    mine = brute_total(lines, chosen, fee)
    assert mine is not None  # the engine's choice is legal under the stated rules
    assert mine[0] == p.discount
    assert sorted(mine[1]) == sorted(a.amount for a in p.applied)
    best = brute_best(lines, promos, fee)
    assert -best[0] == p.discount  # never worse than any legal combination, and equal
    assert ranked_answer(p, promos) == best
    assert p.exact
    assert [g.promotion_id for g in p.gifts] == brute_gifts(lines, promos, chosen, p)


def brute_gifts(
    lines: list[CartLine], promos: list[Promotion], chosen: list[Promotion], p: model.Pricing
) -> list[str]:
    """Rule 7: every gift whose scoped lines' net reaches its spend, unless an exclusive
    promotion won."""
    if any(q.exclusive for q in chosen):
        return []
    net = {x.line_id: x.net for x in p.lines}
    return [
        q.promotion_id
        for q in promos
        if q.kind is Kind.gift
        and any(covers(q, x) for x in lines)
        and sum(net[x.line_id] for x in lines if covers(q, x)) >= q.min_spend
    ]


@settings(max_examples=300, deadline=None)
@given(carts(), promotions(), st.sampled_from([0, 8_00]))
def test_allocation_sums_exactly(lines: list[CartLine], promos: list[Promotion], fee: int) -> None:
    p = price_cart(lines, promos, delivery_fee=fee)
    check_sums(p)
    assert p.gross == sum(x.unit_price * x.qty for x in lines)
    assert 0 <= p.delivery_discount <= fee and p.payable >= 0
    per_line = {x.line_id: 0 for x in lines}
    for a in p.applied:
        assert a.amount > 0
        for line_id, fen in a.lines:
            per_line[line_id] += fen
    assert per_line == {x.line_id: x.discount for x in p.lines}
    explained = {x.promotion_id for x in p.not_applied} | {a.promotion_id for a in p.applied}
    explained |= {g.promotion_id for g in p.gifts}
    assert explained == {q.promotion_id for q in promos}


@settings(max_examples=150, deadline=None)
@given(carts(), promotions(), st.sampled_from([0, 8_00]), st.randoms())
def test_the_answer_is_deterministic(
    lines: list[CartLine], promos: list[Promotion], fee: int, rnd: Any
) -> None:
    first = price_cart(lines, promos, delivery_fee=fee)
    assert price_cart(lines, promos, delivery_fee=fee) == first
    shuffled = list(promos)
    rnd.shuffle(shuffled)
    again = price_cart(lines, shuffled, delivery_fee=fee)
    assert sorted(a.promotion_id for a in again.applied) == sorted(
        a.promotion_id for a in first.applied
    )
    assert again.lines == first.lines
