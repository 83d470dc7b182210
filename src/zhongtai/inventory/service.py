"""Use cases of the inventory centre; each runs inside the caller's unit of work."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select, tuple_, update

from zhongtai.catalog import service as catalog
from zhongtai.catalog.store import Sku
from zhongtai.inventory import model
from zhongtai.inventory.allocation import draw_quota, rulebooks
from zhongtai.inventory.hotpath import HoldRequest
from zhongtai.inventory.schemas import (
    AdjustmentIn,
    AllocationIn,
    AvailabilityOut,
    BinIn,
    ChannelStockOut,
    CountIn,
    CountLinesIn,
    ExpiringOut,
    HoldIn,
    LocationIn,
    LocationOut,
    LocationPatch,
    ReceiptIn,
    ReservationLineOut,
    ReservationOut,
    ReserveIn,
    SafetyStockIn,
    SaleIn,
    SlotIn,
    TransferIn,
)
from zhongtai.inventory.store import (
    Bin,
    Location,
    Reservation,
    ReservationLine,
    StockAllocation,
    StockBatch,
    StockCount,
    StockCountLine,
    StockLevel,
    StockMovement,
    StockSerial,
    Transfer,
    TransferLine,
)
from zhongtai.org import service as org
from zhongtai.org.model import UnitKind
from zhongtai.org.schemas import OrgUnitIn
from zhongtai.org.store import OrgUnit
from zhongtai.platform.db import Database, dialect_insert
from zhongtai.platform.errors import Conflict, NotFound, ValidationFailed
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork


class InsufficientStock(Conflict):
    type, title = "insufficient-stock", "Insufficient stock"


# --- locations ----------------------------------------------------------------------


def _describe(unit: OrgUnit, loc: Location, distance: float | None = None) -> LocationOut:
    return LocationOut(
        id=loc.id,
        code=unit.code,
        name=unit.name,
        type=loc.type,
        parent_id=unit.parent_id,
        lat=loc.lat,
        lng=loc.lng,
        service_radius_m=loc.service_radius_m,
        opening_hours=loc.opening_hours,
        distance_m=distance,
    )


def create_location(uow: UnitOfWork, cmd: LocationIn) -> LocationOut:
    """A store or warehouse is an org unit (for staff and data scope) plus where it is."""
    parent = cmd.parent_id or uow.session.scalar(
        select(OrgUnit.id).where(OrgUnit.parent_id.is_(None))
    )
    unit = org.create_unit(
        uow,
        OrgUnitIn(
            code=cmd.code, name=cmd.name, kind=UnitKind(cmd.type.value), parent_id=parent or ""
        ),
    )
    loc = Location(
        id=unit.id,
        type=cmd.type.value,
        lat=cmd.lat,
        lng=cmd.lng,
        service_radius_m=cmd.service_radius_m,
        opening_hours=dict(cmd.opening_hours),
    )
    uow.session.add(loc)
    uow.session.flush()
    uow.emit("location.created", {"id": loc.id, "code": unit.code, "type": loc.type})
    return _describe(unit, loc)


def _pairs(uow: UnitOfWork, *where: Any) -> list[tuple[OrgUnit, Location]]:
    query = select(OrgUnit, Location).join(Location, Location.id == OrgUnit.id).where(*where)
    return [(u, loc) for u, loc in uow.session.execute(query.order_by(OrgUnit.code))]


def resolve_location(
    uow: UnitOfWork, ref: str, field: str = "location"
) -> tuple[OrgUnit, Location]:
    """A location by id or code, within the caller's tenant and data scope."""
    found = _pairs(uow, (OrgUnit.id == ref) | (OrgUnit.code == ref))
    if not found:
        raise ValidationFailed(field, f"unknown location {ref}")
    return found[0]


def _location(uow: UnitOfWork, location_id: str) -> tuple[OrgUnit, Location]:
    """The location a path names, or 404."""
    found = _pairs(uow, OrgUnit.id == location_id)
    if not found:
        raise NotFound(f"location {location_id} not found")
    return found[0]


def get_location(uow: UnitOfWork, location_id: str) -> LocationOut:
    return _describe(*_location(uow, location_id))


def list_locations(uow: UnitOfWork) -> list[LocationOut]:
    return [_describe(u, loc) for u, loc in _pairs(uow)]


def update_location(uow: UnitOfWork, location_id: str, patch: LocationPatch) -> LocationOut:
    unit, loc = _location(uow, location_id)
    changes = patch.model_dump(exclude_none=True)
    if "name" in changes:
        unit.name = changes.pop("name")
    for field, value in changes.items():
        setattr(loc, field, value)
    uow.emit("location.updated", {"id": loc.id})
    return _describe(unit, loc)


def serving(uow: UnitOfWork, lat: float, lng: float) -> list[LocationOut]:
    """Locations whose service radius covers the point, nearest first (一小时生活圈)."""
    out = []
    for unit, loc in _pairs(uow):
        if loc.lat is None or loc.lng is None:
            continue
        d = model.distance_m(lat, lng, loc.lat, loc.lng)
        if d <= loc.service_radius_m:
            out.append(_describe(unit, loc, round(d, 1)))
    return sorted(out, key=lambda o: o.distance_m or 0.0)


def add_bin(uow: UnitOfWork, location_id: str, cmd: BinIn) -> Bin:
    """库位: a new bin at a location; codes are unique per location."""
    _unit, loc = _location(uow, location_id)
    taken = select(Bin.id).where(Bin.location_id == loc.id, Bin.code == cmd.code)
    if uow.session.scalar(taken) is not None:
        raise Conflict(f"bin {cmd.code} exists already", field="code")
    found = Bin(location_id=loc.id, code=cmd.code, zone=cmd.zone)
    uow.session.add(found)
    uow.session.flush()
    return found


def list_bins(uow: UnitOfWork, location_id: str) -> list[Bin]:
    _unit, loc = _location(uow, location_id)
    query = select(Bin).where(Bin.location_id == loc.id).order_by(Bin.code)
    return list(uow.session.scalars(query).all())


