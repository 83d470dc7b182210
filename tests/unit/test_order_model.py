"""Order money rules: VAT inside prices, discounts split to the fen, exact refunds."""

from __future__ import annotations

import itertools
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhongtai.orders import model


def test_vat_inside_a_price() -> None:
    assert model.tax_included(11_300, 1_300) == 1_300  # 113.00 at 13% holds 13.00
    assert model.tax_included(10_900, 900) == 900
    assert model.tax_included(0, 1_300) == 0
    assert model.tax_included(1, 1_300) == 0  # 0.115 fen rounds down
    assert model.tax_included(5, 1_300) == 1  # 0.575 fen rounds up


@given(st.integers(0, 10**7), st.lists(st.integers(0, 10**6), min_size=1, max_size=20))
def test_allocation_sums_exactly_and_follows_the_weights(total: int, weights: list[int]) -> None:
    shares = model.allocate(total, weights)
    whole = sum(weights)
    if whole == 0:
        assert shares == [0] * len(weights)
        return
    assert sum(shares) == total
    for share, w in zip(shares, weights, strict=True):
        assert abs(share - total * w / whole) < 1  # off by less than a fen


@given(
    st.integers(0, 10**7),
    st.integers(1, 50),
    st.data(),
)
def test_partial_refunds_of_every_unit_add_up_to_the_net_paid(
    net: int, qty: int, data: st.DataObject
) -> None:
    refunded, returned = 0, 0
    while returned < qty:
        k = data.draw(st.integers(1, qty - returned))
        got = model.refund_for(net, qty, returned, k)
        assert 0 <= got <= net - refunded
        refunded += got
        returned += k
    assert refunded == net


def test_no_more_units_returned_than_bought() -> None:
    with pytest.raises(ValueError):
        model.refund_for(1000, 2, 1, 2)
    with pytest.raises(ValueError):
        model.refund_for(1000, 2, 0, 0)


def test_a_category_inherits_the_nearest_ancestors_rate() -> None:
    rates = {"food": 1_300, "fresh": 900}
    assert model.rate_for("food/fresh/veg/", rates, 1_300) == 900
    assert model.rate_for("food/snacks/", rates, 1_300) == 1_300
    assert model.rate_for("home/", {}, 600) == 600


SHANGHAI = ZoneInfo("Asia/Shanghai")


def test_slots_fill_the_opening_hours_of_the_day() -> None:
    friday = date(2026, 11, 27)
    starts = model.slot_starts({"daily": "08:00-22:00"}, friday, SHANGHAI, 60)
    assert len(starts) == 14
    assert starts[0] == datetime(2026, 11, 27, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
    assert starts[-1] == datetime(2026, 11, 27, 13, 0, tzinfo=UTC)  # 21:00 - 22:00
    assert model.slot_starts({"sat": "09:00-12:00"}, friday, SHANGHAI, 60) == []
    assert model.slot_starts({"fri": "closed"}, friday, SHANGHAI, 60) == []
    assert model.slot_starts({"fri": "nine to five"}, friday, SHANGHAI, 60) == []
    assert len(model.slot_starts({}, friday, SHANGHAI, 60)) == 24
    late = model.slot_starts({"fri": "20:00-02:00"}, friday, SHANGHAI, 60)
    assert len(late) == 6 and late[-1] == datetime(2026, 11, 27, 17, 0, tzinfo=UTC)


@given(
    st.dates(date(2026, 1, 1), date(2027, 12, 31)),
    st.integers(0, 23),
    st.integers(1, 24),
    st.sampled_from([30, 60, 90]),
)
def test_slots_are_whole_and_inside_the_hours(
    day: date, opens: int, length: int, minutes: int
) -> None:
    closes = (opens + length) % 24
    hours = {"daily": f"{opens:02d}:00-{closes:02d}:00"}
    starts = model.slot_starts(hours, day, SHANGHAI, minutes)
    opening = datetime.combine(day, time(opens), SHANGHAI)
    closing = opening + timedelta(hours=length)
    step = timedelta(minutes=minutes)
    assert len(starts) == length * 60 // minutes
    assert all(opening <= s and s + step <= closing for s in starts)
    assert all(b - a == step for a, b in itertools.pairwise(starts))
