"""HTTP routes of the inventory centre: locations, receipts, adjustments, availability."""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import StringConstraints

from zhongtai.catalog.schemas import LongCode
from zhongtai.inventory import service
from zhongtai.inventory.hotpath import AlreadyAnswered, HoldRequest, ReservationBatcher
from zhongtai.inventory.model import ReservationStatus, SerialStatus, StockRuleError
from zhongtai.inventory.schemas import (
    AdjustmentIn,
    AllocationIn,
    AllocationOut,
    AvailabilityOut,
    BinIn,
    BinOut,
    ChannelStockOut,
    CountIn,
    CountLineOut,
    CountLinesIn,
    CountOut,
    ExpiringOut,
    HoldIn,
    LocationIn,
    LocationOut,
    LocationPatch,
    LocationRef,
    MovementOut,
    ReceiptIn,
    ReservationLineOut,
    ReservationOut,
    ReserveIn,
    SafetyStockIn,
    SaleIn,
    SerialOut,
    SlotIn,
    StockDocumentOut,
    TransferIn,
    TransferLineOut,
    TransferOut,
)
from zhongtai.org.schemas import Id
from zhongtai.platform.errors import ProblemError, ValidationFailed
from zhongtai.platform.http import Ctx, reader, writer
from zhongtai.platform.uow import UnitOfWork

router = APIRouter(prefix="/v1", tags=["inventory"])
IdPath = Annotated[Id, Path()]


@router.post("/locations", status_code=201, response_model=LocationOut)
def create_location(body: LocationIn, ctx: Ctx = Depends(writer("location:write"))) -> JSONResponse:
    """A store, warehouse or front warehouse with its position and service radius."""
    return ctx.mutate(lambda uow: service.create_location(uow, body), status_code=201)


@router.get("/locations", response_model=list[LocationOut])
def list_locations(ctx: Ctx = Depends(reader("stock:read"))) -> list[LocationOut]:
    with ctx.read() as uow:
        return service.list_locations(uow)


