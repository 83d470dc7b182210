"""Member rules without a database: identities, the points ledger (earn, burn first-expiring
first, expiry at period end, reversal of returns, points given back), earn rules, tiers,
tickets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhongtai.members import model
from zhongtai.members.model import IdentityKind, Lot, TicketStatus

T0 = datetime(2026, 3, 15, 2, 0, tzinfo=UTC)


# --- identities ---------------------------------------------------------------------------


def test_a_phone_is_one_number_however_it_is_written() -> None:
    for spelling in ("13900000001", "+86 139-0000-0001", "0086 13900000001", "86(139)00000001"):
        assert model.normalise(IdentityKind.phone, spelling) == "13900000001"
    assert model.normalise(IdentityKind.phone, "+44 20 7946 0958") == "+442079460958"
    assert model.normalise(IdentityKind.email, " Wang@Example.COM ") == "wang@example.com"
    assert model.normalise(IdentityKind.card, "vip-00042") == "VIP-00042"
    assert model.normalise(IdentityKind.wechat_open, "oAbC_123") == "oAbC_123"  # case kept
    for kind, bad in (
        (IdentityKind.phone, "call me"),
        (IdentityKind.email, "no-at-sign"),
        (IdentityKind.wechat_union, "has space"),
    ):
        with pytest.raises(ValueError):
            model.normalise(kind, bad)


def test_a_free_reference_is_tried_in_every_stored_form() -> None:
    assert {"+86 13900000001", "13900000001"} <= model.forms("+86 13900000001")
    assert "wang@example.com" in model.forms("Wang@Example.com")
    assert "M0000000007" in model.forms("m0000000007")


# --- the points ledger ----------------------------------------------------------------------


def test_points_leave_first_expiring_first_and_never_more_than_held() -> None:
    lots = [
        Lot("c", 50, None),
        Lot("b", 30, T0 + timedelta(days=60)),
        Lot("a", 20, T0 + timedelta(days=30)),
    ]
    assert model.draw(lots, 40) == [("a", 20), ("b", 20)]
    assert model.draw(lots, 100) == [("a", 20), ("b", 30), ("c", 50)]
    with pytest.raises(model.NotEnoughPoints) as refused:
        model.draw(lots, 101)
    assert (refused.value.held, refused.value.asked) == (100, 101)


def test_a_reversal_takes_from_the_orders_own_lot_first_and_owes_the_rest() -> None:
    lots = [Lot("old", 10, T0), Lot("order", 5, T0 + timedelta(days=90))]
    assert model.claw_back(lots, 8, prefer="order") == [("order", 5), ("old", 3)]
    assert model.claw_back(lots, 30, prefer="order") == [("order", 5), ("old", 10)]  # 15 owed
    assert model.into_lots(-15, 10) == 0  # new points pay what is owed first
    assert model.into_lots(-15, 20) == 5
    assert model.into_lots(7, 3) == 3


def test_points_given_back_return_to_their_lots_last_taken_first() -> None:
    taken = [("a", 20), ("b", 20)]
    assert model.restore(taken, {}, 25) == [("b", 20), ("a", 5)]
    assert model.restore(taken, {"b": 20, "a": 5}, 15) == [("a", 15)]
    with pytest.raises(ValueError):
        model.restore(taken, {"b": 20}, 21)


def test_expiry_is_at_the_end_of_the_month_months_later_local_time() -> None:
    # Earned 15 March 2026 (Shanghai): expires when March 2027 ends, Shanghai time.
    assert model.expiry(T0, 12) == datetime(2027, 3, 31, 16, 0, tzinfo=UTC)
    assert model.expiry(datetime(2026, 12, 31, 17, 0, tzinfo=UTC), 0) == datetime(
        2027, 1, 31, 16, 0, tzinfo=UTC
    )  # already 1 January in Shanghai
    assert model.expiry(T0, None) is None
    lots = [Lot("a", 5, T0), Lot("b", 7, T0 + timedelta(days=1)), Lot("c", 0, T0)]
    assert model.due(lots, T0) == [("a", 5)]


def test_points_pay_whole_points_only() -> None:
    assert model.points_for(250, 100) == 250  # 100 points a yuan: a point a fen
    assert model.points_for(4, 50) == 2
    with pytest.raises(ValueError):
        model.points_for(3, 50)


@dataclass
class Book:
    """A member's points kept with the pure rules only, as the service keeps them."""

    balance: int = 0
    entries: list[int] = field(default_factory=list)
    lots: dict[str, Lot] = field(default_factory=dict)
    burns: dict[str, list[model.Take]] = field(default_factory=dict)
    restored: dict[str, Counter[str]] = field(default_factory=dict)
    orders: dict[str, tuple[str, int, int]] = field(default_factory=dict)  # lot, qty, points
    returned: Counter[str] = field(default_factory=Counter)
    now: datetime = T0

    def post(self, points: int, takes: list[model.Take], sign: int) -> None:
        self.balance += points
        self.entries.append(points)
        for lot_id, n in takes:
            lot = self.lots[lot_id]
            self.lots[lot_id] = Lot(lot.id, lot.remaining + sign * n, lot.expires_at)

    def earn(self, points: int, days: int, qty: int) -> None:
        lot_id = f"L{len(self.entries):04d}"
        spendable = model.into_lots(self.balance, points)
        self.post(points, [], 1)
        self.lots[lot_id] = Lot(lot_id, spendable, self.now + timedelta(days=days))
        self.orders[lot_id] = (lot_id, qty, points)

    def burn(self, points: int) -> None:
        held = [lot for lot in self.lots.values() if lot.remaining > 0]
        try:
            takes = model.draw(held, points)
        except model.NotEnoughPoints:
            assert points > max(self.balance, 0)
            return
        ordered = [lot for lot in model.fifo(held)][: len(takes)]
        assert [lot_id for lot_id, _n in takes] == [lot.id for lot in ordered]  # FIFO
        assert all(n == lot.remaining for (_i, n), lot in zip(takes[:-1], ordered, strict=False))
        self.post(-points, takes, -1)
        self.burns[f"B{len(self.entries):04d}"] = takes

    def expire(self, days: int) -> None:
        self.now += timedelta(days=days)
        takes = model.due(self.lots.values(), self.now)
        self.post(-sum(n for _l, n in takes), takes, -1)

    def reverse(self, pick: int, units: int) -> None:
        if not self.orders:
            return
        order = sorted(self.orders)[pick % len(self.orders)]
        lot_id, qty, points = self.orders[order]
        units = min(units, qty - self.returned[order])
        if units <= 0:
            return
        back = model.share(points, qty, self.returned[order], units)
        self.returned[order] += units
        takes = model.claw_back(self.lots.values(), back, prefer=lot_id)
        assert sum(n for _l, n in takes) == min(back, max(self.balance, 0))
        self.post(-back, takes, -1)

    def give_back(self, pick: int, points: int) -> None:
        if not self.burns:
            return
        burn = sorted(self.burns)[pick % len(self.burns)]
        taken = self.burns[burn]
        restored = self.restored.setdefault(burn, Counter())
        points = min(points, sum(n for _l, n in taken) - sum(restored.values()))
        if points <= 0:
            return
        takes = model.restore(taken, restored, model.into_lots(self.balance, points))
        restored.update(dict(takes))
        self.post(points, takes, 1)

    def check(self) -> None:
        assert sum(self.entries) == self.balance  # the ledger sums to the balance
        assert all(lot.remaining >= 0 for lot in self.lots.values())
        assert sum(lot.remaining for lot in self.lots.values()) == max(self.balance, 0)


