"""Behaviour events (行为事件) and their rules: each event is checked on its own, so one bad
event never costs the good ones in its batch."""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
)

from zhongtai.data.oneid.model import IdKind, normalize

MAX_BATCH = 1000  # events per request; more is a 413
MAX_PROPERTIES_BYTES = 8192
FUTURE_SLACK = timedelta(minutes=10)  # client clocks drift; further ahead is a bad clock
MAX_AGE = timedelta(days=730)  # older events are imports, not collection

Token = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Code = Annotated[str, Field(min_length=1, max_length=64)]
Amount = Annotated[int, Field(ge=0, le=10**12)]


class EventType(StrEnum):
    page_view = "page_view"
    screen_view = "screen_view"
    search = "search"
    product_view = "product_view"
    add_to_cart = "add_to_cart"
    checkout = "checkout"
    purchase = "purchase"
    coupon_claimed = "coupon_claimed"
    store_visit = "store_visit"
    group_joined = "group_joined"  # 社群: joined a community group
    custom = "custom"


class _Props(BaseModel):
    model_config = ConfigDict(extra="allow")


class PageView(_Props):
    url: Annotated[str, Field(min_length=1, max_length=2000)]


class ScreenView(_Props):
    screen: Code


class Search(_Props):
    query: Annotated[str, Field(min_length=1, max_length=200)]
    results: Annotated[int, Field(ge=0)] | None = None


class ProductView(_Props):
    sku: Code
    price: Amount | None = None


class AddToCart(_Props):
    sku: Code
    qty: Annotated[int, Field(gt=0, le=100_000)]
    price: Amount | None = None


class Checkout(_Props):
    amount: Amount | None = None
    items: Annotated[int, Field(ge=0)] | None = None


class Purchase(_Props):
    order: Code
    amount: Amount


class CouponClaimed(_Props):
    coupon: Code


class GroupJoined(_Props):
    group: Code


class Custom(_Props):
    name: Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


PROPERTIES: dict[EventType, type[_Props]] = {
    EventType.page_view: PageView,
    EventType.screen_view: ScreenView,
    EventType.search: Search,
    EventType.product_view: ProductView,
    EventType.add_to_cart: AddToCart,
    EventType.checkout: Checkout,
    EventType.purchase: Purchase,
    EventType.coupon_claimed: CouponClaimed,
    EventType.store_visit: _Props,
    EventType.group_joined: GroupJoined,
    EventType.custom: Custom,
}


class Identities(BaseModel):
    """Further identifiers the client knows for this actor; OneID links them."""

    model_config = ConfigDict(extra="forbid")
    phone: str | None = None
    email: str | None = None
    union_id: str | None = None
    open_id: str | None = None
    mac: str | None = None
    cookie: str | None = None


class EventIn(BaseModel):
    """One behaviour event as a client sends it."""

    model_config = ConfigDict(extra="forbid")
    id: Token | None = Field(None, description="The client's id for the event, for tracing")
    type: EventType
    time: AwareDatetime = Field(description="When it happened on the client (with zone)")
    anonymous_id: Token | None = None
    member: Token | None = Field(None, description="The member id, once the shopper is known")
    device_id: Token | None = None
    channel: Code
    store: Code | None = Field(None, description="The store's code, for in-store events")
    identities: Identities | None = None
    properties: dict[str, Any] = Field(default_factory=dict)

    @field_validator("properties")
    @classmethod
    def _small(cls, value: dict[str, Any]) -> dict[str, Any]:
        if len(json.dumps(value, default=str)) > MAX_PROPERTIES_BYTES:
            raise ValueError(f"at most {MAX_PROPERTIES_BYTES} bytes of properties")
        return value


_EVENT = TypeAdapter(EventIn)
_NO_IDENTITIES = Identities()


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    reason: str  # a stable code, counted per tenant: invalid, unknown_type, future, too_old


@dataclass(frozen=True)
class Checked:
    row: dict[str, Any] | None
    problems: list[Problem]
    links: list[tuple[IdKind, str]]  # the identifiers this event carries together