@router.get("/locations/serving", response_model=list[LocationOut])
def serving_locations(
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[LocationOut]:
    """Locations whose service radius covers this point, nearest first."""
    with ctx.read() as uow:
        return service.serving(uow, lat, lng)


@router.get("/locations/{location_id}", response_model=LocationOut)
def get_location(location_id: IdPath, ctx: Ctx = Depends(reader("stock:read"))) -> LocationOut:
    with ctx.read() as uow:
        return service.get_location(uow, location_id)


@router.patch("/locations/{location_id}", response_model=LocationOut)
def update_location(
    location_id: IdPath, body: LocationPatch, ctx: Ctx = Depends(writer("location:write"))
) -> JSONResponse:
    return ctx.mutate(lambda uow: service.update_location(uow, location_id, body))


def _document(result: tuple[str, str, list[object]]) -> StockDocumentOut:
    document, location, moves = result
    return StockDocumentOut(
        document=document,
        location=location,
        movements=[MovementOut.model_validate(m) for m in moves],
    )


@router.post("/stock/receipts", status_code=201, response_model=StockDocumentOut)
def receive(body: ReceiptIn, ctx: Ctx = Depends(writer("stock:write"))) -> JSONResponse:
    """入库: add stock at a location; batch and expiry where the SKU needs them."""

    def work(uow: UnitOfWork) -> StockDocumentOut:
        return _document(service.receive(uow, body))  # type: ignore[arg-type]

    return ctx.mutate(work, status_code=201)


@router.post("/stock/adjustments", status_code=201, response_model=StockDocumentOut)
def adjust(body: AdjustmentIn, ctx: Ctx = Depends(writer("stock:write"))) -> JSONResponse:
    """库存调整 with a reason code; stock promised to reservations cannot be adjusted away."""

    def work(uow: UnitOfWork) -> StockDocumentOut:
        return _document(service.adjust(uow, body))  # type: ignore[arg-type]

    return ctx.mutate(work, status_code=201)


@router.post("/stock/sales", status_code=201, response_model=StockDocumentOut)
def sell(body: SaleIn, ctx: Ctx = Depends(writer("stock:write"))) -> JSONResponse:
    """A POS sale taken off the shelf. `offline: true` for sales made while the POS had no
    connection: recorded even if stock is short, with a `stock.oversold` event."""

    def work(uow: UnitOfWork) -> StockDocumentOut:
        return _document(service.sell(uow, body))  # type: ignore[arg-type]

    return ctx.mutate(work, status_code=201)


Channel = Annotated[str, StringConstraints(min_length=1, max_length=40)]


@router.get("/stock/availability", response_model=list[AvailabilityOut])
def availability(
    sku: Annotated[LongCode, Query(description="SKU code")],
    channel: Annotated[Channel | None, Query(description="Apply its allocation rules")] = None,
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[AvailabilityOut]:
    """Per location: on hand, reserved, in transit, safety stock and available (to the
    channel, under its allocation rules, when one is named)."""
    with ctx.read() as uow:
        return service.availability(uow, sku, channel)


@router.get("/stock/available-to-promise", response_model=list[ChannelStockOut])
def available_to_promise(
    sku: Annotated[list[LongCode], Query(min_length=1, max_length=100)],
    channel: Annotated[Channel, Query()],
    lat: Annotated[float | None, Query(ge=-90, le=90)] = None,
    lng: Annotated[float | None, Query(ge=-180, le=180)] = None,
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[ChannelStockOut]:
    """可售库存: what a channel may promise of each SKU, summed and per location; with
    `lat` and `lng`, only from locations whose service radius covers that point."""
    if (lat is None) != (lng is None):
        raise ValidationFailed("lng" if lng is None else "lat", "give both lat and lng")
    near = None if lat is None or lng is None else (lat, lng)
    with ctx.read() as uow:
        return service.channel_stock(uow, sku, channel, near)


@router.put("/stock/safety-stock", response_model=AvailabilityOut)
def set_safety_stock(
    body: SafetyStockIn, ctx: Ctx = Depends(writer("stock:write"))
) -> JSONResponse:
    """安全库存: units of a SKU at a location that no channel is promised."""
    return ctx.mutate(lambda uow: service.set_safety_stock(uow, body))


@router.post("/stock/allocations", status_code=201, response_model=AllocationOut)
def create_allocation(
    body: AllocationIn, ctx: Ctx = Depends(writer("stock:write"))
) -> JSONResponse:
    """库存分配: a rule on what a channel may sell from a location: `source`, `hold`
    (percentage kept for the channel) or `quota` (units of a SKU for it alone)."""
    return ctx.mutate(
        lambda uow: AllocationOut.model_validate(service.create_allocation(uow, body)),
        status_code=201,
    )


@router.get("/stock/allocations", response_model=list[AllocationOut])
def list_allocations(
    channel: Annotated[Channel | None, Query()] = None,
    active: Annotated[bool | None, Query()] = None,
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[AllocationOut]:
    with ctx.read() as uow:
        rows = service.list_allocations(uow, channel, active)
        return [AllocationOut.model_validate(r) for r in rows]


@router.get("/stock/allocations/{allocation_id}", response_model=AllocationOut)
def get_allocation(
    allocation_id: IdPath, ctx: Ctx = Depends(reader("stock:read"))
) -> AllocationOut:
    with ctx.read() as uow:
        return AllocationOut.model_validate(service.get_allocation(uow, allocation_id))


@router.post("/stock/allocations/{allocation_id}/end", response_model=AllocationOut)
def end_allocation(
    allocation_id: IdPath, ctx: Ctx = Depends(writer("stock:write"))
) -> JSONResponse:
    """Stop a rule; a quota's unsold units return to the shared pool."""
    return ctx.mutate(
        lambda uow: AllocationOut.model_validate(service.end_allocation(uow, allocation_id))
    )


@router.get("/stock/serials", response_model=list[SerialOut])
def list_serials(
    sku: Annotated[LongCode | None, Query()] = None,
    serial: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[SerialStatus | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[SerialOut]:
    """序列号: where each unit of a serialised SKU is and what last moved it."""
    with ctx.read() as uow:
        rows = service.list_serials(uow, sku, serial, status, limit)
        return [SerialOut.model_validate(r) for r in rows]


@router.post("/locations/{location_id}/bins", status_code=201, response_model=BinOut)
def add_bin(
    location_id: IdPath, body: BinIn, ctx: Ctx = Depends(writer("location:write"))
) -> JSONResponse:
    """库位: a bin inside a warehouse or back room."""
    return ctx.mutate(
        lambda uow: BinOut.model_validate(service.add_bin(uow, location_id, body)),
        status_code=201,
    )


@router.get("/locations/{location_id}/bins", response_model=list[BinOut])
def list_bins(location_id: IdPath, ctx: Ctx = Depends(reader("stock:read"))) -> list[BinOut]:
    with ctx.read() as uow:
        return [BinOut.model_validate(b) for b in service.list_bins(uow, location_id)]


@router.put("/stock/slots", response_model=AvailabilityOut)
def slot(body: SlotIn, ctx: Ctx = Depends(writer("stock:write"))) -> JSONResponse:
    """Put a SKU away in a bin of a location (where pickers find it)."""
    return ctx.mutate(lambda uow: service.slot(uow, body))


@router.get("/stock/movements", response_model=list[MovementOut])
def stock_movements(
    sku: Annotated[LongCode | None, Query()] = None,
    location: Annotated[LocationRef | None, Query()] = None,
    after: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[MovementOut]:
    """The stock ledger (库存流水), oldest first."""
    with ctx.read() as uow:
        rows = service.movements(uow, sku, location, after, limit)
        return [MovementOut.model_validate(m) for m in rows]


def _reservation(uow: UnitOfWork, r: object) -> ReservationOut:
    out = ReservationOut.model_validate(r)
    out.lines = [ReservationLineOut.model_validate(x) for x in service.lines_of(uow, out.id)]
    return out


@router.post("/stock/reservations", status_code=201, response_model=ReservationOut)
def reserve(body: ReserveIn, ctx: Ctx = Depends(writer("stock:reserve"))) -> JSONResponse:
    """库存锁定: hold stock at one or more locations for `ttl_seconds`; all lines or none
    (409 `out-of-stock` naming the line that cannot be met)."""
    return ctx.mutate(lambda uow: _reservation(uow, service.reserve(uow, body)), status_code=201)


def _batcher(request: Request) -> ReservationBatcher:
    """The process's hot-path batcher, started with the first hold."""
    state = request.app.state
    if getattr(state, "hold_batcher", None) is None:
        state.hold_batcher = ReservationBatcher(state.db)
        state.closers.append(state.hold_batcher.close)
    batcher: ReservationBatcher = state.hold_batcher
    return batcher


@router.post("/stock/holds", status_code=201, response_model=ReservationOut)
async def hold(
    body: HoldIn, request: Request, ctx: Ctx = Depends(writer("stock:reserve"))
) -> JSONResponse:
    """秒杀锁定: a one-line reservation on the hot path. Concurrent holds are combined into
    one transaction (group commit) with their audit entries and idempotency records; each
    caller still gets its own answer, the same as from `POST /stock/reservations`."""
    if replay := await to_thread.run_sync(ctx.replay):
        return replay

    def prepare() -> tuple[HoldRequest, ReservationOut]:
        with ctx.read() as uow:
            return service.hold_request(uow, body)

    try:
        req, answer = await to_thread.run_sync(prepare)
    except ProblemError as exc:
        await to_thread.run_sync(ctx.audit_refusal, exc.status)
        raise
    out = answer.model_dump(mode="json")
    change = {"entity": "reservation", "id": out["id"], "op": "insert", "before": {}, "after": out}
    req = replace(
        req, audit=ctx.audit_row(201, out, [change]), idempotency=ctx.idempotency_row(201, out)
    )
    try:
        await _batcher(request).reserve_async(req)
    except AlreadyAnswered:
        return await to_thread.run_sync(ctx.replay) or JSONResponse(out, status_code=201)
    except StockRuleError as exc:
        raise service.OutOfStock(str(exc), field="qty", sku=body.sku) from exc
    return JSONResponse(out, status_code=201)


@router.get("/stock/reservations", response_model=list[ReservationOut])
def list_reservations(
    owner: Annotated[str | None, Query(max_length=64)] = None,
    status: ReservationStatus | None = None,
    after: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ctx: Ctx = Depends(reader("stock:reserve")),
) -> list[ReservationOut]:
    """Your reservations (a cart's, by `owner`); stock managers see everyone's."""
    with ctx.read() as uow:
        rows = service.list_reservations(uow, owner, status, after, limit)
        return [_reservation(uow, r) for r in rows]


@router.get("/stock/reservations/{reservation_id}", response_model=ReservationOut)
def get_reservation(
    reservation_id: IdPath, ctx: Ctx = Depends(reader("stock:reserve"))
) -> ReservationOut:
    with ctx.read() as uow:
        return _reservation(uow, service.get_reservation(uow, reservation_id))


@router.post("/stock/reservations/{reservation_id}/confirm", response_model=ReservationOut)
def confirm_reservation(
    reservation_id: IdPath, ctx: Ctx = Depends(writer("stock:reserve"))
) -> JSONResponse:
    """Paid: the hold stops lapsing and stays until fulfilled or released."""
    return ctx.mutate(lambda uow: _reservation(uow, service.confirm(uow, reservation_id)))


@router.post("/stock/reservations/{reservation_id}/release", response_model=ReservationOut)
def release_reservation(
    reservation_id: IdPath, ctx: Ctx = Depends(writer("stock:reserve"))
) -> JSONResponse:
    return ctx.mutate(lambda uow: _reservation(uow, service.release(uow, reservation_id)))


def _transfer(uow: UnitOfWork, t: object) -> TransferOut:
    out = TransferOut.model_validate(t)
    out.lines = [TransferLineOut.model_validate(x) for x in service.transfer_lines(uow, out.id)]
    return out


@router.post("/stock/transfers", status_code=201, response_model=TransferOut)
def send_transfer(body: TransferIn, ctx: Ctx = Depends(writer("stock:write"))) -> JSONResponse:
    """调拨: ship stock to another location (first-expiry-first-out when no batch is
    named); it is in transit at the destination until received."""
    return ctx.mutate(lambda uow: _transfer(uow, service.send_transfer(uow, body)), status_code=201)


@router.get("/stock/transfers", response_model=list[TransferOut])
def list_transfers(
    status: Annotated[Literal["in_transit", "received"] | None, Query()] = None,
    after: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[TransferOut]:
    with ctx.read() as uow:
        return [_transfer(uow, t) for t in service.list_transfers(uow, status, after, limit)]


@router.get("/stock/transfers/{transfer_id}", response_model=TransferOut)
def get_transfer(transfer_id: IdPath, ctx: Ctx = Depends(reader("stock:read"))) -> TransferOut:
    with ctx.read() as uow:
        return _transfer(uow, service.get_transfer(uow, transfer_id))


@router.post("/stock/transfers/{transfer_id}/receive", response_model=TransferOut)
def receive_transfer(
    transfer_id: IdPath, ctx: Ctx = Depends(writer("stock:write"))
) -> JSONResponse:
    return ctx.mutate(lambda uow: _transfer(uow, service.receive_transfer(uow, transfer_id)))


def _count(uow: UnitOfWork, c: object) -> CountOut:
    out = CountOut.model_validate(c)
    out.lines = [CountLineOut.model_validate(x) for x in service.count_lines(uow, out.id)]
    return out


@router.post("/stock/counts", status_code=201, response_model=CountOut)
def open_count(body: CountIn, ctx: Ctx = Depends(writer("stock:write"))) -> JSONResponse:
    """盘点: open a stock count for a location (optionally one category)."""
    return ctx.mutate(lambda uow: _count(uow, service.open_count(uow, body)), status_code=201)


@router.get("/stock/counts", response_model=list[CountOut])
def list_counts(
    status: Annotated[Literal["open", "posted"] | None, Query()] = None,
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[CountOut]:
    with ctx.read() as uow:
        return [_count(uow, c) for c in service.list_counts(uow, status)]


@router.get("/stock/counts/{count_id}", response_model=CountOut)
def get_count(count_id: IdPath, ctx: Ctx = Depends(reader("stock:read"))) -> CountOut:
    with ctx.read() as uow:
        return _count(uow, service.get_count(uow, count_id))


@router.post("/stock/counts/{count_id}/lines", response_model=CountOut)
def record_counts(
    count_id: IdPath, body: CountLinesIn, ctx: Ctx = Depends(writer("stock:write"))
) -> JSONResponse:
    """Record counted quantities by SKU code or scanned barcode (handheld PDA flow)."""
    return ctx.mutate(lambda uow: _count(uow, service.record_counts(uow, count_id, body)))


@router.post("/stock/counts/{count_id}/post", response_model=CountOut)
def post_count(count_id: IdPath, ctx: Ctx = Depends(writer("stock:write"))) -> JSONResponse:
    """Post the variances as count_variance ledger rows; a count posts once."""
    return ctx.mutate(lambda uow: _count(uow, service.post_count(uow, count_id)))


@router.get("/stock/expiring", response_model=list[ExpiringOut])
def expiring(
    within_days: Annotated[int, Query(ge=0, le=3650)] = 30,
    ctx: Ctx = Depends(reader("stock:read")),
) -> list[ExpiringOut]:
    """临期预警: batches on hand expiring within `within_days` days, soonest first."""
    with ctx.read() as uow:
        return service.expiring(uow, within_days)
