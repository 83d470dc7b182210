"""Pure rules of the order centre (订单通): money per line, VAT inside prices, and the
arithmetic that keeps every cent accounted for."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo


class OrderStatus(StrEnum):
    pending_payment = "pending_payment"  # placed, stock held until the hold lapses
    paid = "paid"  # paid in full: stock allocated, to be fulfilled
    completed = "completed"  # everything fulfilled
    cancelled = "cancelled"


class FulfilmentType(StrEnum):
    delivery = "delivery"  # online mall, home delivery from any allowed location
    o2o = "o2o"  # same-hour delivery from a store or front warehouse that serves the point
    pickup = "pickup"  # buy online, pick up in store (BOPIS)
    in_store = "in_store"  # sold at the till, fulfilled on the spot
    ship_from_store = "ship_from_store"  # a store's stock sent to the customer
    endless_aisle = "endless_aisle"  # sold in a store, shipped from a warehouse


# Where each fulfilment type may take stock from: "point" = locations serving the
# customer's point; "named" = only the store named on the order; "any" = every location
# the channel sources from; or only locations of these types.
SOURCES: dict[FulfilmentType, str | frozenset[str]] = {
    FulfilmentType.delivery: "any",
    FulfilmentType.o2o: "point",
    FulfilmentType.pickup: "named",
    FulfilmentType.in_store: "named",
    FulfilmentType.ship_from_store: frozenset({"store"}),
    FulfilmentType.endless_aisle: frozenset({"warehouse", "front_warehouse"}),
}


def needs_store(kind: FulfilmentType) -> bool:
    """The order names the store it is sold in or collected at."""
    return kind in (FulfilmentType.pickup, FulfilmentType.in_store, FulfilmentType.endless_aisle)


def tax_included(amount: int, rate_bp: int) -> int:
    """增值税 contained in a tax-inclusive amount (Chinese retail prices include VAT):
    amount x rate / (1 + rate), rounded half up to the fen; rate in basis points."""
    return (amount * rate_bp * 2 + (10_000 + rate_bp)) // (2 * (10_000 + rate_bp))


def rate_for(path: str, rates: dict[str, int], default: int) -> int:
    """税率 of a category: its own, else its nearest ancestor's (path "root/.../self/"),
    else the default."""
    for category_id in reversed([x for x in path.split("/") if x]):
        if category_id in rates:
            return rates[category_id]
    return default


def allocate(total: int, weights: list[int]) -> list[int]:
    """Split `total` over lines in proportion to `weights`, to the fen, summing exactly
    to `total` (largest remainders get the leftover fen; ties go to the earlier line)."""
    whole = sum(weights)
    if whole <= 0:
        return [0] * len(weights)
    shares = [total * w // whole for w in weights]
    rest = total - sum(shares)
    order = sorted(range(len(weights)), key=lambda i: (-(total * weights[i] % whole), i))
    for i in order[:rest]:
        shares[i] += 1
    return shares


def refund_for(net: int, qty: int, returned_before: int, returning: int) -> int:
    """What `returning` units of a line are refunded, given `returned_before` units of it
    already were: the cumulative share of the line's net, so any sequence of partial
    returns of all units refunds exactly the net paid, never more."""
    if returning <= 0 or returned_before < 0 or returned_before + returning > qty:
        raise ValueError("cannot return more units than were bought")
    return net * (returned_before + returning) // qty - net * returned_before // qty


class FulfilmentStatus(StrEnum):
    created = "created"
    picked = "picked"
    packed = "packed"
    shipped = "shipped"  # left the location with a carrier or rider
    ready = "ready"  # waiting at the counter for the shopper (pickup)
    delivered = "delivered"
    collected = "collected"
    cancelled = "cancelled"


_SHIP = ("created", "picked", "packed", "shipped", "delivered")
_PICKUP = ("created", "picked", "packed", "ready", "collected")


def fulfilment_path(kind: FulfilmentType) -> tuple[FulfilmentStatus, ...]:
    """The steps a fulfilment order of this type goes through, in order."""
    if kind is FulfilmentType.in_store:
        return (FulfilmentStatus.collected,)  # handed over at the till
    steps = _PICKUP if kind is FulfilmentType.pickup else _SHIP
    return tuple(FulfilmentStatus(x) for x in steps)


def next_step(kind: FulfilmentType, now: FulfilmentStatus, to: FulfilmentStatus) -> None:
    """Fulfilment moves one step forward at a time; raises ValueError otherwise."""
    path = fulfilment_path(kind)
    if now not in path or to not in path or path.index(to) != path.index(now) + 1:
        raise ValueError(f"a {kind.value} fulfilment cannot go from {now.value} to {to.value}")


def leaves_stock(to: FulfilmentStatus) -> bool:
    """The step at which the goods leave the location's stock: handed to the carrier,
    or to the shopper (pickup, till)."""
    return to in (FulfilmentStatus.shipped, FulfilmentStatus.collected)


DONE = (FulfilmentStatus.delivered, FulfilmentStatus.collected)
BEFORE_HANDOVER = (FulfilmentStatus.created, FulfilmentStatus.picked, FulfilmentStatus.packed)
LEFT = (FulfilmentStatus.shipped, *DONE)  # no longer cancellable: returned instead


class ReturnStatus(StrEnum):
    requested = "requested"
    approved = "approved"
    rejected = "rejected"
    received = "received"  # goods back at a store or warehouse
    refunded = "refunded"


class Disposition(StrEnum):
    restock = "restock"  # back on sale
    damaged = "damaged"  # written off


def returnable(bought: int, left: int, returned: int, asked: int) -> None:
    """Only units that left stock for the shopper, and not already returned."""
    if asked <= 0:
        raise ValueError("must be positive")
    if asked > min(bought, left) - returned:
        raise ValueError(f"only {min(bought, left) - returned} can be returned")


def spread_refund(amount: int, refundable: list[int]) -> list[int]:
    """Give `amount` back across the tenders in the order they were taken, each up to
    what it can still refund (cash first if it came first; the shopper gets back what
    they paid, where they paid it)."""
    out = []
    for room in refundable:
        take = min(room, amount)
        out.append(take)
        amount -= take
    if amount:
        raise ValueError("refund exceeds what was paid")
    return out


# --- delivery slots (配送时段) -----------------------------------------------------------

DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def opening_window(hours: Mapping[str, str], day: date) -> tuple[time, time] | None:
    """A location's hours on `day` from {"mon": "08:00-22:00", ...} or {"daily": ...};
    no hours at all means always open; a day not named (or "closed") means closed."""
    if not hours:
        return time(0), time(0)  # 24 hours: 00:00 to the next 00:00
    text = hours.get(DAYS[day.weekday()]) or hours.get("daily")
    if not text or text.strip().lower() == "closed":
        return None
    try:
        opens, closes = (time.fromisoformat(x.strip()) for x in text.split("-"))
    except ValueError:
        return None  # unreadable hours offer no slots rather than guessed ones
    return opens, closes


def slot_starts(
    hours: Mapping[str, str], day: date, zone: ZoneInfo, minutes: int
) -> list[datetime]:
    """The start (UTC) of every whole slot of `minutes` inside the hours of `day`, local
    time in `zone`; a closing time at or before the opening time runs past midnight."""
    window = opening_window(hours, day)
    if window is None:
        return []
    opens = datetime.combine(day, window[0], zone)
    closes = datetime.combine(day, window[1], zone)
    if closes <= opens:
        closes += timedelta(days=1)
    step, out, at = timedelta(minutes=minutes), [], opens
    while at + step <= closes:
        out.append(at.astimezone(UTC))
        at += step
    return out