def _reason(error: Any) -> str:
    return "unknown_type" if error["loc"][:1] == ("type",) else "invalid"


def _field(loc: tuple[Any, ...]) -> str:
    return ".".join(str(p) for p in loc) or "event"


def _problems(exc: ValidationError, prefix: tuple[str, ...] = ()) -> list[Problem]:
    return [Problem(_field(prefix + tuple(e["loc"])), e["msg"], _reason(e)) for e in exc.errors()]


def _identifiers(event: EventIn) -> tuple[list[tuple[IdKind, str]], list[Problem]]:
    given: list[tuple[IdKind, str, str]] = [
        (IdKind.member, "member", event.member or ""),
        (IdKind.cookie, "anonymous_id", event.anonymous_id or ""),
        (IdKind.device, "device_id", event.device_id or ""),
    ]
    for name, value in vars(event.identities or _NO_IDENTITIES).items():
        if value is not None:
            given.append((IdKind(name), f"identities.{name}", value))
    links, problems = [], []
    for kind, field, raw in given:
        if not raw:
            continue
        value = normalize(kind, raw)
        if value is None:
            problems.append(Problem(field, f"not a usable {kind.value} identifier", "identifier"))
        else:
            links.append((kind, value))
    return links, problems


def _when(event: EventIn, now: datetime) -> list[Problem]:
    if event.time > now + FUTURE_SLACK:
        return [Problem("time", "is in the future: check the device clock", "future")]
    if event.time < now - MAX_AGE:
        return [Problem("time", "is more than two years old: use the importer", "too_old")]
    return []


def actor(links: list[tuple[IdKind, str]]) -> str:
    """The key an event is counted under: the member once known, else the browser, else
    the device. OneID maps every such key to a person."""
    for kind in (IdKind.member, IdKind.cookie, IdKind.device):
        for k, value in links:
            if k is kind:
                return f"{kind.value}:{value}"
    return ""


def check(raw: Any, event_id: str, now: datetime) -> Checked:
    """Validate one event; a good one becomes a warehouse row."""
    try:
        event = _EVENT.validate_python(raw)
        props = PROPERTIES[event.type].model_validate(event.properties)
    except ValidationError as exc:
        return Checked(None, _problems(exc, ("properties",) if _is_props(exc) else ()), [])
    links, problems = _identifiers(event)
    problems += _when(event, now)
    if not problems and not actor(links):
        problems = [Problem("anonymous_id", "one of member, anonymous_id, device_id", "invalid")]
    if problems:
        return Checked(None, problems, [])
    row = _row(event, props, links, event_id, now)
    if not _storable([*row.values(), *(value for _kind, value in links)]):
        return Checked(None, [Problem("event", "text is not valid UTF-8", "invalid")], [])
    return Checked(row, [], links)


def _storable(values: list[Any]) -> bool:
    # A lone surrogate passes JSON parsing but no store can write it; refused here, it
    # cannot wedge the ingester later. Only text beyond ASCII can hold one.
    try:
        for value in values:
            if isinstance(value, str) and not value.isascii():
                value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _is_props(exc: ValidationError) -> bool:
    return exc.title != EventIn.__name__


_EMPTY: dict[str, Any] = {
    "name": "",
    "actor": "",
    "member_id": "",
    "anonymous_id": "",
    "device_id": "",
    "channel": "",
    "store": "",
    "sku": "",
    "category": "",
    "order_id": "",
    "amount": 0,
    "qty": 0,
    "properties": "{}",
}


def warehouse_row(
    event_id: str, source: str, type_: str, at: datetime, now: datetime, **columns: Any
) -> dict[str, Any]:
    """One row of the warehouse's events table (`schema.EVENTS`, but for the tenant): what
    every source gives, and of the other columns those `columns` names, the rest empty."""
    if not columns.keys() <= _EMPTY.keys():
        raise ValueError(f"not columns of the events table: {columns.keys() - _EMPTY.keys()}")
    row = {"event_id": event_id, "source": source, "type": type_}
    return {**row, "time": stamp(at), "received_at": stamp(now), **_EMPTY, **columns}


