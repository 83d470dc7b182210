"""Delivery slots (配送时段) for same-hour delivery: hour-long windows inside each
location's opening hours, each with a capacity of orders; booking never goes above it.

Slots are laid out in the chain's local time (`ZONE`) and handed out in UTC. A slot can be
booked until `LEAD` before it starts.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import select, update

from zhongtai.inventory import service as inventory
from zhongtai.inventory.schemas import LocationOut
from zhongtai.orders import model
from zhongtai.orders.schemas import SlotCapacityIn, SlotOut
from zhongtai.orders.store import SlotBooking, SlotCapacity
from zhongtai.platform.db import dialect_insert
from zhongtai.platform.errors import Conflict, ValidationFailed
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.uow import UnitOfWork

ZONE = ZoneInfo("Asia/Shanghai")
MINUTES = 60
LEAD = timedelta(minutes=30)  # time to pick, pack and hand to a rider
DEFAULT_CAPACITY = 20

Booked = dict[tuple[str, datetime], int]


class SlotFull(Conflict):
    type, title = "slot-full", "The delivery slot is full"


def _capacity(uow: UnitOfWork, location_ids: list[str]) -> dict[str, int]:
    query = select(SlotCapacity).where(SlotCapacity.location_id.in_(location_ids))
    found = {c.location_id: c.per_slot for c in uow.session.scalars(query)}
    return {loc: found.get(loc, DEFAULT_CAPACITY) for loc in location_ids}


def _booked(uow: UnitOfWork, location_ids: list[str], starts: list[datetime]) -> Booked:
    query = select(SlotBooking).where(
        SlotBooking.location_id.in_(location_ids), SlotBooking.starts_at.in_(starts)
    )
    return {(b.location_id, b.starts_at): b.booked for b in uow.session.scalars(query)}


def _bookable(loc: LocationOut, start: datetime) -> bool:
    """`start` is one of the location's slots and not too late to book."""
    day = start.astimezone(ZONE).date()
    starts = {
        *model.slot_starts(loc.opening_hours, day, ZONE, MINUTES),
        *model.slot_starts(loc.opening_hours, day - timedelta(days=1), ZONE, MINUTES),
    }
    return start in starts and start - LEAD >= utcnow()


def offered(uow: UnitOfWork, lat: float, lng: float, day: date | None) -> list[SlotOut]:
    """The slots of `day` (local; default today) that some location serving the point
    can still take, with the room left across those locations."""
    day = day or utcnow().astimezone(ZONE).date()
    locations = [x for x in inventory.serving(uow, lat, lng) if x.type != "warehouse"]
    ids = [x.id for x in locations]
    by_start: dict[datetime, list[str]] = {}
    for loc in locations:
        for start in model.slot_starts(loc.opening_hours, day, ZONE, MINUTES):
            if start - LEAD >= utcnow():
                by_start.setdefault(start, []).append(loc.id)
    capacity, booked = _capacity(uow, ids), _booked(uow, ids, list(by_start))
    codes = {x.id: x.code for x in locations}
    out = []
    for start, locs in sorted(by_start.items()):
        room = {loc: capacity[loc] - booked.get((loc, start), 0) for loc in locs}
        open_ = sorted(codes[loc] for loc, left in room.items() if left > 0)
        if open_:
            end = start + timedelta(minutes=MINUTES)
            out.append(SlotOut(start=start, end=end, remaining=sum(room.values()), locations=open_))
    return out


def with_room(uow: UnitOfWork, locations: list[LocationOut], start: datetime) -> list[LocationOut]:
    """The locations that deliver in the slot starting at `start` and have room in it;
    422 when it is no slot of theirs or too late to book."""
    fits = [x for x in locations if _bookable(x, start)]
    if not fits:
        raise ValidationFailed("fulfilment.slot", "not a bookable delivery slot here")
    ids = [x.id for x in fits]
    capacity, booked = _capacity(uow, ids), _booked(uow, ids, [start])
    return [x for x in fits if booked.get((x.id, start), 0) < capacity[x.id]]


def book(uow: UnitOfWork, location_ids: list[str], start: datetime) -> None:
    """One order into the slot at each location, atomically never above capacity: the
    increment is conditional, so concurrent checkouts cannot both take the last place."""
    capacity = _capacity(uow, location_ids)
    insert = dialect_insert(uow.db.dialect)
    for loc in sorted(location_ids):
        uow.session.execute(
            insert(SlotBooking)
            .values(
                id=new_id(), tenant_id=uow.tenant_id, location_id=loc, starts_at=start, booked=0
            )
            .on_conflict_do_nothing(index_elements=["tenant_id", "location_id", "starts_at"])
        )
        took = uow.session.execute(
            update(SlotBooking)
            .where(
                SlotBooking.location_id == loc,
                SlotBooking.starts_at == start,
                SlotBooking.booked < capacity[loc],
            )
            .values(booked=SlotBooking.booked + 1)
            .execution_options(synchronize_session=False)
        )
        if took.rowcount != 1:  # type: ignore[attr-defined]
            raise SlotFull("the delivery slot filled up; choose another", field="fulfilment.slot")


def release(uow: UnitOfWork, location_ids: list[str], start: datetime) -> None:
    """A cancelled order gives its place in the slot back."""
    uow.session.execute(
        update(SlotBooking)
        .where(
            SlotBooking.location_id.in_(location_ids),
            SlotBooking.starts_at == start,
            SlotBooking.booked > 0,
        )
        .values(booked=SlotBooking.booked - 1)
        .execution_options(synchronize_session=False)
    )


def set_capacity(uow: UnitOfWork, cmd: SlotCapacityIn) -> SlotCapacity:
    _unit, loc = inventory.resolve_location(uow, cmd.location)
    return uow.put(SlotCapacity, {"location_id": loc.id}, per_slot=cmd.per_slot)
