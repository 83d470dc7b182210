"""Tag and audience rules without I/O: expressions are checked as they are written, bitmap
evaluation equals plain set arithmetic, RFM segments cover the grid, and a saved audience
that refers back to itself is refused."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError
from pyroaring import BitMap

from tests.service.test_audiences import SAVED, TAGS, expressions
from zhongtai.data.tags import model
from zhongtai.data.tags.model import Expr, TagValues

EVERYONE = set(range(1, 41))
holdings = st.dictionaries(
    st.tuples(st.sampled_from(list(TAGS)), st.integers(0, 4)),
    st.sets(st.integers(1, 40), max_size=20),
    max_size=12,
)


def _held(raw: dict[tuple[str, int], set[int]]) -> dict[str, dict[str, set[int]]]:
    out: dict[str, dict[str, set[int]]] = {tag: {} for tag in TAGS}
    for (tag, i), persons in raw.items():
        out[tag].setdefault(TAGS[tag][i % len(TAGS[tag])], set()).update(persons)
    return out


def _reference(e: dict[str, Any], held: dict[str, dict[str, set[int]]]) -> set[int]:
    """Plain sets, written from the documented meaning of each form."""
    if "and" in e:
        return set.intersection(*(_reference(x, held) for x in e["and"]))
    if "or" in e:
        return set().union(*(_reference(x, held) for x in e["or"]))
    if "not" in e:
        return EVERYONE - _reference(e["not"], held)
    if "audience" in e:
        return _reference(SAVED, held)
    values = held[e["tag"]]
    if "value" in e:
        wanted = {e["value"]}
    elif "values" in e:
        wanted = set(e["values"])
    elif "min" in e or "max" in e:
        low, high = e.get("min", -(10**9)), e.get("max", 10**9)
        wanted = {v for v in values if low <= int(v) <= high}
    else:
        wanted = set(values)
    return set().union(*(p for v, p in values.items() if v in wanted))


def _source(held: dict[str, dict[str, set[int]]]) -> TagValues:
    bitmaps = {t: {v: BitMap(p) for v, p in vs.items()} for t, vs in held.items()}
    return TagValues(bitmaps.__getitem__, lambda _c: Expr.model_validate(SAVED), BitMap(EVERYONE))


@settings(max_examples=400)
@given(raw=holdings, e=expressions)
def test_bitmap_evaluation_equals_set_arithmetic(
    raw: dict[tuple[str, int], set[int]], e: dict[str, Any]
) -> None:
    held = _held(raw)
    assert set(model.evaluate(Expr.model_validate(e), _source(held))) == _reference(e, held)


def test_ranges_are_inclusive_and_skip_values_that_are_not_numbers() -> None:
    held = {"colour": {}, "member": {}, "score": {"1": {1}, "3": {3}, "5": {5}, "n/a": {9}}}
    source = _source(held)
    assert set(model.evaluate(Expr(tag="score", min=3, max=5), source)) == {3, 5}
    assert set(model.evaluate(Expr(tag="score", max=3), source)) == {1, 3}
    assert set(model.evaluate(Expr(tag="score"), source)) == {1, 3, 5, 9}


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"tag": "a", "and": [{"tag": "b"}]},
        {"value": "x"},
        {"tag": "a", "value": "x", "values": ["y"]},
        {"tag": "a", "min": 5, "max": 1},
        {"and": []},
        {"tag": "Bad Code"},
        {"tag": "_everyone"},
    ],
)
def test_malformed_expressions_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ValidationError):
        Expr.model_validate(bad)


def test_a_saved_audience_that_refers_to_itself_is_an_error() -> None:
    loop = Expr.model_validate({"or": [{"tag": "member"}, {"audience": "loop"}]})
    source = TagValues(lambda _t: {}, lambda _c: loop, BitMap())
    with pytest.raises(ValueError, match="refers to itself"):
        model.evaluate(Expr(audience="loop"), source)


def test_every_rfm_cell_has_a_segment_and_the_corners_are_the_usual_ones() -> None:
    cells = {(r, f): model.segment(r, f) for r in range(1, 6) for f in range(1, 6)}
    assert cells[(5, 5)] == "champions" and cells[(1, 1)] == "lost"
    assert cells[(5, 1)] == "new" and cells[(1, 5)] == "cannot_lose"
    assert set(cells.values()) == set(model.SEGMENTS)


def test_rule_and_lifecycle_parameters_are_checked() -> None:
    with pytest.raises(ValidationError):
        model.RuleParams(event_types=["purchase"], min=5, max=2)
    with pytest.raises(ValidationError):
        model.RuleParams(event_types=[])
    with pytest.raises(ValidationError):
        model.LifecycleParams(active_days=90, lost_days=30)
