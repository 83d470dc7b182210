"""Use cases of the inventory centre; each runs inside the caller's unit of work."""

from __future__ import annotations

from datetime import date
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import func, select
from sqlalchemy.dialects import postgresql, sqlite

from zhongtai.catalog import service as catalog
from zhongtai.catalog.store import Sku
from zhongtai.inventory import model
from zhongtai.inventory.schemas import (
    AdjustmentIn,
    AvailabilityOut,
    LocationIn,
    LocationOut,
    LocationPatch,
    ReceiptIn,
)
from zhongtai.inventory.store import Location, StockBalance, StockMovement
from zhongtai.org import service as org
from zhongtai.org.model import UnitKind
from zhongtai.org.schemas import OrgUnitIn
from zhongtai.org.store import OrgUnit
from zhongtai.platform.errors import Conflict, NotFound, ValidationFailed
from zhongtai.platform.ids import utcnow
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


def get_location(uow: UnitOfWork, location_id: str) -> LocationOut:
    found = _pairs(uow, OrgUnit.id == location_id)
    if not found:
        raise NotFound(f"location {location_id} not found")
    return _describe(*found[0])


def list_locations(uow: UnitOfWork) -> list[LocationOut]:
    return [_describe(u, loc) for u, loc in _pairs(uow)]


def update_location(uow: UnitOfWork, location_id: str, patch: LocationPatch) -> LocationOut:
    found = _pairs(uow, OrgUnit.id == location_id)
    if not found:
        raise NotFound(f"location {location_id} not found")
    unit, loc = found[0]
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


# --- the ledger ---------------------------------------------------------------------


def _locked_balance(
    uow: UnitOfWork, sku_id: str, location_id: str, batch: str, expiry: date | None
) -> StockBalance:
    """The balance row, made if missing and locked until commit (PostgreSQL row lock;
    SQLite writers are serialised by BEGIN IMMEDIATE)."""
    dialect = uow.db.dialect
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    uow.session.execute(
        insert(StockBalance)
        .values(
            tenant_id=uow.tenant_id,
            sku_id=sku_id,
            location_id=location_id,
            batch=batch,
            expiry=expiry,
            on_hand=0,
            reserved=0,
            in_transit=0,
            safety_stock=0,
            updated_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    query = (
        select(StockBalance)
        .where(
            StockBalance.sku_id == sku_id,
            StockBalance.location_id == location_id,
            StockBalance.batch == batch,
        )
        .with_for_update()
    )
    row = uow.session.scalars(query.execution_options(populate_existing=True)).one()
    return row


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
) -> StockMovement:
    """Change on-hand stock and write its ledger row, in the caller's transaction."""
    row = _locked_balance(uow, sku.id, location_id, batch, expiry)
    current = model.Balance(row.on_hand, row.reserved, row.in_transit, row.safety_stock)
    try:
        after = model.move(current, delta)
    except model.StockRuleError as exc:
        raise InsufficientStock(str(exc), field=f"{field}.qty") from exc
    row.on_hand = after.on_hand
    movement = StockMovement(
        sku_id=sku.id,
        location_id=location_id,
        batch=batch,
        kind=kind.value,
        qty=delta,
        reason=reason,
        document=document,
        actor_id=uow.principal.actor_id if uow.principal else "system",
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
    if delta < 0 and after.available <= row.safety_stock:
        uow.emit("stock.low", payload)
    return movement


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


def availability(uow: UnitOfWork, sku_code: str) -> list[AvailabilityOut]:
    """Per location, batches summed: on hand, reserved, in transit, available."""
    sku = catalog.sku_by_code(uow, sku_code)
    b = StockBalance
    query = (
        select(
            OrgUnit.code,
            b.location_id,
            func.sum(b.on_hand),
            func.sum(b.reserved),
            func.sum(b.in_transit),
            func.max(b.safety_stock),
        )
        .join(OrgUnit, OrgUnit.id == b.location_id)
        .where(b.sku_id == sku.id)
        .group_by(OrgUnit.code, b.location_id)
        .order_by(OrgUnit.code)
    )
    out = []
    for code, location_id, on_hand, reserved, in_transit, safety in uow.session.execute(query):
        balance = model.Balance(int(on_hand), int(reserved), int(in_transit), int(safety))
        out.append(
            AvailabilityOut(
                location=code,
                location_id=location_id,
                on_hand=balance.on_hand,
                reserved=balance.reserved,
                in_transit=balance.in_transit,
                safety_stock=balance.safety_stock,
                available=balance.available,
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