OPERATIONS = st.one_of(
    st.tuples(st.just("earn"), st.integers(0, 500), st.integers(-10, 400), st.integers(1, 5)),
    st.tuples(st.just("burn"), st.integers(1, 800)),
    st.tuples(st.just("expire"), st.integers(0, 120)),
    st.tuples(st.just("reverse"), st.integers(0, 50), st.integers(1, 5)),
    st.tuples(st.just("give_back"), st.integers(0, 50), st.integers(1, 400)),
)


@settings(max_examples=300)
@given(st.lists(OPERATIONS, max_size=60))
def test_the_ledger_always_sums_to_the_balance_and_the_lots_hold_it(
    operations: list[tuple[object, ...]],
) -> None:
    book = Book()
    for op, *args in operations:
        getattr(book, str(op))(*args)
        book.check()


@given(st.integers(0, 10**6), st.integers(1, 40), st.data())
def test_taking_back_every_unit_in_any_steps_takes_back_exactly_what_was_earned(
    points: int, qty: int, data: st.DataObject
) -> None:
    taken, returned = 0, 0
    while returned < qty:
        n = data.draw(st.integers(1, qty - returned))
        taken += model.share(points, qty, returned, n)
        returned += n
    assert taken == points


def test_settling_after_a_merge_leaves_the_lots_holding_the_balance() -> None:
    lots = [Lot("a", 30, T0), Lot("b", 50, None)]
    assert model.settle(lots, 60) == [("a", 20)]
    assert model.settle(lots, -5) == [("a", 30), ("b", 50)]
    assert model.settle(lots, 80) == []


