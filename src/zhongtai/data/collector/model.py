"""Behaviour events (行为事件) and their rules: each event is checked on its own, so one bad
event never costs the good ones in its batch."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Annotated, Any, NamedTuple

import msgspec
from msgspec import Meta, Raw, Struct
from pydantic import AfterValidator, AwareDatetime

from zhongtai.data.oneid.model import IdKind, normalize

MAX_BATCH = 1000  # events per request; more is a 413
MAX_PROPERTIES_BYTES = 8192
FUTURE_SLACK = timedelta(minutes=10)  # client clocks drift; further ahead is a bad clock
MAX_AGE = timedelta(days=730)  # older events are imports, not collection

# msgspec, not pydantic, checks events: its decoder validates JSON text straight into
# these types several times faster, and the collector checks every event of every batch.
Token = Annotated[str, Meta(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
Code = Annotated[str, Meta(min_length=1, max_length=64)]
Amount = Annotated[int, Meta(ge=0, le=10**12)]
Count = Annotated[int, Meta(ge=0)]


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


class _Props(Struct, kw_only=True):
    """An event type's known properties; others may come along and are kept."""


class PageView(_Props):
    url: Annotated[str, Meta(min_length=1, max_length=2000)]


class ScreenView(_Props):
    screen: Code


class Search(_Props):
    query: Annotated[str, Meta(min_length=1, max_length=200)]
    results: Count | None = None


class ProductView(_Props):
    sku: Code
    price: Amount | None = None


class AddToCart(_Props):
    sku: Code
    qty: Annotated[int, Meta(gt=0, le=100_000)]
    price: Amount | None = None


class Checkout(_Props):
    amount: Amount | None = None
    items: Count | None = None


class Purchase(_Props):
    order: Code
    amount: Amount


class CouponClaimed(_Props):
    coupon: Code


class GroupJoined(_Props):
    group: Code


