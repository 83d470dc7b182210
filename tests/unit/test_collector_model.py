"""Behaviour events' checks, and business and behaviour events as warehouse rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from zhongtai.data.collector.model import (
    BadBatch,
    behaviour_row,
    business_rows,
    check,
    events_of,
    texts,
)

AT = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)


def _row(type_: str, payload: dict[str, object]) -> dict[str, object]:
    return business_rows(type_, payload, "E1", AT, AT)[0]


def test_a_member_event_is_the_members_and_a_merge_is_the_survivors() -> None:
    registered = _row("member.registered", {"id": "M-A", "code": "C1"})
    assert registered["member_id"] == "M-A" and registered["actor"] == "member:M-A"
    merged = _row("member.merged", {"id": "MRG-1", "target_id": "M-A", "source_id": "M-B"})
    assert merged["member_id"] == "M-A" and merged["actor"] == "member:M-A"
    earned = _row("points.earned", {"id": "P-1", "member_id": "M-B", "points": 30})
    assert earned["member_id"] == "M-B" and earned["amount"] == 30


def test_an_order_gives_a_row_per_line_with_its_category() -> None:
    payload = {
        "id": "SO-1",
        "member_id": "M-A",
        "total": 1990,
        "lines": [{"sku_id": "S1", "sku": "MILK", "qty": 2, "net": 990}, "not a line"],
    }
    head, line = business_rows("order.created", payload, "E2", AT, AT, {"S1": "dairy"})
    assert head["order_id"] == "SO-1" and head["amount"] == 1990
    assert (line["type"], line["sku"], line["category"], line["qty"], line["amount"]) == (
        "order.line",
        "MILK",
        "dairy",
        2,
        990,
    )
    assert line["event_id"] == "E2:0" and line["member_id"] == "M-A"


NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)


def _event(**over: object) -> dict[str, object]:
    base: dict[str, object] = {
        "type": "add_to_cart",
        "time": "2026-11-28T11:59:00+08:00",
        "anonymous_id": "c-1",
        "channel": "mall",
        "properties": {"sku": "S1", "qty": 2, "price": 990, "colour": "red", "note": None},
    }
    return base | over


def _problems(**over: object) -> list[tuple[str, str]]:
    [text] = texts([_event(**over)])
    return [(p.field, p.reason) for p in check(text, NOW).problems]


def test_each_refusal_names_its_field_and_reason() -> None:
    assert _problems() == []
    assert _problems(type="dance") == [("type", "unknown_type")]
    assert _problems(shoe_size=42) == [("shoe_size", "invalid")]  # fields are a closed set
    assert _problems(time="2026-11-28T11:59:00") == [("time", "invalid")]  # no zone
    assert _problems(time="2026-11-29T11:59:00+00:00") == [("time", "future")]
    assert _problems(anonymous_id="c 1") == [("anonymous_id", "invalid")]
    assert _problems(anonymous_id="undefined") == [("anonymous_id", "identifier")]
    assert _problems(anonymous_id=None) == [("anonymous_id", "invalid")]  # nobody to count
    assert _problems(identities={"phone": "12"}) == [("identities.phone", "identifier")]
    assert _problems(identities={"pager": "1"}) == [("identities.pager", "invalid")]
    assert _problems(properties={"sku": "S1"}) == [("properties.qty", "invalid")]
    assert _problems(properties={"sku": "S1", "qty": "2"}) == [("properties.qty", "invalid")]
    assert _problems(properties=None) == [("properties", "invalid")]
    big = {"sku": "S1", "qty": 1, "text": "x" * 9000}
    assert _problems(properties=big) == [("properties", "invalid")]
    assert [(p.field, p.reason) for p in check(None, NOW).problems] == [("event", "invalid")]


def test_a_body_is_split_into_its_events_and_a_lone_surrogate_costs_only_its_own() -> None:
    good = json.dumps(_event())
    body = f'{{"events": [{good}, {{"type": "search", "q": "\\ud800"}}, 7]}}'.encode()
    first, bad, seven = events_of(body)
    assert first is not None and check(first, NOW).event is not None
    assert bad is None and seven is not None and check(seven, NOW).event is None
    for not_a_batch in (b"[]", b'{"events": 3}', b"{", b'{"other": []}'):
        with pytest.raises(BadBatch):
            events_of(not_a_batch)


def test_an_accepted_events_row_takes_its_columns_from_its_properties() -> None:
    checked = check(texts([_event()])[0], NOW)
    row = behaviour_row(checked, "E1", NOW)
    assert (row["actor"], row["sku"], row["qty"], row["amount"]) == ("cookie:c-1", "S1", 2, 990)
    assert row["time"] == "2026-11-28 03:59:00.000"  # placed by client time, in UTC
    assert json.loads(row["properties"]) == {"sku": "S1", "qty": 2, "price": 990, "colour": "red"}
    odd = _event(type="page_view", properties={"url": "/", "amount": -5, "sku": ["x"]})
    row = behaviour_row(check(texts([odd])[0], NOW), "E2", NOW)
    assert (row["amount"], row["sku"]) == (0, "")  # undeclared values fit no column
