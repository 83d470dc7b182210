"""Pure rules of the inventory centre: movements, balances, and what they may do."""

from __future__ import annotations

import math
from dataclasses import dataclass
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


OPEN = (ReservationStatus.active, ReservationStatus.confirmed)


class OutOfStockError(StockRuleError):
    """Not enough available to reserve."""


def reserve(balance: Balance, qty: int) -> Balance:
    """库存锁定: hold `qty` of what is available, or refuse."""
    if qty <= 0:
        raise StockRuleError("qty", "must be positive")
    if balance.available < qty:
        raise OutOfStockError("qty", f"only {balance.available} available")
    return Balance(
        balance.on_hand, balance.reserved + qty, balance.in_transit, balance.safety_stock
    )


def grant(available: int, wanted: list[int]) -> list[bool]:
    """Answer a batch of requests for one stock level in arrival order: each is met in
    full while stock lasts, and a later smaller one may still fit (group commit)."""
    out = []
    for qty in wanted:
        ok = 0 < qty <= available
        available -= qty if ok else 0
        out.append(ok)
    return out