class Custom(_Props):
    name: Annotated[str, Meta(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.:-]+$")]


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
_PROPERTIES = {kind: msgspec.json.Decoder(props) for kind, props in PROPERTIES.items()}


class Identities(Struct, kw_only=True, forbid_unknown_fields=True):
    """Further identifiers the client knows for this actor; OneID links them."""

    phone: str | None = None
    email: str | None = None
    union_id: str | None = None
    open_id: str | None = None
    mac: str | None = None
    cookie: str | None = None


_NO_PROPERTIES = Raw(b"{}")


class EventIn(Struct, kw_only=True, forbid_unknown_fields=True):
    """One behaviour event as a client sends it. `time` is when it happened on the
    client, with its zone; `member` the member id once the shopper is known; `store` the
    store's code for in-store events; `id` the client's own id, for tracing."""

    id: Token | None = None
    type: EventType
    time: Annotated[datetime, Meta(tz=True)]
    anonymous_id: Token | None = None
    member: Token | None = None
    device_id: Token | None = None
    channel: Code
    store: Code | None = None
    identities: Identities | None = None
    properties: Raw = msgspec.field(default_factory=lambda: _NO_PROPERTIES)


class BatchIn(Struct):
    """1 to MAX_BATCH behaviour events; each is checked on its own."""

    events: list[Raw]


_EVENT = msgspec.json.Decoder(EventIn)
_BATCH = msgspec.json.Decoder(BatchIn)
_IDENTITY_FIELDS = Identities.__struct_fields__


@dataclass(frozen=True)
class Problem:
    field: str
    message: str
    reason: str  # a stable code, counted per tenant: invalid, unknown_type, future, too_old


class Checked(NamedTuple):
    event: EventIn | None  # None when refused, for `problems`
    problems: list[Problem]
    links: list[tuple[IdKind, str]]  # the identifiers this event carries together


class BadBatch(ValueError):
    """The body is no batch at all (not JSON, or no list of events)."""


def events_of(body: bytes) -> list[Raw | None]:
    """Each event of a batch as its own JSON text, for `check`; None for one whose text no
    store can hold. A lone surrogate escape (valid JSON, not valid Unicode) stops the fast
    decoder for the whole body, so such a body is parsed again, leniently, event by event:
    one bad event never costs the good ones in its batch."""
    try:
        return list(_BATCH.decode(body).events)
    except msgspec.ValidationError as exc:
        raise BadBatch(_problem(exc).message) from exc
    except msgspec.DecodeError:
        pass
    try:
        events = json.loads(body)["events"]
    except (ValueError, TypeError, KeyError) as exc:
        raise BadBatch("the body is not a JSON object with a list of events") from exc
    if not isinstance(events, list):
        raise BadBatch("events must be a list")
    return texts(events)


def texts(events: list[Any]) -> list[Raw | None]:
    """Events as Python values (parsed leniently, or made by a program) each as its JSON
    text, as `events_of` gives them: None for one that no store could hold."""
    out: list[Raw | None] = []
    for event in events:
        try:
            out.append(Raw(msgspec.json.encode(event)))
        except (UnicodeEncodeError, TypeError):
            out.append(None)
    return out


_AT = re.compile(r"^(?P<message>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_NAMED = re.compile(r"(?:unknown|missing required) field `(?P<name>[^`]*)`")


def _problem(exc: msgspec.ValidationError, prefix: tuple[str, ...] = ()) -> Problem:
    """msgspec's first error, with the field it names as a dotted path."""
    found = _AT.match(str(exc))
    message, path = (found["message"], found["path"] or "") if found else (str(exc), "")
    parts = [*prefix, *(p for p in re.split(r"[.\[\]]", path) if p)]
    if named := _NAMED.search(message):
        parts.append(named["name"])
    reason = "unknown_type" if parts == ["type"] else "invalid"
    return Problem(".".join(parts) or "event", message, reason)


# (kind, attribute, field named in errors, the values seen and their stored forms): a
# shopper's device sends many events with the same identifiers, normalised once.
_Field = tuple[IdKind, str, str, dict[str, str | None]]
_ACTOR_FIELDS: tuple[_Field, ...] = (
    (IdKind.member, "member", "member", {}),
    (IdKind.cookie, "anonymous_id", "anonymous_id", {}),
    (IdKind.device, "device_id", "device_id", {}),
)
_MORE_FIELDS: tuple[_Field, ...] = tuple(
    (IdKind(name), name, f"identities.{name}", {}) for name in Identities.__struct_fields__
)
_ACTOR_KINDS = frozenset(kind for kind, *_ in _ACTOR_FIELDS)
_SEEN_MAX = 65536
_UNSEEN = "\0"  # no stored form: those are printable


def _identifiers(event: EventIn) -> tuple[list[tuple[IdKind, str]], list[Problem]]:
    """The event's identifiers in their stored forms, the actor's kinds first."""
    links: list[tuple[IdKind, str]] = []
    problems: list[Problem] = []
    fields = [(f, getattr(event, f[1])) for f in _ACTOR_FIELDS]
    if event.identities is not None:
        fields += [(f, getattr(event.identities, f[1])) for f in _MORE_FIELDS]
    for (kind, _name, field, seen), raw in fields:
        if not raw:
            continue
        value = seen.get(raw, _UNSEEN)
        if value is _UNSEEN:
            if len(seen) >= _SEEN_MAX:
                seen.clear()
            value = seen[raw] = normalize(kind, raw)
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


def check(text: Raw | bytes | None, now: datetime) -> Checked:
    """Validate one event (its JSON text, from `events_of`) as it arrives at `now`."""
    if text is None:
        return _refused(Problem("event", "text is not valid Unicode", "invalid"))
    try:
        event = _EVENT.decode(text)
        _properties(event)
    except msgspec.ValidationError as exc:
        return _refused(_problem(exc))
    except _BadProperties as exc:
        return _refused(exc.problem)
    links, problems = _identifiers(event)
    problems += _when(event, now)
    if not problems and (not links or links[0][0] not in _ACTOR_KINDS):  # theirs come first
        problems = [Problem("anonymous_id", "one of member, anonymous_id, device_id", "invalid")]
    return Checked(None, problems, []) if problems else Checked(event, [], links)


def _refused(problem: Problem) -> Checked:
    return Checked(None, [problem], [])


class _BadProperties(Exception):
    def __init__(self, problem: Problem) -> None:
        self.problem = problem


def _properties(event: EventIn) -> None:
    raw = event.properties
    if len(raw) > MAX_PROPERTIES_BYTES:
        message = f"at most {MAX_PROPERTIES_BYTES} bytes of properties"
        raise _BadProperties(Problem("properties", message, "invalid"))
    try:
        _PROPERTIES[event.type].decode(raw)
    except msgspec.ValidationError as exc:
        raise _BadProperties(_problem(exc, ("properties",))) from exc


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


def behaviour_row(checked: Checked, event_id: str, now: datetime) -> dict[str, Any]:
    """An accepted event (`check`) as a warehouse row; its properties fill the
    order, SKU, amount and quantity columns where they hold such values."""
    event = checked.event
    if event is None:
        raise ValueError("a refused event has no row")
    values = {k: v for k, v in msgspec.json.decode(event.properties).items() if v is not None}
    named = dict(checked.links)
    return warehouse_row(
        event_id,
        "collector",
        event.type.value,
        event.time,
        now,
        name=values["name"] if event.type is EventType.custom else "",
        actor=actor(checked.links),
        member_id=named.get(IdKind.member, ""),
        anonymous_id=named.get(IdKind.cookie, ""),
        device_id=named.get(IdKind.device, ""),
        channel=event.channel,
        store=event.store or "",
        sku=_text(values.get("sku")),
        order_id=_text(values.get("order")),
        amount=_number(values.get("amount", values.get("price"))),
        qty=_number(values.get("qty")),
        properties=msgspec.json.encode(values).decode(),
    )


def _text(value: Any) -> str:
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) else ""


def _number(value: Any) -> int:
    # An undeclared property may hold anything; only a plain amount reaches the column.
    usable = isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= 10**12
    return value if usable else 0


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