def slot(uow: UnitOfWork, cmd: SlotIn) -> AvailabilityOut:
    """Put a SKU away in a bin: where it is stored and picked at that location."""
    sku = catalog.sku_by_code(uow, cmd.sku)
    unit, loc = resolve_location(uow, cmd.location)
    known = select(Bin.id).where(Bin.location_id == loc.id, Bin.code == cmd.bin)
    if uow.session.scalar(known) is None:
        raise ValidationFailed("bin", f"no bin {cmd.bin} at {unit.code}")
    level = locked_level(uow, sku.id, loc.id)
    level.bin = cmd.bin
    return _availability_row(unit.code, level, _level_balance(uow, level))


# --- the ledger ---------------------------------------------------------------------


def _upsert(uow: UnitOfWork, cls: type[StockLevel] | type[StockBatch], **key: Any) -> None:
    insert = dialect_insert(uow.db.dialect)
    uow.session.execute(
        insert(cls).values(tenant_id=uow.tenant_id, on_hand=0, **key).on_conflict_do_nothing()
    )


def locked_level(uow: UnitOfWork, sku_id: str, location_id: str) -> StockLevel:
    """The (SKU, location) row, made if missing and locked until commit: every change of
    that stock takes this lock first (PostgreSQL row lock; SQLite writers are serialised
    by BEGIN IMMEDIATE)."""
    query = (
        select(StockLevel)
        .where(StockLevel.sku_id == sku_id, StockLevel.location_id == location_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if (found := uow.session.scalars(query).first()) is not None:
        return found
    _upsert(
        uow,
        StockLevel,
        sku_id=sku_id,
        location_id=location_id,
        reserved=0,
        in_transit=0,
        safety_stock=0,
        updated_at=utcnow(),
    )
    return uow.session.scalars(query).one()


def locked_levels(uow: UnitOfWork, keys: list[tuple[str, str]]) -> list[StockLevel]:
    """`locked_level` of several (SKU id, location id) keys, in that order, with one
    statement for those that exist (locked in key order, as every multi-level change
    locks, so two never deadlock)."""
    query = (
        select(StockLevel)
        .where(tuple_(StockLevel.sku_id, StockLevel.location_id).in_(keys))
        .order_by(StockLevel.sku_id, StockLevel.location_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    found = {(x.sku_id, x.location_id): x for x in uow.session.scalars(query)}
    return [found.get(key) or locked_level(uow, *key) for key in keys]


Lapsed = dict[tuple[str, str], int]  # (SKU id, location id) -> units


def lapsed(uow: UnitOfWork, sku_ids: list[str]) -> Lapsed:
    """Reserved units whose hold has lapsed but is not swept yet, per SKU and location:
    they no longer hold stock, whatever the level row still says. One query."""
    line = ReservationLine
    query = (
        select(line.sku_id, line.location_id, func.sum(line.qty))
        .where(line.sku_id.in_(sku_ids), line.expires_at <= utcnow())
        .group_by(line.sku_id, line.location_id)
    )
    return {(sku, loc): int(qty) for sku, loc, qty in uow.session.execute(query)}


def _balance(level: StockLevel, gone: Lapsed) -> model.Balance:
    held = level.reserved - gone.get((level.sku_id, level.location_id), 0)
    return model.Balance(level.on_hand, held, level.in_transit, level.safety_stock)


def _level_balance(uow: UnitOfWork, level: StockLevel) -> model.Balance:
    return _balance(level, lapsed(uow, [level.sku_id]))


def _post(
    uow: UnitOfWork,
    *,
    sku: Sku,
    location_id: str,
    batch: str,
    expiry: date | None,
    delta: int,
    kind: model.MovementKind,
    document: str,
    reason: str | None,
    field: str,
    allow_short: bool = False,
) -> StockMovement:
    """Change on-hand stock and write its ledger row, in the caller's transaction."""
    level = locked_level(uow, sku.id, location_id)
    _upsert(uow, StockBatch, sku_id=sku.id, location_id=location_id, batch=batch, expiry=expiry)
    lot = uow.session.scalars(
        select(StockBatch)
        .where(
            StockBatch.sku_id == sku.id,
            StockBatch.location_id == location_id,
            StockBatch.batch == batch,
        )
        .execution_options(populate_existing=True)
    ).one()
    try:
        after = model.move(_level_balance(uow, level), delta, allow_short=allow_short)
        model.move(model.Balance(lot.on_hand), delta, allow_short=allow_short)
    except model.StockRuleError as exc:
        raise InsufficientStock(str(exc), field=f"{field}.qty") from exc
    level.on_hand += delta
    lot.on_hand += delta
    movement = StockMovement(
        sku_id=sku.id,
        location_id=location_id,
        batch=batch,
        kind=kind.value,
        qty=delta,
        reason=reason,
        document=document,
        actor_id=uow.actor_id,
    )
    uow.session.add(movement)
    payload = {
        "sku_id": sku.id,
        "sku": sku.code,
        "location_id": location_id,
        "batch": batch,
        "delta": delta,
        "on_hand": after.on_hand,
        "available": after.available,
        "kind": kind.value,
        "document": document,
    }
    uow.emit("stock.changed", payload)
    if delta < 0 and after.available <= level.safety_stock:
        uow.emit("stock.low", payload)
    if short := model.shortfall(after):
        # Goods sold offline that the system had promised or did not have: 线下超卖.
        uow.emit("stock.oversold", {**payload, "shortfall": short})
    return movement


def _take(
    uow: UnitOfWork,
    *,
    sku: Sku,
    location_id: str,
    qty: int,
    batch: str | None,
    kind: model.MovementKind,
    document: str,
    reason: str | None,
    field: str,
    allow_short: bool = False,
) -> list[tuple[StockMovement, date | None]]:
    """Take `qty` out: from the named batch, or first-expiry-first-out (先到期先出) over
    the batches on hand when none is named. With `allow_short` (goods already gone) what
    no batch covers is taken from the untracked batch, below zero."""
    if batch is not None:
        lots: list[tuple[str, date | None, int]] = [(batch, None, qty)]
    else:
        rows = uow.session.execute(
            select(StockBatch.batch, StockBatch.expiry, StockBatch.on_hand).where(
                StockBatch.sku_id == sku.id,
                StockBatch.location_id == location_id,
                StockBatch.on_hand > 0,
            )
        ).all()
        lots_on_hand = [(b, e, q) for b, e, q in rows]
        plan = model.fefo(lots_on_hand, qty)
        on_hand = sum(q for _b, _e, q in rows)
        if plan is None and not allow_short:
            raise InsufficientStock(f"only {on_hand} on hand", field=f"{field}.qty")
        if plan is None:
            plan = (model.fefo(lots_on_hand, on_hand) or []) + [("", None, qty - on_hand)]
        lots = plan
    return [
        (
            _post(
                uow,
                sku=sku,
                location_id=location_id,
                batch=b,
                expiry=None,
                delta=-take,
                kind=kind,
                document=document,
                reason=reason,
                field=field,
                allow_short=allow_short,
            ),
            expiry,
        )
        for b, expiry, take in lots
    ]


def _check_serials(sku: Sku, given: list[str] | None, qty: int, field: str) -> list[str]:
    try:
        return model.check_serials(given, qty, required=sku.serial_required)
    except model.StockRuleError as exc:
        raise ValidationFailed(f"{field}.serials", str(exc)) from exc


def _relocate(
    uow: UnitOfWork,
    sku: Sku,
    serials: list[str],
    *,
    expect: model.SerialState,
    to: tuple[model.SerialStatus, str],
    document: str,
    field: str,
    offline: bool = False,
) -> None:
    """序列号: each unit's row follows it, from where it is expected to be to `to`."""
    if not serials:
        return
    rows = {
        row.serial: row
        for row in uow.session.scalars(
            select(StockSerial).where(StockSerial.sku_id == sku.id, StockSerial.serial.in_(serials))
        )
    }
    for number in serials:
        row = rows.get(number)
        state = None if row is None else (model.SerialStatus(row.status), row.location_id)
        if not model.serial_may_move(state, expect, offline=offline):
            where = "unknown" if state is None else f"{state[0].value} at {state[1]}"
            raise Conflict(f"serial number {number} is {where}", field=f"{field}.serials")
        if row is None:
            row = StockSerial(sku_id=sku.id, serial=number)
            uow.session.add(row)
        row.status, row.location_id, row.document = to[0].value, to[1], document


def list_serials(
    uow: UnitOfWork, sku_code: str | None, serial: str | None, status: str | None, limit: int
) -> list[StockSerial]:
    query = select(StockSerial).order_by(StockSerial.id).limit(limit)
    if sku_code:
        query = query.where(StockSerial.sku_id == catalog.sku_by_code(uow, sku_code).id)
    if serial:
        query = query.where(StockSerial.serial == serial)
    if status:
        query = query.where(StockSerial.status == status)
    return list(uow.session.scalars(query).all())


def _local_today(uow: UnitOfWork) -> date:
    return utcnow().astimezone(ZoneInfo(org.rule_for(uow, "receipt").timezone)).date()


def receive(uow: UnitOfWork, cmd: ReceiptIn) -> tuple[str, str, list[StockMovement]]:
    """入库: goods arrive at a location; batch-managed SKUs need batch and expiry."""
    unit, loc = resolve_location(uow, cmd.location)
    document = org.next_code(uow, "receipt")
    today = _local_today(uow)
    moves = []
    for i, line in enumerate(cmd.lines):
        sku = catalog.sku_by_code(uow, line.sku, f"lines[{i}].sku")
        try:
            model.check_batch(line.batch, line.expiry, today, required=sku.batch_required)
        except model.StockRuleError as exc:
            raise ValidationFailed(f"lines[{i}].{exc.field}", str(exc)) from exc
        _relocate(
            uow,
            sku,
            _check_serials(sku, line.serials, line.qty, f"lines[{i}]"),
            expect=None,
            to=(model.SerialStatus.in_stock, loc.id),
            document=document,
            field=f"lines[{i}]",
        )
        moves.append(
            _post(
                uow,
                sku=sku,
                location_id=loc.id,
                batch=line.batch or "",
                expiry=line.expiry,
                delta=line.qty,
                kind=model.MovementKind.receipt,
                document=document,
                reason=None,
                field=f"lines[{i}]",
            )
        )
    uow.session.flush()
    return document, unit.code, moves


def adjust(uow: UnitOfWork, cmd: AdjustmentIn) -> tuple[str, str, list[StockMovement]]:
    """库存调整: damage, theft, found goods; the reason comes from the dictionary."""
    org.require_entry(uow, "adjustment_reason", cmd.reason, "reason")
    unit, loc = resolve_location(uow, cmd.location)
    document = org.next_code(uow, "adjustment")
    moves = []
    for i, line in enumerate(cmd.lines):
        sku = catalog.sku_by_code(uow, line.sku, f"lines[{i}].sku")
        if line.qty == 0:
            raise ValidationFailed(f"lines[{i}].qty", "must not be zero")
        here = (model.SerialStatus.in_stock, loc.id)
        gone = (model.SerialStatus.written_off, loc.id)
        _relocate(
            uow,
            sku,
            _check_serials(sku, line.serials, line.qty, f"lines[{i}]"),
            expect=here if line.qty < 0 else None,
            to=gone if line.qty < 0 else here,
            document=document,
            field=f"lines[{i}]",
        )
        if line.qty < 0:
            taken = _take(
                uow,
                sku=sku,
                location_id=loc.id,
                qty=-line.qty,
                batch=line.batch,
                kind=model.MovementKind.adjustment,
                document=document,
                reason=cmd.reason,
                field=f"lines[{i}]",
            )
            moves += [m for m, _expiry in taken]
            continue
        moves.append(
            _post(
                uow,
                sku=sku,
                location_id=loc.id,
                batch=line.batch or "",
                expiry=None,
                delta=line.qty,
                kind=model.MovementKind.adjustment,
                document=document,
                reason=cmd.reason,
                field=f"lines[{i}]",
            )
        )
    uow.session.flush()
    return document, unit.code, moves


def sell(uow: UnitOfWork, cmd: SaleIn) -> tuple[str, str, list[StockMovement]]:
    """A store sale from the POS, first-expiry-first-out. An offline sale synced late is
    recorded even when stock is short (the goods are gone) and raises stock.oversold."""
    unit, loc = resolve_location(uow, cmd.location)
    moves: list[StockMovement] = []
    for i, line in enumerate(cmd.lines):
        sku = catalog.sku_by_code(uow, line.sku, f"lines[{i}].sku")
        _relocate(
            uow,
            sku,
            _check_serials(sku, line.serials, line.qty, f"lines[{i}]"),
            expect=(model.SerialStatus.in_stock, loc.id),
            to=(model.SerialStatus.sold, loc.id),
            document=cmd.reference,
            field=f"lines[{i}]",
            offline=cmd.offline,
        )
        taken = _take(
            uow,
            sku=sku,
            location_id=loc.id,
            qty=line.qty,
            batch=line.batch,
            kind=model.MovementKind.sale,
            document=cmd.reference,
            reason="offline" if cmd.offline else None,
            field=f"lines[{i}]",
            allow_short=cmd.offline,
        )
        moves += [m for m, _expiry in taken]
    uow.session.flush()
    return cmd.reference, unit.code, moves


def _availability_row(
    code: str, level: StockLevel, b: model.Balance, available: int | None = None
) -> AvailabilityOut:
    return AvailabilityOut(
        location=code,
        location_id=level.location_id,
        on_hand=b.on_hand,
        reserved=b.reserved,
        in_transit=b.in_transit,
        safety_stock=b.safety_stock,
        available=b.available if available is None else available,
        bin=level.bin,
    )


def availability(
    uow: UnitOfWork, sku_code: str, channel: str | None = None
) -> list[AvailabilityOut]:
    """Per location: on hand, reserved (expired reservations excluded at once), in transit,
    and available: to every channel alike, or, with `channel`, what that channel may
    promise under the allocation rules (locations it may not sell from are left out)."""
    sku = catalog.sku_by_code(uow, sku_code)
    query = (
        select(OrgUnit.code, StockLevel)
        .join(OrgUnit, OrgUnit.id == StockLevel.location_id)
        .where(StockLevel.sku_id == sku.id)
        .order_by(OrgUnit.code)
    )
    gone = lapsed(uow, [sku.id])
    if channel is None:
        return [
            _availability_row(code, level, _balance(level, gone))
            for code, level in uow.session.execute(query)
        ]
    org.require_entry(uow, "channel", channel, "channel")
    book = rulebooks(uow.session, {uow.tenant_id})[uow.tenant_id]
    out = []
    for code, level in uow.session.execute(query):
        if not book.sources(channel, level.location_id):
            continue
        b = _balance(level, gone)
        row = _availability_row(
            code, level, b, book.available_to(b, channel, sku.id, level.location_id)
        )
        quota = book.quota(channel, sku.id, level.location_id)
        row.quota_remaining = None if quota is None else quota.remaining
        out.append(row)
    return out


def promisable(uow: UnitOfWork, sku_ids: list[str], channel: str) -> dict[str, dict[str, int]]:
    """For sourcing: location id -> SKU id -> units `channel` may promise there, for the
    locations it may sell from that hold any of the SKUs."""
    levels = uow.session.scalars(select(StockLevel).where(StockLevel.sku_id.in_(sku_ids)))
    gone = lapsed(uow, sku_ids)
    book = rulebooks(uow.session, {uow.tenant_id}, sku_ids)[uow.tenant_id]
    out: dict[str, dict[str, int]] = {}
    for level in levels:
        b = _balance(level, gone)
        if units := book.available_to(b, channel, level.sku_id, level.location_id):
            out.setdefault(level.location_id, {})[level.sku_id] = units
    return out


def channel_stock(
    uow: UnitOfWork, sku_codes: list[str], channel: str, near: tuple[float, float] | None
) -> list[ChannelStockOut]:
    """可售库存 of several SKUs for one channel, summed over the locations it may sell
    from, or only those whose service radius covers `near` (lat, lng)."""
    serving_codes = None if near is None else {o.code for o in serving(uow, *near)}
    out = []
    for code in sku_codes:
        rows = [
            r
            for r in availability(uow, code, channel)
            if serving_codes is None or r.location in serving_codes
        ]
        by_location = {r.location: r.available for r in rows}
        out.append(
            ChannelStockOut(
                sku=code,
                channel=channel,
                available=sum(by_location.values()),
                locations=by_location,
            )
        )
    return out


def movements(
    uow: UnitOfWork, sku_code: str | None, location: str | None, after: str | None, limit: int
) -> list[StockMovement]:
    query = select(StockMovement).order_by(StockMovement.id).limit(limit)
    if sku_code:
        query = query.where(StockMovement.sku_id == catalog.sku_by_code(uow, sku_code).id)
    if location:
        query = query.where(StockMovement.location_id == resolve_location(uow, location)[1].id)
    if after:
        query = query.where(StockMovement.id > after)
    return list(uow.session.scalars(query).all())


# --- transfers (调拨) -------------------------------------------------------------------


def _transfer_in_transit(uow: UnitOfWork, sku_id: str, location_id: str, delta: int) -> None:
    locked_level(uow, sku_id, location_id).in_transit += delta


def send_transfer(uow: UnitOfWork, cmd: TransferIn) -> Transfer:
    """Ship stock to another location: out of the source now, in transit at the
    destination until received."""
    _src_unit, src = resolve_location(uow, cmd.from_location, "from")
    _dst_unit, dst = resolve_location(uow, cmd.to_location, "to")
    if src.id == dst.id:
        raise ValidationFailed("to", "a transfer needs two different locations")
    transfer = Transfer(
        number=org.next_code(uow, "transfer"), from_location_id=src.id, to_location_id=dst.id
    )
    uow.session.add(transfer)
    uow.session.flush()
    for i, line in enumerate(cmd.lines):
        sku = catalog.sku_by_code(uow, line.sku, f"lines[{i}].sku")
        serials = _check_serials(sku, line.serials, line.qty, f"lines[{i}]")
        _relocate(
            uow,
            sku,
            serials,
            expect=(model.SerialStatus.in_stock, src.id),
            to=(model.SerialStatus.in_transit, dst.id),
            document=transfer.number,
            field=f"lines[{i}]",
        )
        taken = _take(
            uow,
            sku=sku,
            location_id=src.id,
            qty=line.qty,
            batch=line.batch,
            kind=model.MovementKind.transfer_out,
            document=transfer.number,
            reason=None,
            field=f"lines[{i}]",
        )
        _transfer_in_transit(uow, sku.id, dst.id, line.qty)
        for n, (movement, expiry) in enumerate(taken):
            uow.session.add(
                TransferLine(
                    transfer_id=transfer.id,
                    sku_id=sku.id,
                    batch=movement.batch,
                    expiry=expiry,
                    qty=-movement.qty,
                    serials=serials if n == 0 else [],  # the units travel with the line
                )
            )
    uow.session.flush()
    uow.emit(
        "stock.transfer_sent",
        {"id": transfer.id, "number": transfer.number, "from": src.id, "to": dst.id},
    )
    return transfer


def get_transfer(uow: UnitOfWork, transfer_id: str) -> Transfer:
    return uow.get(Transfer, transfer_id, "transfer")


def list_transfers(
    uow: UnitOfWork, status: str | None, after: str | None, limit: int
) -> list[Transfer]:
    query = select(Transfer).order_by(Transfer.id).limit(limit)
    if status:
        query = query.where(Transfer.status == status)
    if after:
        query = query.where(Transfer.id > after)
    return list(uow.session.scalars(query).all())


def transfer_lines(uow: UnitOfWork, transfer_id: str) -> list[TransferLine]:
    query = select(TransferLine).where(TransferLine.transfer_id == transfer_id)
    return list(uow.session.scalars(query.order_by(TransferLine.id)).all())


def receive_transfer(uow: UnitOfWork, transfer_id: str) -> Transfer:
    """The destination takes the goods in: in transit becomes on hand, once."""
    transfer = get_transfer(uow, transfer_id)
    resolve_location(uow, transfer.to_location_id, "to")  # the receiver must see it
    if transfer.status != "in_transit":
        raise Conflict(f"transfer is already {transfer.status}", field="status")
    for i, line in enumerate(transfer_lines(uow, transfer.id)):
        sku = catalog.get_sku(uow, line.sku_id)
        _transfer_in_transit(uow, sku.id, transfer.to_location_id, -line.qty)
        _relocate(
            uow,
            sku,
            line.serials,
            expect=(model.SerialStatus.in_transit, transfer.to_location_id),
            to=(model.SerialStatus.in_stock, transfer.to_location_id),
            document=transfer.number,
            field=f"lines[{i}]",
        )
        _post(
            uow,
            sku=sku,
            location_id=transfer.to_location_id,
            batch=line.batch,
            expiry=line.expiry,
            delta=line.qty,
            kind=model.MovementKind.transfer_in,
            document=transfer.number,
            reason=None,
            field=f"lines[{i}]",
        )
    transfer.status, transfer.received_at = "received", utcnow()
    uow.emit("stock.transfer_received", {"id": transfer.id, "number": transfer.number})
    return transfer


# --- stock counts (盘点) and expiry -----------------------------------------------------


def open_count(uow: UnitOfWork, cmd: CountIn) -> StockCount:
    _unit, loc = resolve_location(uow, cmd.location)
    if cmd.category_id:
        catalog.get_category(uow, cmd.category_id)
    count = StockCount(
        number=org.next_code(uow, "stock_count"), location_id=loc.id, category_id=cmd.category_id
    )
    uow.session.add(count)
    uow.session.flush()
    uow.emit("stock.count_opened", {"id": count.id, "number": count.number})
    return count


def get_count(uow: UnitOfWork, count_id: str) -> StockCount:
    return uow.get(StockCount, count_id, "stock count")


def list_counts(uow: UnitOfWork, status: str | None) -> list[StockCount]:
    query = select(StockCount).order_by(StockCount.id)
    if status:
        query = query.where(StockCount.status == status)
    return list(uow.session.scalars(query).all())


def count_lines(uow: UnitOfWork, count_id: str) -> list[StockCountLine]:
    query = select(StockCountLine).where(StockCountLine.count_id == count_id)
    return list(uow.session.scalars(query.order_by(StockCountLine.id)).all())


def _sku_for_count(uow: UnitOfWork, code: str, field: str) -> Sku:
    """A SKU code, or a barcode scanned by a handheld (PDA)."""
    found = uow.session.scalars(select(Sku).where(Sku.code == code)).first()
    if found is not None:
        return found
    try:
        return catalog.get_sku(uow, catalog.scan(uow, code).sku.id)
    except (NotFound, ValidationFailed) as exc:
        raise ValidationFailed(field, f"unknown SKU or barcode {code}") from exc


def record_counts(uow: UnitOfWork, count_id: str, cmd: CountLinesIn) -> StockCount:
    """Record counted quantities (again for a SKU: the latest count wins), each with the
    system's on-hand at that moment."""
    count = get_count(uow, count_id)
    if count.status != "open":
        raise Conflict(f"stock count is {count.status}", field="status")
    existing = {line.sku_id: line for line in count_lines(uow, count.id)}
    for i, line in enumerate(cmd.lines):
        sku = _sku_for_count(uow, line.sku, f"lines[{i}].sku")
        if count.category_id:
            product = catalog.get_product(uow, sku.product_id)
            if product.category_id != count.category_id:
                raise ValidationFailed(f"lines[{i}].sku", "not in this count's category")
        system_qty = locked_level(uow, sku.id, count.location_id).on_hand
        row = existing.get(sku.id)
        if row is None:
            row = StockCountLine(count_id=count.id, sku_id=sku.id, counted=0, system_qty=0)
            uow.session.add(row)
            existing[sku.id] = row
        row.counted, row.system_qty, row.counted_at = line.counted, system_qty, utcnow()
    uow.session.flush()
    return count


def post_count(uow: UnitOfWork, count_id: str) -> StockCount:
    """Post the variances as count_variance movements, once."""
    count = get_count(uow, count_id)
    if count.status != "open":
        raise Conflict(f"stock count is already {count.status}", field="status")
    for i, line in enumerate(count_lines(uow, count.id)):
        variance = line.counted - line.system_qty
        if variance == 0:
            continue
        sku = catalog.get_sku(uow, line.sku_id)
        kind = model.MovementKind.count_variance
        if variance > 0:
            _post(
                uow,
                sku=sku,
                location_id=count.location_id,
                batch="",
                expiry=None,
                delta=variance,
                kind=kind,
                document=count.number,
                reason="count_surplus",
                field=f"lines[{i}]",
            )
        else:
            _take(
                uow,
                sku=sku,
                location_id=count.location_id,
                qty=-variance,
                batch=None,
                kind=kind,
                document=count.number,
                reason="count_deficit",
                field=f"lines[{i}]",
            )
    count.status, count.posted_at = "posted", utcnow()
    uow.emit("stock.count_posted", {"id": count.id, "number": count.number})
    return count


def expiring(uow: UnitOfWork, within_days: int) -> list[ExpiringOut]:
    """临期预警: batches on hand that expire within the next `within_days` days, soonest
    first (already expired ones included, with negative days left)."""
    today = _local_today(uow)
    query = (
        select(StockBatch)
        .where(
            StockBatch.on_hand > 0,
            StockBatch.expiry.is_not(None),
            StockBatch.expiry <= today + timedelta(days=within_days),
        )
        .order_by(StockBatch.expiry, StockBatch.sku_id)
    )
    return [
        ExpiringOut(
            sku_id=b.sku_id,
            location_id=b.location_id,
            batch=b.batch,
            expiry=b.expiry,
            on_hand=b.on_hand,
            days_left=(b.expiry - today).days,
        )
        for b in uow.session.scalars(query)
        if b.expiry is not None
    ]


# --- channel allocation (库存分配) and safety stock ------------------------------------


def create_allocation(uow: UnitOfWork, cmd: AllocationIn) -> StockAllocation:
    """A channel allocation rule; at most one active rule of a kind per channel, location
    (and SKU)."""
    org.require_entry(uow, "channel", cmd.channel, "channel")
    _unit, loc = resolve_location(uow, cmd.location)
    try:
        model.check_allocation(cmd.kind, cmd.sku, cmd.pct, cmd.qty)
    except model.StockRuleError as exc:
        raise ValidationFailed(exc.field, str(exc)) from exc
    sku_id = catalog.sku_by_code(uow, cmd.sku).id if cmd.sku else None
    if sku_id is not None:
        locked_level(uow, sku_id, loc.id)  # quota counters change under the level's lock
    a = StockAllocation
    twin = uow.session.scalar(
        select(a.id).where(
            a.kind == cmd.kind.value,
            a.channel == cmd.channel,
            a.location_id == loc.id,
            a.sku_id.is_(None) if sku_id is None else a.sku_id == sku_id,
            a.active.is_(True),
        )
    )
    if twin is not None:
        raise Conflict(f"an active {cmd.kind.value} rule exists already: {twin}", field="kind")
    rule = StockAllocation(
        kind=cmd.kind.value,
        channel=cmd.channel,
        location_id=loc.id,
        sku_id=sku_id,
        pct=cmd.pct or 0,
        qty=cmd.qty or 0,
        used=0,
        active=True,
        note=cmd.note,
    )
    uow.session.add(rule)
    uow.session.flush()
    uow.emit("stock.allocation_changed", {"id": rule.id, "kind": rule.kind, "active": True})
    return rule


def list_allocations(
    uow: UnitOfWork, channel: str | None, active: bool | None
) -> list[StockAllocation]:
    query = select(StockAllocation).order_by(StockAllocation.id)
    if channel:
        query = query.where(StockAllocation.channel == channel)
    if active is not None:
        query = query.where(StockAllocation.active.is_(active))
    return list(uow.session.scalars(query).all())


def get_allocation(uow: UnitOfWork, allocation_id: str) -> StockAllocation:
    return uow.get(StockAllocation, allocation_id, "allocation rule")


def end_allocation(uow: UnitOfWork, allocation_id: str) -> StockAllocation:
    """The rule stops applying; a quota's unsold units go back to the shared pool, and
    holds drawn on it still give their units back when released."""
    rule = get_allocation(uow, allocation_id)
    resolve_location(uow, rule.location_id)
    if not rule.active:
        raise Conflict("allocation rule is already ended", field="active")
    if rule.sku_id is not None:
        locked_level(uow, rule.sku_id, rule.location_id)
    rule.active, rule.ended_at = False, utcnow()
    uow.emit("stock.allocation_changed", {"id": rule.id, "kind": rule.kind, "active": False})
    return rule


def set_safety_stock(uow: UnitOfWork, cmd: SafetyStockIn) -> AvailabilityOut:
    """安全库存: units at a location that no channel is promised."""
    sku = catalog.sku_by_code(uow, cmd.sku)
    unit, loc = resolve_location(uow, cmd.location)
    level = locked_level(uow, sku.id, loc.id)
    level.safety_stock = cmd.qty
    uow.emit("stock.safety_stock_set", {"sku_id": sku.id, "location_id": loc.id, "qty": cmd.qty})
    return _availability_row(unit.code, level, _level_balance(uow, level))


# --- reservations (库存锁定) -----------------------------------------------------------


class OutOfStock(Conflict):
    type, title = "out-of-stock", "Out of stock"


def reserve(uow: UnitOfWork, cmd: ReserveIn) -> Reservation:
    """Hold stock for a cart or order at one or more locations, all lines or none."""
    org.require_entry(uow, "channel", cmd.channel, "channel")
    wanted = []
    for i, line in enumerate(cmd.lines):
        sku = catalog.sku_by_code(uow, line.sku, f"lines[{i}].sku")
        _unit, loc = resolve_location(uow, line.location, f"lines[{i}].location")
        wanted.append(Wanted(sku.id, loc.id, line.qty, sku.code, f"lines[{i}].qty"))
    return hold(uow, cmd.owner, cmd.channel, cmd.ttl_seconds, wanted)


@dataclass(frozen=True, order=True)
class Wanted:
    """A line to hold, already resolved (the order centre resolves its own)."""

    sku_id: str
    location_id: str
    qty: int
    code: str  # for the error
    field: str


def hold(
    uow: UnitOfWork, owner: str, channel: str, ttl_seconds: int, wanted: list[Wanted]
) -> Reservation:
    """库存锁定 of resolved lines, all or none, under the channel's allocation rules."""
    reservation = Reservation(
        owner=owner,
        channel=channel,
        status=model.ReservationStatus.active.value,
        expires_at=utcnow() + timedelta(seconds=ttl_seconds),
        actor_id=uow.actor_id,
    )
    uow.session.add(reservation)
    uow.session.flush()
    # Levels are locked in one global order, so two multi-line reservations never deadlock;
    # quota counters change only under their level's lock, so they are read after it.
    ordered = sorted(wanted)
    levels = locked_levels(uow, [(w.sku_id, w.location_id) for w in ordered])
    skus = sorted({w.sku_id for w in ordered})
    gone = lapsed(uow, skus)
    book = rulebooks(uow.session, {uow.tenant_id}, skus)[uow.tenant_id]
    for level, w in zip(levels, ordered, strict=True):
        try:
            _after, quota = book.take(
                _balance(level, gone), channel, w.sku_id, w.location_id, w.qty
            )
        except model.StockRuleError as exc:
            raise OutOfStock(str(exc), field=w.field, sku=w.code) from exc
        level.reserved += w.qty
        if quota is not None:
            draw_quota(uow.session, quota.id, w.qty)
        uow.session.add(
            ReservationLine(
                reservation_id=reservation.id,
                sku_id=w.sku_id,
                location_id=w.location_id,
                qty=w.qty,
                expires_at=reservation.expires_at,
                allocation_id=quota and quota.id,
            )
        )
    uow.session.flush()
    uow.emit(
        "stock.reserved",
        {
            "reservation_id": reservation.id,
            "owner": owner,
            "channel": channel,
            "lines": [
                {"sku_id": w.sku_id, "location_id": w.location_id, "qty": w.qty} for w in wanted
            ],
        },
    )
    return reservation


def hold_request(uow: UnitOfWork, cmd: HoldIn) -> tuple[HoldRequest, ReservationOut]:
    """What the hot path needs to know of a one-line hold, checked as `reserve` checks
    it, and the answer it gets if granted: the hold's id and times are fixed now, so the
    answer can be stored (idempotency, audit) in the batch that grants it."""
    org.require_entry(uow, "channel", cmd.channel, "channel")
    sku = catalog.sku_by_code(uow, cmd.sku)
    _unit, loc = resolve_location(uow, cmd.location)
    hold_id, now = new_id(), utcnow()
    request = HoldRequest(
        tenant_id=uow.tenant_id,
        actor_id=uow.actor_id,
        sku_id=sku.id,
        location_id=loc.id,
        qty=cmd.qty,
        channel=cmd.channel,
        owner=cmd.owner,
        ttl_seconds=cmd.ttl_seconds,
        hold_id=hold_id,
        created_at=now,
    )
    answer = ReservationOut(
        id=hold_id,
        owner=cmd.owner,
        channel=cmd.channel,
        status=model.ReservationStatus.active.value,
        expires_at=now + timedelta(seconds=cmd.ttl_seconds),
        created_at=now,
        lines=[ReservationLineOut(sku_id=sku.id, location_id=loc.id, qty=cmd.qty)],
    )
    return request, answer


def lines_of(uow: UnitOfWork, reservation_id: str) -> list[ReservationLine]:
    query = select(ReservationLine).where(ReservationLine.reservation_id == reservation_id)
    return list(
        uow.session.scalars(
            query.order_by(ReservationLine.sku_id, ReservationLine.location_id)
        ).all()
    )


def get_reservation(uow: UnitOfWork, reservation_id: str) -> Reservation:
    """The caller's own reservation; another caller's is not found unless the caller may
    manage stock (a channel cannot release another channel's hold)."""
    found = uow.session.scalars(select(Reservation).where(Reservation.id == reservation_id)).first()
    principal = uow.principal
    mine = found is not None and (
        principal is None
        or found.actor_id == principal.actor_id
        or "stock:write" in principal.permissions
    )
    if found is None or not mine:
        raise NotFound(f"reservation {reservation_id} not found")
    return found


def list_reservations(
    uow: UnitOfWork, owner: str | None, status: str | None, after: str | None, limit: int
) -> list[Reservation]:
    """The caller's reservations (everyone's for whoever may manage stock), oldest first."""
    query = select(Reservation).order_by(Reservation.id).limit(limit)
    principal = uow.principal
    if principal is not None and "stock:write" not in principal.permissions:
        query = query.where(Reservation.actor_id == principal.actor_id)
    if owner:
        query = query.where(Reservation.owner == owner)
    if status:
        query = query.where(Reservation.status == status)
    if after:
        query = query.where(Reservation.id > after)
    return list(uow.session.scalars(query).all())


def confirm(uow: UnitOfWork, reservation_id: str) -> Reservation:
    """Paid: the hold no longer lapses; it ends when fulfilled or released."""
    r = get_reservation(uow, reservation_id)
    expired = r.expires_at is not None and r.expires_at <= utcnow()
    if r.status != model.ReservationStatus.active or expired:
        raise Conflict(f"reservation is {'expired' if expired else r.status}", field="status")
    r.status, r.expires_at = model.ReservationStatus.confirmed.value, None
    for line in lines_of(uow, r.id):
        line.expires_at = None
    uow.emit("stock.reservation_confirmed", {"reservation_id": r.id, "owner": r.owner})
    return r


def _close(uow: UnitOfWork, r: Reservation, status: model.ReservationStatus) -> None:
    for line in lines_of(uow, r.id):
        locked_level(uow, line.sku_id, line.location_id).reserved -= line.qty
        if line.allocation_id:
            draw_quota(uow.session, line.allocation_id, -line.qty)
        line.expires_at = None
    r.status, r.closed_at = status.value, utcnow()


def release(uow: UnitOfWork, reservation_id: str) -> Reservation:
    """Cancel a hold (cart abandoned, order cancelled): the stock is available again."""
    r = get_reservation(uow, reservation_id)
    if r.status not in model.OPEN:
        raise Conflict(f"reservation is already {r.status}", field="status")
    _close(uow, r, model.ReservationStatus.released)
    uow.emit("stock.released", {"reservation_id": r.id, "owner": r.owner})
    return r


def restock(
    uow: UnitOfWork, sku_id: str, location_id: str, qty: int, document: str
) -> StockMovement:
    """A returned unit back on sale at any location (ledger kind `return`)."""
    return _post(
        uow,
        sku=catalog.get_sku(uow, sku_id),
        location_id=location_id,
        batch="",
        expiry=None,
        delta=qty,
        kind=model.MovementKind.return_,
        document=document,
        reason=None,
        field="lines",
    )


def fulfil(
    uow: UnitOfWork, reservation_id: str, location_id: str, units: dict[str, int], document: str
) -> list[StockMovement]:
    """出库 against a confirmed hold: the held units at `location_id` leave stock (first
    expiry first out, ledger kind `sale`) and stop being held, in one step."""
    r, _lines = _unhold(uow, reservation_id, location_id, units)
    moves: list[StockMovement] = []
    for sku_id, qty in sorted(units.items()):
        taken = _take(
            uow,
            sku=catalog.get_sku(uow, sku_id),
            location_id=location_id,
            qty=qty,
            batch=None,
            kind=model.MovementKind.sale,
            document=document,
            reason=None,
            field="units",
            allow_short=True,  # the goods are in the shopper's hands: record, then resolve
        )
        moves += [m for m, _expiry in taken]
    if all(x.qty == 0 for x in lines_of(uow, r.id)):
        r.status, r.closed_at = model.ReservationStatus.fulfilled.value, utcnow()
    uow.emit("stock.fulfilled", {"reservation_id": r.id, "location_id": location_id})
    return moves


def release_part(
    uow: UnitOfWork, reservation_id: str, location_id: str, units: dict[str, int]
) -> Reservation:
    """Some held units at `location_id` will not be taken (not found on the shelf when
    picking): they stop being held; the rest of the hold stands."""
    r, lines = _unhold(uow, reservation_id, location_id, units)
    for sku_id, qty in units.items():
        if quota := lines[sku_id].allocation_id:  # a fenced quota gets its units back
            draw_quota(uow.session, quota, -qty)
    if all(x.qty == 0 for x in lines_of(uow, r.id)):
        r.status, r.closed_at = model.ReservationStatus.released.value, utcnow()
    uow.emit(
        "stock.released",
        {"reservation_id": r.id, "owner": r.owner, "location_id": location_id, "units": units},
    )
    return r


def _unhold(
    uow: UnitOfWork, reservation_id: str, location_id: str, units: dict[str, int]
) -> tuple[Reservation, dict[str, ReservationLine]]:
    """Take `units` out of a confirmed hold's lines at a location and out of the levels'
    reserved counts; the lines touched, by SKU."""
    r = uow.get(Reservation, reservation_id, "reservation")
    if r.status != model.ReservationStatus.confirmed:
        raise Conflict(f"reservation is {r.status}", field="status")
    held = {x.sku_id: x for x in lines_of(uow, r.id) if x.location_id == location_id}
    for sku_id, qty in sorted(units.items()):
        line = held.get(sku_id)
        if line is None or line.qty < qty:
            raise Conflict(f"only {line.qty if line else 0} of {sku_id} held here", field="units")
        locked_level(uow, sku_id, location_id).reserved -= qty
        line.qty -= qty
    return r, held


def expire_due(db: Database, limit: int = 500) -> int:
    """Sweep lapsed holds (relay job). Availability ignores them already; this gives the
    level rows back their reserved units and announces the expiry."""
    with db.session(write=False) as session:
        scope_session(session, None)
        due = session.execute(
            select(Reservation.id, Reservation.tenant_id)
            .where(
                Reservation.status == model.ReservationStatus.active.value,
                Reservation.expires_at <= utcnow(),
            )
            .limit(limit)
        ).all()
    for reservation_id, tenant_id in due:
        with UnitOfWork(db, tenant_id) as uow:
            taken = uow.session.execute(
                update(Reservation)
                .where(
                    Reservation.id == reservation_id,
                    Reservation.status == model.ReservationStatus.active.value,
                )
                .values(status="expiring")
            )
            if taken.rowcount != 1:  # type: ignore[attr-defined]
                continue  # confirmed, released or swept by someone else meanwhile
            r = uow.session.scalars(
                select(Reservation)
                .where(Reservation.id == reservation_id)
                .execution_options(populate_existing=True)
            ).one()
            _close(uow, r, model.ReservationStatus.expired)
            uow.emit("stock.reservation_expired", {"reservation_id": r.id, "owner": r.owner})
            uow.commit()
    return len(due)
