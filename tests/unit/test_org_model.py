"""Pure rules of the user centre: no database, no server."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhongtai.org import model
from zhongtai.org.model import CodingRule, Reset, UnitKind


def test_company_holds_regions_and_stores_but_a_store_holds_no_region() -> None:
    assert model.can_hold(UnitKind.company, UnitKind.region)
    assert model.can_hold(UnitKind.region, UnitKind.store)
    assert not model.can_hold(UnitKind.store, UnitKind.region)
    assert not model.can_hold(UnitKind.region, UnitKind.company)


@st.composite
def trees(draw: st.DrawFn) -> dict[str, str]:
    """Random org trees as {unit id: materialised path}."""
    paths = {"u0": model.child_path("", "u0")}
    for i in range(1, draw(st.integers(1, 25))):
        parent = draw(st.sampled_from(sorted(paths)))
        paths[f"u{i}"] = model.child_path(paths[parent], f"u{i}")
    return paths


def _descendants(paths: dict[str, str], unit: str) -> set[str]:
    parent_of = {
        u: p.rstrip("/").split("/")[-2] if p.count("/") > 1 else None for u, p in paths.items()
    }
    out = {unit}
    changed = True
    while changed:
        grown = {u for u, parent in parent_of.items() if parent in out}
        changed = not grown <= out
        out |= grown
    return out


@given(trees(), st.data())
def test_scope_is_exactly_the_subtrees_of_assigned_units(
    paths: dict[str, str], data: st.DataObject
) -> None:
    non_root = sorted(u for u in paths if u != "u0")
    assigned = data.draw(st.lists(st.sampled_from(non_root), max_size=3)) if non_root else []
    scope = model.scope_of(assigned, paths)
    expected = set().union(*(_descendants(paths, u) for u in assigned)) if assigned else set()
    assert scope == frozenset(expected)


@given(trees())
def test_root_assignment_means_whole_tenant(paths: dict[str, str]) -> None:
    assert model.scope_of(["u0"], paths) is None


def test_unknown_units_grant_nothing() -> None:
    assert model.scope_of(["ghost"], {"u0": "u0/"}) == frozenset()


days = st.dates(min_value=date(2000, 1, 1), max_value=date(2099, 12, 31))


@given(days, st.integers(1, 999_999))
def test_code_is_prefix_date_and_padded_sequence(day: date, seq: int) -> None:
    rule = CodingRule("order", "SO", "YYYYMMDD", 6, Reset.daily)
    code = rule.format(day, seq)
    assert code == f"SO{day:%Y%m%d}{seq:06d}"
    assert int(code[-6:]) == seq


@given(days, st.integers(1, 99_998))
def test_codes_in_one_period_sort_in_sequence_order(day: date, seq: int) -> None:
    rule = CodingRule("order", "SO", width=5)
    assert rule.format(day, seq) < rule.format(day, seq + 1)


@given(days, days)
def test_periods_follow_the_reset_rule(a: date, b: date) -> None:
    daily = CodingRule("x", "X", reset=Reset.daily)
    monthly = CodingRule("x", "X", date_format="YYYYMM", reset=Reset.monthly)
    never = CodingRule("x", "X", date_format="", reset=Reset.never)
    assert (daily.period(a) == daily.period(b)) == (a == b)
    assert (monthly.period(a) == monthly.period(b)) == ((a.year, a.month) == (b.year, b.month))
    assert never.period(a) == never.period(b)


@pytest.mark.parametrize(
    ("rule", "field"),
    [
        (CodingRule("x", "so!"), "prefix"),
        (CodingRule("x", "SO", date_format="DDMM"), "date_format"),
        (CodingRule("x", "SO", width=0), "width"),
        (CodingRule("x", "SO", date_format="", reset=Reset.daily), "reset"),
        (CodingRule("x", "SO", date_format="YYYYMM", reset=Reset.daily), "reset"),
    ],
)
def test_bad_rules_name_the_field(rule: CodingRule, field: str) -> None:
    assert field in [f for f, _ in rule.problems()]


def test_default_rules_are_valid() -> None:
    for rule in model.DEFAULT_RULES.values():
        assert rule.problems() == []


def test_sequence_starts_at_one() -> None:
    with pytest.raises(ValueError):
        CodingRule("x", "X").format(date(2026, 1, 1), 0)


@pytest.mark.parametrize(
    ("password", "ok"),
    [("short1", False), ("12345678", False), ("abcdefgh", False), ("abcd1234", True)],
)
def test_password_policy(password: str, ok: bool) -> None:
    assert (model.password_problem(password) is None) == ok


def test_builtin_roles_only_use_known_permissions() -> None:
    for _desc, perms in model.BUILTIN_ROLES.values():
        assert perms <= set(model.PERMISSIONS)
    assert model.BUILTIN_ROLES["admin"][1] == frozenset(model.PERMISSIONS)
