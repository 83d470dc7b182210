"""Price resolution: the chosen price is always the most specific valid one."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from zhongtai.pricing.model import PriceQuery, PriceRule, applies, resolve

T0 = datetime(2026, 11, 1, tzinfo=UTC)
channels = st.sampled_from([None, "pos", "mall", "o2o"])
stores = st.sampled_from([None, "S1", "S2"])
tiers = st.sampled_from([None, "gold", "silver"])
moments = st.integers(0, 30).map(lambda d: T0 + timedelta(days=d))


@st.composite
def rules(draw: st.DrawFn, n: int) -> PriceRule:
    start = draw(st.none() | moments)
    end = draw(st.none() | moments)
    if start and end and end <= start:
        end = start + timedelta(days=1)
    return PriceRule(
        id=f"{n:06d}",
        amount=draw(st.integers(0, 100_000)),
        currency="CNY",
        channel=draw(channels),
        store_id=draw(stores),
        member_tier=draw(tiers),
        valid_from=start,
        valid_to=end,
    )


rule_lists = st.integers(0, 12).flatmap(lambda k: st.tuples(*(rules(i) for i in range(k))))
queries = st.builds(PriceQuery, at=moments, channel=channels, store_id=stores, member_tier=tiers)


def _beats(a: PriceRule, b: PriceRule) -> bool:
    """Independent statement of the documented order: does `a` outrank `b`?"""
    for dim_a, dim_b in (
        (a.member_tier, b.member_tier),
        (a.store_id, b.store_id),
        (a.channel, b.channel),
    ):
        if (dim_a is None) != (dim_b is None):
            return dim_a is not None
    if a.time_bound != b.time_bound:
        return a.time_bound
    return a.id > b.id


@given(rule_lists, queries)
def test_the_chosen_price_applies_and_nothing_valid_outranks_it(
    rs: tuple[PriceRule, ...], q: PriceQuery
) -> None:
    chosen = resolve(rs, q)
    valid = [r for r in rs if applies(r, q)]
    if chosen is None:
        assert valid == []
        return
    assert applies(chosen, q)
    assert not any(_beats(r, chosen) for r in valid if r is not chosen)


@given(rule_lists, queries, rules(999_999))
def test_a_price_that_does_not_apply_changes_nothing(
    rs: tuple[PriceRule, ...], q: PriceQuery, extra: PriceRule
) -> None:
    if not applies(extra, q):
        assert resolve((*rs, extra), q) == resolve(rs, q)


@given(st.integers(1, 10_000), queries)
def test_the_base_price_serves_when_nothing_else_applies(amount: int, q: PriceQuery) -> None:
    base = PriceRule("000001", amount, "CNY")
    assert resolve([base], q) == base


def test_documented_examples() -> None:
    at = T0 + timedelta(days=3)
    base = PriceRule("1", 1000, "CNY")
    store = PriceRule("2", 950, "CNY", store_id="S1")
    gold = PriceRule("3", 900, "CNY", member_tier="gold")
    weekend = PriceRule("4", 800, "CNY", valid_from=T0, valid_to=T0 + timedelta(days=2))
    everything = [base, store, gold, weekend]
    assert resolve(everything, PriceQuery(at, store_id="S1")) == store
    assert resolve(everything, PriceQuery(at, store_id="S1", member_tier="gold")) == gold
    assert resolve(everything, PriceQuery(T0, store_id="S2")) == weekend
    assert resolve(everything, PriceQuery(at, store_id="S2")) == base
