"""Pure rules of the inventory centre: channel allocation and serial numbers."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhongtai.inventory import model
from zhongtai.inventory.model import Allocation, AllocationKind, Balance, Rulebook, SerialStatus

CHANNELS = ("pos", "mall", "live", "o2o")
SKU, HERE = "sku", "loc"


@st.composite
def levels(draw: st.DrawFn) -> tuple[Balance, list[Allocation]]:
    """A level with any mix of holds and quotas (at most one rule per kind and channel)."""
    on_hand = draw(st.integers(0, 500))
    reserved = draw(st.integers(0, on_hand))
    balance = Balance(on_hand, reserved, 0, draw(st.integers(0, 50)))
    rules = []
    for i, channel in enumerate(draw(st.sets(st.sampled_from(CHANNELS), max_size=3))):
        if draw(st.booleans()):
            rules.append(
                Allocation(
                    f"h{i}", AllocationKind.hold, channel, HERE, None, pct=draw(st.integers(1, 60))
                )
            )
        else:
            qty = draw(st.integers(1, 300))
            rules.append(
                Allocation(
                    f"q{i}",
                    AllocationKind.quota,
                    channel,
                    HERE,
                    SKU,
                    qty=qty,
                    used=draw(st.integers(0, qty)),
                )
            )
    return balance, rules


def _has(rules: list[Allocation], channel: str, kind: AllocationKind) -> bool:
    return any(r.channel == channel and r.kind is kind for r in rules)


@given(levels(), st.sampled_from(CHANNELS))
def test_a_channel_is_never_promised_more_than_is_free_or_its_quota(
    level: tuple[Balance, list[Allocation]], channel: str
) -> None:
    balance, rules = level
    book = Rulebook(rules)
    can = book.available_to(balance, channel, SKU, HERE)
    assert 0 <= can <= balance.available
    quota = book.quota(channel, SKU, HERE)
    if quota is not None:
        assert can <= quota.remaining


@given(levels(), st.sampled_from(CHANNELS), st.data())
def test_what_one_channel_takes_never_eats_another_channels_quota_or_hold(
    level: tuple[Balance, list[Allocation]], taker: str, data: st.DataObject
) -> None:
    """Whatever a channel without a quota or hold takes, every quota keeps what it could
    promise, and every channel with a hold can still promise at least its share."""
    balance, rules = level
    book = Rulebook(rules)
    can = book.available_to(balance, taker, SKU, HERE)
    if (
        can == 0
        or _has(rules, taker, AllocationKind.quota)
        or _has(rules, taker, AllocationKind.hold)
    ):
        return
    before = {c: book.available_to(balance, c, SKU, HERE) for c in CHANNELS if c != taker}
    after, drawn = book.take(balance, taker, SKU, HERE, data.draw(st.integers(1, can)))
    assert drawn is None
    for other, had in before.items():
        now = book.available_to(after, other, SKU, HERE)
        if _has(rules, other, AllocationKind.quota):
            assert now == had
        elif _has(rules, other, AllocationKind.hold):
            pct = next(r.pct for r in rules if r.channel == other)
            assert now >= -(-pct * balance.on_hand // 100)  # its share, rounded up


@given(st.integers(0, 100), st.lists(st.integers(1, 10), max_size=30))
def test_requests_are_met_in_arrival_order_while_stock_lasts(
    on_hand: int, wanted: list[int]
) -> None:
    """The hot path answers a batch one request at a time: refused only when it did not
    fit at its turn, so a later smaller request may still be met."""
    book, balance, left = Rulebook([]), Balance(on_hand), on_hand
    for qty in wanted:
        try:
            balance, _ = book.take(balance, "mall", SKU, HERE, qty)
            ok = True
        except model.OutOfStockError:
            ok = False
        assert ok == (qty <= left)
        left -= qty if ok else 0
    assert balance.reserved == on_hand - left


@given(st.integers(1, 50), st.integers(0, 200), st.lists(st.integers(1, 20), max_size=40))
def test_a_quota_is_drawn_down_and_never_exceeded(
    quota: int, on_hand: int, wanted: list[int]
) -> None:
    book = Rulebook([Allocation("q", AllocationKind.quota, "live", HERE, SKU, qty=quota)])
    balance, taken = Balance(on_hand), 0
    for qty in wanted:
        try:
            balance, drawn = book.take(balance, "live", SKU, HERE, qty)
        except model.OutOfStockError:
            continue
        taken += qty
        assert drawn is not None and drawn.used == taken
    assert taken <= min(quota, on_hand)
    assert balance.reserved == taken


def test_sourcing_rules_close_every_other_location_to_that_channel() -> None:
    book = Rulebook([Allocation("s", AllocationKind.source, "mall", "dc", None)])
    full = Balance(10)
    assert book.available_to(full, "mall", SKU, "dc") == 10
    assert book.available_to(full, "mall", SKU, "store") == 0
    assert book.available_to(full, "pos", SKU, "store") == 10  # no sourcing rule: shared pool


def test_a_hold_keeps_its_share_for_its_channel_only() -> None:
    book = Rulebook([Allocation("h", AllocationKind.hold, "pos", HERE, None, pct=20)])
    level = Balance(on_hand=101)
    assert book.available_to(level, "pos", SKU, HERE) == 101
    assert book.available_to(level, "mall", SKU, HERE) == 101 - 21  # 20% rounded up


@pytest.mark.parametrize(
    ("kind", "sku", "pct", "qty", "field"),
    [
        (AllocationKind.hold, None, None, None, "pct"),
        (AllocationKind.hold, "A", 10, None, "sku"),
        (AllocationKind.quota, "A", None, None, "qty"),
        (AllocationKind.quota, None, None, 5, "sku"),
        (AllocationKind.source, None, None, 5, "qty"),
    ],
)
def test_each_rule_kind_takes_exactly_its_fields(
    kind: AllocationKind, sku: str | None, pct: int | None, qty: int | None, field: str
) -> None:
    with pytest.raises(model.StockRuleError) as caught:
        model.check_allocation(kind, sku, pct, qty)
    assert caught.value.field == field


def test_serials_one_per_unit_and_only_for_serialised_skus() -> None:
    assert model.check_serials(["A", "B"], 2, required=True) == ["A", "B"]
    assert model.check_serials(["A"], -1, required=True) == ["A"]
    assert model.check_serials(None, 3, required=False) == []
    for serials, qty, required in ((["A"], 2, True), (["A", "A"], 2, True), (["A"], 1, False)):
        with pytest.raises(model.StockRuleError):
            model.check_serials(serials, qty, required=required)


def test_a_unit_moves_only_from_where_it_is() -> None:
    here = (SerialStatus.in_stock, "SH01")
    may = model.serial_may_move
    assert may(None, None) and may((SerialStatus.sold, "SH01"), None)  # new, or returned
    assert not may(here, None)  # already in stock: not received twice
    assert may(here, here) and not may((SerialStatus.in_stock, "SH02"), here)
    assert not may(None, here)
    assert may(None, here, offline=True)  # sold offline: record it, the goods are gone
    assert not may((SerialStatus.sold, "SH01"), here, offline=True)  # but never twice