def _row(
    event: EventIn, props: _Props, links: list[tuple[IdKind, str]], event_id: str, now: datetime
) -> dict[str, Any]:
    values = props.model_dump(exclude_none=True)
    named = dict(links)
    return warehouse_row(
        event_id,
        "collector",
        event.type.value,
        event.time,
        now,
        name=values.get("name", "") if event.type is EventType.custom else "",
        actor=actor(links),
        member_id=named.get(IdKind.member, ""),
        anonymous_id=named.get(IdKind.cookie, ""),
        device_id=named.get(IdKind.device, ""),
        channel=event.channel,
        store=event.store or "",
        sku=str(values.get("sku", "")),
        order_id=str(values.get("order", "")),
        amount=int(values.get("amount", values.get("price", 0))),
        qty=int(values.get("qty", 0)),
        properties=json.dumps(values, ensure_ascii=False, default=str),
    )


def _storable_time(at: datetime) -> datetime:
    if not EARLIEST <= at < LATEST:
        raise ValueError("must be between 1970 and 2261 (the warehouse's time range)")
    return at


EARLIEST, LATEST = datetime(1970, 1, 1, tzinfo=UTC), datetime(2262, 1, 1, tzinfo=UTC)
WarehouseTime = Annotated[AwareDatetime, AfterValidator(_storable_time)]


@lru_cache(maxsize=4096)  # a batch's events share their arrival time
def stamp(at: datetime) -> str:
    """A time as the warehouse reads it: UTC with milliseconds."""
    return at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


class BatchIn(BaseModel):
    """A batch of events; each is checked on its own."""

    events: list[Any] = Field(min_length=1, description=f"1 to {MAX_BATCH} events")


def _first_int(payload: dict[str, Any], keys: tuple[str, ...]) -> int:
    for key in keys:
        if isinstance(payload.get(key), int):
            return int(payload[key])
    return 0


def business_rows(
    type_: str,
    payload: dict[str, Any],
    event_id: str,
    at: datetime,
    now: datetime,
    categories: Mapping[str, str] | None = None,
) -> list[dict[str, Any]]:
    """A business event from the outbox (order placed, paid, returned; member and points
    changes) as warehouse rows beside the behaviour events of the same person; an order
    placed also gives one `order.line` row per line (its SKU, category by `categories` of
    SKU ids, units and net), so tags and sales reports can ask what was bought where."""
    head = business_row(type_, payload, event_id, at, now)
    lines = payload.get("lines") if type_ == "order.created" else None
    return [head] + [
        {
            **head,
            "event_id": f"{event_id}:{i}",
            "type": "order.line",
            "sku": str(line.get("sku") or line.get("sku_id", "")),
            "category": (categories or {}).get(str(line.get("sku_id")), ""),
            "qty": int(line.get("qty", 0)),
            "amount": int(line.get("net", 0)),
            "properties": "{}",
        }
        for i, line in enumerate(lines or [])
        if isinstance(line, dict)
    ]


def business_row(
    type_: str, payload: dict[str, Any], event_id: str, at: datetime, now: datetime
) -> dict[str, Any]:
    """One business event as a warehouse row."""
    subject = type_.split(".", 1)[0]
    # A member event's id is the member's; a merge's is the merge's, and it belongs to
    # the member that survived it.
    own = "target_id" if type_ == "member.merged" else "id"
    member = payload.get("member_id") or (payload.get(own) if subject == "member" else None)
    order = payload.get("order_id") or (payload.get("id") if subject == "order" else None)
    return warehouse_row(
        event_id,
        "business",
        type_,
        at,
        now,
        actor=f"{IdKind.member.value}:{member}" if member else "",
        member_id=member or "",
        channel=str(payload.get("channel") or ""),
        store=str(payload.get("store") or ""),
        order_id=order or "",
        amount=_first_int(payload, ("total", "amount", "paid", "refund", "points")),
        properties=json.dumps(payload, ensure_ascii=False, default=str),
    )