# --- earn rules -----------------------------------------------------------------------------


def test_the_most_specific_earn_rule_wins_per_line() -> None:
    week = (T0 - timedelta(days=1), T0 + timedelta(days=6))
    rules = [
        model.EarnRule("01", 2, channel="mall"),
        model.EarnRule("02", 0, category_id="TOBACCO"),
        model.EarnRule("03", 5, category_id="FOOD", valid_from=week[0], valid_to=week[1]),
    ]
    lines = [
        model.EarnLine("tee", "APPAREL/TOPS/", 12_345),
        model.EarnLine("cig", "TOBACCO/", 5_000),
        model.EarnLine("milk", "FOOD/DAIRY/", 1_999),
    ]
    assert model.earn(lines, "mall", T0, rules, 1) == {"tee": 246, "cig": 0, "milk": 99}
    assert model.earn(lines, "pos", T0, rules, 1) == {"tee": 123, "cig": 0, "milk": 99}
    later = T0 + timedelta(days=7)  # the double-points week is over
    assert model.earn(lines, "pos", later, rules, 1) == {"tee": 123, "cig": 0, "milk": 19}


# --- tiers ----------------------------------------------------------------------------------


def test_tiers_are_reached_in_the_rolling_window_up_at_once_down_at_review() -> None:
    regular = model.TierRule("regular", 0, None, None, 365)
    silver = model.TierRule("silver", 1, 100_000, None, 365)
    gold = model.TierRule("gold", 2, 500_000, 5_000, 180)
    rules = [regular, silver, gold]
    activity = [
        model.Activity(T0 - timedelta(days=300), 400_000, 400),
        model.Activity(T0 - timedelta(days=10), 150_000, 150),
    ]
    assert model.qualifying(rules, activity, T0) == silver  # gold's 180 days: only 150,000
    assert model.qualifying(rules, [*activity, model.Activity(T0, 0, 5_000)], T0) == gold
    assert model.qualifying(rules, [], T0) == regular
    assert model.qualifying([silver], [], T0) is None
    assert model.upgraded(gold, silver) == gold  # never down between reviews
    assert model.upgraded(regular, silver) == silver
    assert model.upgraded(None, None) is None
    refund = model.Activity(T0, -500_000, -500)  # most of it came back
    assert model.qualifying(rules, [*activity, refund], T0) == regular


def test_birthdays_on_29_february_are_kept_on_the_28th_in_other_years() -> None:
    assert model.birthday_keys(date(2027, 2, 28)) == ["02-28", "02-29"]
    assert model.birthday_keys(date(2028, 2, 28)) == ["02-28"]
    assert model.birthday_keys(date(2028, 2, 29)) == ["02-29"]


def test_tickets_move_only_along_the_allowed_paths() -> None:
    model.move(TicketStatus.open, TicketStatus.in_progress)
    model.move(TicketStatus.resolved, TicketStatus.open)  # reopened
    for now, to in (
        (TicketStatus.open, TicketStatus.closed),
        (TicketStatus.closed, TicketStatus.open),
        (TicketStatus.waiting, TicketStatus.waiting),
    ):
        with pytest.raises(ValueError):
            model.move(now, to)
