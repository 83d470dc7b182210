"""Business events as warehouse rows: whose they are and what they carry."""

from __future__ import annotations

from datetime import UTC, datetime

from zhongtai.data.collector.model import business_rows

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
