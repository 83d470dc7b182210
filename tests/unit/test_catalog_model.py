"""Category trees, SKU matrices, units and listing decisions: pure rules."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from zhongtai.catalog.model import (
    AttributeSpec,
    ListingDecision,
    Unit,
    effective_template,
    listing_state,
    matrix,
    missing_attributes,
    path_of,
    to_base,
    would_cycle,
)

T0 = datetime(2026, 11, 25, tzinfo=UTC)


@given(
    st.dictionaries(
        st.sampled_from(["colour", "size", "fit"]),
        st.lists(st.text(min_size=1, max_size=3), min_size=1, max_size=4, unique=True),
        min_size=1,
    )
)
def test_matrix_has_every_combination_once(axes: dict[str, list[str]]) -> None:
    combos = matrix(axes)
    expected = 1
    for values in axes.values():
        expected *= len(values)
    assert len(combos) == expected
    assert len({tuple(sorted(c.items())) for c in combos}) == expected


def test_a_category_cannot_move_under_its_own_subtree() -> None:
    root = path_of("", "A")
    child = path_of(root, "B")
    grandchild = path_of(child, "C")
    assert would_cycle(root, grandchild)
    assert would_cycle(child, child)
    assert not would_cycle(grandchild, root)


def test_templates_inherit_and_children_override() -> None:
    parent = [AttributeSpec("season", required=True), AttributeSpec("colour", variant=True)]
    child = [AttributeSpec("size", variant=True), AttributeSpec("season", required=False)]
    merged = {s.name: s for s in effective_template([parent, child])}
    assert set(merged) == {"season", "colour", "size"}
    assert merged["season"].required is False
    assert missing_attributes(merged.values(), {"colour": "red"}, variant=True) == ["size"]


def test_units_convert_to_the_base_unit() -> None:
    units = [Unit("each", 1), Unit("inner", 6), Unit("case", 12)]
    assert to_base(2, "case", units) == 24
    assert to_base(3, "inner", units) == 18


def test_listing_store_decision_beats_channel_decision_and_schedules_apply() -> None:
    delist_all = ListingDecision("01", "mall", None, False, T0)
    relist_s1 = ListingDecision("02", "mall", "S1", True, T0 + timedelta(hours=1))
    back_on = ListingDecision("03", "mall", None, True, T0 + timedelta(days=1))
    ds = [delist_all, relist_s1, back_on]
    assert listing_state([], "mall", None, T0).listed is True
    assert listing_state(ds, "mall", "S2", T0 + timedelta(hours=2)).listed is False
    assert listing_state(ds, "mall", "S1", T0 + timedelta(hours=2)).listed is True
    state = listing_state(ds, "mall", "S2", T0 + timedelta(hours=2))
    assert state.next_change == back_on
    assert listing_state(ds, "mall", "S2", T0 + timedelta(days=2)).listed is True
    assert listing_state(ds, "pos", "S2", T0 + timedelta(hours=2)).listed is True
