"""Reports over the warehouse: channel attribution (渠道分析) and sales by store, day and
category (销售分析). Each runs as one SQL query in the analytics engine."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field, model_validator

from zhongtai.data import warehouse
from zhongtai.data.collector.model import WarehouseTime, stamp
from zhongtai.data.schema import ORDER_KEY, PURCHASE_TYPES, persons_of_actors
from zhongtai.platform.http import Ctx, asker

router = APIRouter(prefix="/v1", tags=["data"])


class Period(BaseModel):
    since: WarehouseTime
    until: WarehouseTime

    @model_validator(mode="after")
    def _ordered(self) -> Period:
        if self.until <= self.since:
            raise ValueError("until must be after since")
        if self.until - self.since > timedelta(days=3660):
            raise ValueError("at most ten years at a time")
        return self


class AttributionIn(Period):
    """Which channel gets the credit for each purchase in the period: the channel of the
    buyer's first (`first`) or last (`last`) touch within `lookback_days` before it."""

    model: Literal["first", "last"] = "last"
    lookback_days: int = Field(30, ge=1, le=365)
    conversions: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(
        default_factory=lambda: list(PURCHASE_TYPES), min_length=1, max_length=10
    )


class ChannelOut(BaseModel):
    channel: str = Field(description="'(none)': no touch in the lookback window")
    conversions: int
    revenue: int
    share: float


def _events(db: str, where: str) -> str:
    return (
        f"SELECT m.person AS person, e.* FROM {db}.events AS e"
        f" INNER JOIN {persons_of_actors(db)} AS m ON e.actor = m.actor"
        f" WHERE e.tenant_id = {{tenant:String}} AND {where}"
    )


def attribution(wh: warehouse.Warehouse, tenant_id: str, q: AttributionIn) -> list[ChannelOut]:
    """首次/末次触点归因: ties in time go to the smaller channel code (first touch) or the
    greater (last touch), so the answer never depends on row order."""
    db = wh.database
    converted = _events(
        db,
        "e.type IN {conv:Array(String)}"
        " AND e.time >= {since:DateTime64(3)} AND e.time < {until:DateTime64(3)}",
    )
    conversions = (
        f"SELECT person, {ORDER_KEY} AS key, min(e.time) AS at, max(e.amount) AS amount"
        f" FROM ({converted}) AS e GROUP BY person, key"
    )
    touches = _events(
        db,
        "e.type NOT IN {conv:Array(String)} AND e.channel != ''"
        " AND e.time >= {reach:DateTime64(3)} AND e.time < {until:DateTime64(3)}",
    )
    # A touch counts when it is in the lookback window before the purchase.
    inside = "t.time <= c.at AND t.time >= c.at - toIntervalDay({lookback:UInt32})"
    pick = "argMinIf" if q.model == "first" else "argMaxIf"
    credited = (
        f"SELECT c.person, c.key, any(c.amount) AS amount,"
        f" if(countIf({inside}) = 0, '(none)', {pick}(t.channel, (t.time, t.channel), {inside}))"
        f" AS channel FROM ({conversions}) AS c LEFT JOIN ({touches}) AS t"
        " ON c.person = t.person GROUP BY c.person, c.key"
    )
    rows = wh.rows(
        f"SELECT channel, count() AS conversions, sum(amount) AS revenue FROM ({credited})"
        " GROUP BY channel ORDER BY conversions DESC, channel",
        {
            "tenant": tenant_id,
            "conv": q.conversions,
            "since": stamp(q.since),
            "until": stamp(q.until),
            "reach": stamp(q.since - timedelta(days=q.lookback_days)),
            "lookback": q.lookback_days,
        },
    )
    total = sum(int(r["conversions"]) for r in rows) or 1
    return [
        ChannelOut(
            channel=r["channel"],
            conversions=int(r["conversions"]),
            revenue=int(r["revenue"]),
            share=round(int(r["conversions"]) / total, 4),
        )
        for r in rows
    ]


Dimension = Literal["store", "day", "category", "channel"]


def _cube() -> list[Dimension]:
    return ["store", "day", "category"]


class SalesIn(Period):
    by: list[Dimension] = Field(default_factory=_cube, min_length=1, max_length=4)
    timezone_offset_hours: int = Field(8, ge=-12, le=14, description="Business day's zone")


class SalesRow(BaseModel):
    store: str | None = None
    day: str | None = None
    category: str | None = None
    channel: str | None = None
    orders: int
    units: int
    net: int


def sales(wh: warehouse.Warehouse, tenant_id: str, q: SalesIn) -> list[SalesRow]:
    """Net sales of placed orders' lines (units, net after discounts) by the dimensions
    asked for, business days in the store's zone."""
    dims = {
        "store": "store",
        "day": "toString(toDate(time + toIntervalHour({offset:Int32})))",
        "category": "category",
        "channel": "channel",
    }
    keys = ", ".join(f"{dims[d]} AS {d}" for d in q.by)
    rows = wh.rows(
        f"SELECT {keys}, uniqExact(order_id) AS orders, sum(qty) AS units, sum(amount) AS net"
        f" FROM {wh.database}.events WHERE tenant_id = {{tenant:String}} AND type = 'order.line'"
        " AND time >= {since:DateTime64(3)} AND time < {until:DateTime64(3)}"
        f" GROUP BY {', '.join(q.by)} ORDER BY {', '.join(q.by)} LIMIT 100000",
        {
            "tenant": tenant_id,
            "since": stamp(q.since),
            "until": stamp(q.until),
            "offset": q.timezone_offset_hours,
        },
    )
    return [SalesRow.model_validate(r) for r in rows]


@router.post("/analyses/attribution", response_model=list[ChannelOut])
def channel_attribution(
    body: AttributionIn, ctx: Ctx = Depends(asker("data:read"))
) -> list[ChannelOut]:
    """渠道分析: purchases and revenue credited to channels by first or last touch."""
    return attribution(warehouse.of(ctx.db.settings), ctx.principal.tenant_id, body)


@router.post("/analyses/sales", response_model=list[SalesRow])
def sales_report(body: SalesIn, ctx: Ctx = Depends(asker("data:read"))) -> list[SalesRow]:
    """销售分析: orders, units and net sales by store, day, category and channel."""
    return sales(warehouse.of(ctx.db.settings), ctx.principal.tenant_id, body)
