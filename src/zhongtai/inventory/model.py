"""Pure rules of the inventory centre: movements, balances, and what they may do."""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import date
from enum import StrEnum


class LocationType(StrEnum):
    store = "store"
    warehouse = "warehouse"
    front_warehouse = "front_warehouse"


class MovementKind(StrEnum):
    """Why on-hand stock moved; each ledger row has one."""

    receipt = "receipt"
    sale = "sale"
    return_ = "return"
    transfer_out = "transfer_out"
    transfer_in = "transfer_in"
    adjustment = "adjustment"
    count_variance = "count_variance"
    borrow = "borrow"
    borrow_return = "borrow_return"


@dataclass(frozen=True)
class Balance:
    """Stock of one SKU at one location (and batch)."""

    on_hand: int = 0
    reserved: int = 0
    in_transit: int = 0
    safety_stock: int = 0

    @property
    def available(self) -> int:
        """What may still be promised; never shown below zero."""
        return max(0, self.on_hand - self.reserved - self.safety_stock)


class StockRuleError(ValueError):
    """A movement that the rules refuse; `field` names the offending input."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


def move(balance: Balance, delta: int, *, allow_short: bool = False) -> Balance:
    """On hand after a movement; stock already promised to reservations stays covered,
    unless the goods are already gone (`allow_short`: an offline POS sale synced late)."""
    if delta == 0:
        raise StockRuleError("qty", "must not be zero")
    after = balance.on_hand + delta
    if delta < 0 and after < balance.reserved and not allow_short:
        raise StockRuleError("qty", f"only {balance.on_hand - balance.reserved} unreserved on hand")
    return Balance(after, balance.reserved, balance.in_transit, balance.safety_stock)


def check_batch(batch: str | None, expiry: date | None, today: date, *, required: bool) -> None:
    """Batch-managed SKUs (pharmacy) need both; nothing already expired is received."""
    if required and not (batch and expiry):
        raise StockRuleError("batch", "batch and expiry are required for this SKU")
    if expiry is not None and expiry < today:
        raise StockRuleError("expiry", f"batch expired on {expiry.isoformat()}")


class SerialStatus(StrEnum):
    in_stock = "in_stock"
    in_transit = "in_transit"
    sold = "sold"
    written_off = "written_off"


def check_serials(serials: list[str] | None, qty: int, *, required: bool) -> list[str]:
    """Serialised SKUs (序列号管理) move with one distinct serial per unit; others none."""
    if not required:
        if serials:
            raise StockRuleError("serials", "this SKU is not serialised")
        return []
    given = serials or []
    if len(given) != abs(qty):
        raise StockRuleError("serials", f"{abs(qty)} serial numbers needed, {len(given)} given")
    if len(set(given)) != len(given):
        raise StockRuleError("serials", "a serial number is given twice")
    return given


SerialState = tuple[SerialStatus, str] | None  # (status, location); None: never seen


def serial_may_move(state: SerialState, expect: SerialState, *, offline: bool = False) -> bool:
    """Whether a unit in `state` may make a move that expects it in `expect`. A unit
    arriving from outside (expect None) must not be in stock or on its way anywhere; a
    sale made offline is recorded unless the unit was sold already (the goods are gone)."""
    if expect is None:
        return state is None or state[0] in (SerialStatus.sold, SerialStatus.written_off)
    if offline:
        return state is None or state[0] is not SerialStatus.sold
    return state == expect


def shortfall(balance: Balance) -> int:
    """Units promised or sold beyond what is on hand: an oversell to resolve."""
    return max(0, balance.reserved - balance.on_hand, -balance.on_hand)


def fefo(
    lots: list[tuple[str, date | None, int]], qty: int
) -> list[tuple[str, date | None, int]] | None:
    """First expiry, first out: which batches give `qty`, soonest expiry first (no expiry
    last, then by batch), or None when together they hold too little."""
    plan = []
    for batch, expiry, on_hand in sorted(
        lots, key=lambda x: (x[1] is None, x[1] or date.min, x[0])
    ):
        if qty <= 0:
            break
        take = min(on_hand, qty)
        if take > 0:
            plan.append((batch, expiry, take))
            qty -= take
    return plan if qty <= 0 else None


def distance_m(lat1: float, lng1: float, lat2: float, lng2: float) -> float:
    """Great-circle distance in metres (haversine)."""
    r = 6_371_000.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(a))


class ReservationStatus(StrEnum):
    active = "active"  # holds stock until it expires
    confirmed = "confirmed"  # paid: holds stock until fulfilled or released, no expiry
    released = "released"
    expired = "expired"
    fulfilled = "fulfilled"  # every held unit has left stock for its order


OPEN = (ReservationStatus.active, ReservationStatus.confirmed)


class OutOfStockError(StockRuleError):
    """Not enough available to reserve."""


# --- channel allocation (库存分配) ---------------------------------------------------------


class AllocationKind(StrEnum):
    source = "source"  # the channel sells from this location; once any is named, only those
    hold = "hold"  # keep `pct`% of on hand here for this channel (e.g. walk-in customers)
    quota = "quota"  # `qty` units of a SKU here for this channel alone, and no more


_ALLOCATION_FIELDS = {
    AllocationKind.source: set[str](),
    AllocationKind.hold: {"pct"},
    AllocationKind.quota: {"sku", "qty"},
}


def check_allocation(
    kind: AllocationKind, sku: str | None, pct: int | None, qty: int | None
) -> None:
    """Each kind of rule takes exactly its own fields."""
    given = {name for name, value in (("sku", sku), ("pct", pct), ("qty", qty)) if value}
    for name in sorted(_ALLOCATION_FIELDS[kind] - given):
        raise StockRuleError(name, f"a {kind.value} rule needs {name}")
    for name in sorted(given - _ALLOCATION_FIELDS[kind]):
        raise StockRuleError(name, f"a {kind.value} rule takes no {name}")


@dataclass(frozen=True)
class Allocation:
    """One allocation rule; `used` counts the quota units held or sold, lapsed holds
    already taken off."""

    id: str
    kind: AllocationKind
    channel: str
    location_id: str
    sku_id: str | None = None
    pct: int = 0
    qty: int = 0
    used: int = 0

    @property
    def remaining(self) -> int:
        return max(0, self.qty - self.used)


class Rulebook:
    """The allocation rules bearing on some stock levels, and what each channel may
    promise from them (可售库存, available to promise).

    Precedence, strongest first: safety stock is never promised; a quota is fenced off
    for its channel, which may sell that much and no more there; a hold keeps its share
    of on hand away from every channel without a quota there. Channels with neither sell
    from the shared pool that is left. The same `available_to` answers queries and
    decides reservations, so a channel is never shown stock it could not reserve."""

    def __init__(self, rules: list[Allocation]) -> None:
        self._sources: dict[str, set[str]] = {}
        self._at: dict[tuple[str, str | None], list[Allocation]] = {}
        for rule in rules:
            if rule.kind is AllocationKind.source:
                self._sources.setdefault(rule.channel, set()).add(rule.location_id)
            else:
                self._at.setdefault((rule.location_id, rule.sku_id), []).append(rule)

    def sources(self, channel: str, location_id: str) -> bool:
        named = self._sources.get(channel)
        return named is None or location_id in named

    def rules_at(self, sku_id: str, location_id: str) -> list[Allocation]:
        return self._at.get((location_id, None), []) + self._at.get((location_id, sku_id), [])

    def quota(self, channel: str, sku_id: str, location_id: str) -> Allocation | None:
        return next(
            (
                r
                for r in self._at.get((location_id, sku_id), [])
                if r.kind is AllocationKind.quota and r.channel == channel
            ),
            None,
        )

    def available_to(self, balance: Balance, channel: str, sku_id: str, location_id: str) -> int:
        if not self.sources(channel, location_id):
            return 0
        rules = self.rules_at(sku_id, location_id)
        if not rules:  # the shared pool: the common case, and the flash sale's hot path
            return balance.available
        fenced = sum(
            r.remaining for r in rules if r.kind is AllocationKind.quota and r.channel != channel
        )
        pool = balance.on_hand - balance.reserved - balance.safety_stock - fenced
        own = self.quota(channel, sku_id, location_id)
        if own is not None:
            return max(0, min(own.remaining, pool))
        held = sum(
            math.ceil(r.pct * max(0, balance.on_hand) / 100)
            for r in rules
            if r.kind is AllocationKind.hold and r.channel != channel
        )
        return max(0, pool - held)

    def take(
        self, balance: Balance, channel: str, sku_id: str, location_id: str, qty: int
    ) -> tuple[Balance, Allocation | None]:
        """库存锁定 under the rules: the level after holding `qty` for `channel`, and the
        quota it drew on; refused when the channel may not promise that much."""
        if qty <= 0:
            raise StockRuleError("qty", "must be positive")
        can = self.available_to(balance, channel, sku_id, location_id)
        if can < qty:
            raise OutOfStockError("qty", f"only {can} available to channel {channel}")
        own = self.quota(channel, sku_id, location_id)
        if own is not None:
            drawn = replace(own, used=own.used + qty)
            rules = self._at[(location_id, sku_id)]
            rules[rules.index(own)] = drawn
            own = drawn
        after = Balance(
            balance.on_hand, balance.reserved + qty, balance.in_transit, balance.safety_stock
        )
        return after, own
