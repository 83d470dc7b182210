"""HTTP routes of the order centre."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from zhongtai.orders import carts, returns, service, slots
from zhongtai.orders.model import FulfilmentStatus, ReturnStatus
from zhongtai.orders.schemas import (
    AdvanceIn,
    AllocationOut,
    BackorderOut,
    CancelIn,
    CartLineIn,
    CartMergeIn,
    CartOut,
    CheckoutIn,
    ExchangeIn,
    FulfilmentLineOut,
    FulfilmentOut,
    InvoiceIn,
    InvoiceOut,
    OrderIn,
    OrderLineOut,
    OrderOut,
    OrderQuery,
    PaymentIn,
    PaymentOut,
    QuoteIn,
    QuoteOut,
    ReceiveReturnIn,
    ReturnIn,
    ReturnLineOut,
    ReturnOut,
    ShortIn,
    SlotCapacityIn,
    SlotCapacityOut,
    SlotOut,
    TaxRateIn,
    TaxRateOut,
    TimelineEntryOut,
    UsedPromotionOut,
)
from zhongtai.orders.store import FulfilmentOrder, ReturnRequest, SalesOrder
from zhongtai.org.schemas import Id
from zhongtai.payments import service as payments
from zhongtai.platform.errors import NotFound
from zhongtai.platform.http import Ctx, asker, reader, writer
from zhongtai.platform.uow import UnitOfWork

router = APIRouter(prefix="/v1", tags=["orders"])
IdPath = Annotated[Id, Path()]
Owner = Annotated[
    str,
    Path(
        min_length=1,
        max_length=64,
        pattern=r"^[\w.:@+-]+$",
        description="The member id, or `guest:<device>` before sign-in",
    ),
]
SkuPath = Annotated[str, Path(min_length=1, max_length=64)]


def _out(uow: UnitOfWork, order: SalesOrder) -> OrderOut:
    return _outs(uow, [order])[0]


def _outs(uow: UnitOfWork, orders: list[SalesOrder]) -> list[OrderOut]:
    found = service.details(uow, [o.id for o in orders])
    out = []
    for order in orders:
        d = found[order.id]
        view = OrderOut.model_validate(order)
        view.lines = [OrderLineOut.model_validate(x) for x in d.lines]
        view.allocations = [
            AllocationOut(sku=sku, location=loc, qty=a.qty, reason=a.reason)
            for a, sku, loc in d.allocations
        ]
        view.backorders = [BackorderOut(sku=sku, qty=n) for sku, n in d.owed]
        view.promotions = [
            UsedPromotionOut(
                promotion=u.promotion, amount=u.amount, coupon=u.coupon, released=u.released
            )
            for u in d.promotions
        ]
        out.append(view)
    return out


@router.post("/orders", status_code=201, response_model=OrderOut)
def place_order(body: OrderIn, ctx: Ctx = Depends(writer("order:write"))) -> JSONResponse:
    """下单 from any channel: priced, sourced to the cheapest locations (`allocations`
    say which and why), stock held until paid (`hold_minutes`). 409 `out-of-stock`
    names the SKUs short; 409 `no-fulfilment-location` when no location serves the
    address."""
    return ctx.mutate(lambda uow: _out(uow, service.place(uow, body)), status_code=201)


@router.post("/price-quotes", response_model=QuoteOut)
def price_quote(
    body: QuoteIn,
    ctx: Ctx = Depends(asker("order:read")),
) -> QuoteOut:
    """算价: the cart priced as checkout would price it now, with the promotions, tier
    benefits and coupons applied (each discount per line), the gifts earned, and why each
    other promotion did not apply ("add 23.00 more to get 50.00 off"). Takes nothing."""
    with ctx.read() as uow:
        base, deal = service.quote(uow, body)
        return service.quote_view(base, deal)


@router.get("/orders", response_model=list[OrderOut])
def search_orders(
    q: Annotated[OrderQuery, Query()], ctx: Ctx = Depends(reader("order:read"))
) -> list[OrderOut]:
    """Orders by number, member, channel, status, store and when placed; cursor paging."""
    with ctx.read() as uow:
        return _outs(uow, service.search(uow, q))


@router.get("/orders/{order_id}/timeline", response_model=list[TimelineEntryOut])
def order_timeline(
    order_id: IdPath, ctx: Ctx = Depends(reader("order:read"))
) -> list[TimelineEntryOut]:
    """订单轨迹: the order's events, its payments', parcels' and returns' too, in order."""
    with ctx.read() as uow:
        return [TimelineEntryOut.model_validate(e) for e in service.timeline(uow, order_id)]


@router.get("/orders/{order_id}", response_model=OrderOut)
def get_order(order_id: IdPath, ctx: Ctx = Depends(reader("order:read"))) -> OrderOut:
    with ctx.read() as uow:
        return _out(uow, service.get(uow, order_id))


@router.post("/orders/{order_id}/cancel", response_model=OrderOut)
def cancel_order(
    order_id: IdPath, body: CancelIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """Cancel before fulfilment: held stock is free at once, captured money is refunded to
    each tender, authorisations are voided."""
    return ctx.mutate(lambda uow: _out(uow, service.cancel(uow, order_id, body.reason)))


@router.post("/orders/{order_id}/payments", status_code=201, response_model=PaymentOut)
def pay_order(
    order_id: IdPath, body: PaymentIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """支付: one tender (cash with change, or card); split tender is several calls. Once
    the captured total covers the order it is `paid`. 402 `payment-declined`."""
    return ctx.mutate(
        lambda uow: PaymentOut.model_validate(service.pay(uow, order_id, body)), status_code=201
    )


@router.get("/orders/{order_id}/payments", response_model=list[PaymentOut])
def order_payments(order_id: IdPath, ctx: Ctx = Depends(reader("order:read"))) -> list[PaymentOut]:
    with ctx.read() as uow:
        service.get(uow, order_id)
        return [PaymentOut.model_validate(p) for p in payments.of_order(uow, order_id)]


@router.post("/orders/{order_id}/payments/{payment_id}/capture", response_model=PaymentOut)
def capture_payment(
    order_id: IdPath, payment_id: IdPath, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: PaymentOut.model_validate(service.capture(uow, order_id, payment_id))
    )


@router.post("/orders/{order_id}/payments/{payment_id}/void", response_model=PaymentOut)
def void_payment(
    order_id: IdPath, payment_id: IdPath, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: PaymentOut.model_validate(service.void(uow, order_id, payment_id))
    )


def _fulfilment(uow: UnitOfWork, f: FulfilmentOrder) -> FulfilmentOut:
    out = FulfilmentOut.model_validate(f)
    out.lines = [FulfilmentLineOut.model_validate(x) for x in service.fulfilment_lines(uow, f.id)]
    return out


@router.get("/orders/{order_id}/fulfilments", response_model=list[FulfilmentOut])
def order_fulfilments(
    order_id: IdPath, ctx: Ctx = Depends(reader("order:read"))
) -> list[FulfilmentOut]:
    """履约单: one per location the paid order takes stock from."""
    with ctx.read() as uow:
        service.get(uow, order_id)
        return [_fulfilment(uow, f) for f in service.fulfilments_of(uow, order_id)]


@router.get("/fulfilments", response_model=list[FulfilmentOut])
def fulfilment_queue(
    status: FulfilmentStatus | None = None,
    after: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ctx: Ctx = Depends(reader("order:read")),
) -> list[FulfilmentOut]:
    """The pick list of the caller's locations (a store sees its own), oldest first."""
    with ctx.read() as uow:
        return [_fulfilment(uow, f) for f in service.fulfilment_queue(uow, status, after, limit)]


@router.get("/fulfilments/{fulfilment_id}", response_model=FulfilmentOut)
def get_fulfilment(
    fulfilment_id: IdPath, ctx: Ctx = Depends(reader("order:read"))
) -> FulfilmentOut:
    with ctx.read() as uow:
        return _fulfilment(uow, service.get_fulfilment(uow, fulfilment_id))


@router.post("/fulfilments/{fulfilment_id}/advance", response_model=FulfilmentOut)
def advance_fulfilment(
    fulfilment_id: IdPath, body: AdvanceIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """One step: picked, packed, then shipped and delivered, or ready and collected (with
    the pickup code). Stock leaves when shipped or collected."""
    return ctx.mutate(
        lambda uow: _fulfilment(uow, service.advance(uow, fulfilment_id, body.to, body.pickup_code))
    )


@router.post("/fulfilments/{fulfilment_id}/short", response_model=FulfilmentOut)
def report_short(
    fulfilment_id: IdPath, body: ShortIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """拣货缺货: units not found when picking. They are owed as a back-order and sourced
    from elsewhere at once where stock allows (new fulfilment orders)."""
    return ctx.mutate(lambda uow: _fulfilment(uow, service.report_short(uow, fulfilment_id, body)))


@router.post("/orders/{order_id}/backorders/source", response_model=OrderOut)
def source_backorders(order_id: IdPath, ctx: Ctx = Depends(writer("order:write"))) -> JSONResponse:
    """Try now to source what the paid order still owes (the relay also retries)."""
    return ctx.mutate(lambda uow: _out(uow, service.source_backorders(uow, order_id)))


@router.post("/orders/{order_id}/backorders/cancel", response_model=OrderOut)
def cancel_backorders(order_id: IdPath, ctx: Ctx = Depends(writer("order:write"))) -> JSONResponse:
    """The shopper will not wait: what is still owed is cancelled and its net refunded."""
    return ctx.mutate(lambda uow: _out(uow, returns.cancel_backorders(uow, order_id)))


def _return(uow: UnitOfWork, r: ReturnRequest) -> ReturnOut:
    out = ReturnOut.model_validate(r)
    out.lines = [ReturnLineOut.model_validate(x) for x in returns.lines(uow, r.id)]
    return out


@router.post("/orders/{order_id}/returns", status_code=201, response_model=ReturnOut)
def request_return(
    order_id: IdPath, body: ReturnIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """退货申请: some or all units that reached the shopper, by order line; the refund is
    the net paid for those units."""
    return ctx.mutate(
        lambda uow: _return(uow, returns.request(uow, order_id, body)), status_code=201
    )


@router.get("/orders/{order_id}/returns", response_model=list[ReturnOut])
def order_returns(order_id: IdPath, ctx: Ctx = Depends(reader("order:read"))) -> list[ReturnOut]:
    with ctx.read() as uow:
        service.get(uow, order_id)
        return [_return(uow, r) for r in returns.of_order(uow, order_id)]


@router.get("/returns", response_model=list[ReturnOut])
def search_returns(
    status: ReturnStatus | None = None,
    after: Annotated[Id | None, Query()] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ctx: Ctx = Depends(reader("order:read")),
) -> list[ReturnOut]:
    with ctx.read() as uow:
        return [_return(uow, r) for r in returns.search(uow, status, after, limit)]


@router.get("/returns/{return_id}", response_model=ReturnOut)
def get_return(return_id: IdPath, ctx: Ctx = Depends(reader("order:read"))) -> ReturnOut:
    with ctx.read() as uow:
        return _return(uow, returns.get(uow, return_id))


@router.post("/returns/{return_id}/approve", response_model=ReturnOut)
def approve_return(return_id: IdPath, ctx: Ctx = Depends(writer("order:write"))) -> JSONResponse:
    return ctx.mutate(lambda uow: _return(uow, returns.approve(uow, return_id)))


@router.post("/returns/{return_id}/reject", response_model=ReturnOut)
def reject_return(return_id: IdPath, ctx: Ctx = Depends(writer("order:write"))) -> JSONResponse:
    return ctx.mutate(lambda uow: _return(uow, returns.reject(uow, return_id)))


@router.post("/returns/{return_id}/receive", response_model=ReturnOut)
def receive_return(
    return_id: IdPath, body: ReceiveReturnIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """The goods arrive at any store or warehouse: `restock` or `damaged` (written off)."""
    return ctx.mutate(lambda uow: _return(uow, returns.receive(uow, return_id, body)))


@router.post("/returns/{return_id}/refund", response_model=ReturnOut)
def refund_return(return_id: IdPath, ctx: Ctx = Depends(writer("order:write"))) -> JSONResponse:
    """Pay the refund back to the tenders it came from; once."""
    return ctx.mutate(lambda uow: _return(uow, returns.refund(uow, return_id)))


@router.post("/returns/{return_id}/exchange", status_code=201, response_model=OrderOut)
def exchange_return(
    return_id: IdPath, body: ExchangeIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """换货 for received goods: a new order linked to the return, paid first with its
    refund; any difference is paid as usual or refunded to the original tenders."""
    return ctx.mutate(
        lambda uow: _out(uow, returns.exchange(uow, return_id, body)), status_code=201
    )


@router.put("/tax-rates", response_model=TaxRateOut)
def set_tax_rate(body: TaxRateIn, ctx: Ctx = Depends(writer("price:write"))) -> JSONResponse:
    """增值税率 of a category (basis points), inherited by its sub-categories; without
    one, goods carry the standard 13%."""
    return ctx.mutate(lambda uow: TaxRateOut.model_validate(service.set_tax_rate(uow, body)))


@router.get("/tax-rates", response_model=list[TaxRateOut])
def list_tax_rates(ctx: Ctx = Depends(reader("price:read"))) -> list[TaxRateOut]:
    with ctx.read() as uow:
        return [TaxRateOut.model_validate(r) for r in service.list_tax_rates(uow)]


@router.post("/orders/{order_id}/invoice", status_code=201, response_model=InvoiceOut)
def request_invoice(
    order_id: IdPath, body: InvoiceIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """开票申请 for a paid order, once: its amount and the VAT in it."""
    return ctx.mutate(
        lambda uow: InvoiceOut.model_validate(service.request_invoice(uow, order_id, body)),
        status_code=201,
    )


@router.get("/orders/{order_id}/invoice", response_model=InvoiceOut)
def get_invoice(order_id: IdPath, ctx: Ctx = Depends(reader("order:read"))) -> InvoiceOut:
    with ctx.read() as uow:
        service.get(uow, order_id)
        found = service.invoice_of(uow, order_id)
        if found is None:
            raise NotFound(f"no invoice requested for order {order_id}")
        return InvoiceOut.model_validate(found)


# --- carts (购物车) ----------------------------------------------------------------------


@router.get("/carts/{member}", response_model=CartOut)
def get_cart(
    member: Owner,
    channel: Annotated[str, Query(min_length=1, max_length=40)] = "mall",
    store: Annotated[str | None, Query(max_length=64)] = None,
    ctx: Ctx = Depends(reader("order:read")),
) -> CartOut:
    """The member's cart, the same on every device, priced for the channel (and store)."""
    with ctx.read() as uow:
        return carts.view(uow, member, channel, store)


@router.put("/carts/{member}/lines/{sku}", response_model=CartOut)
def set_cart_line(
    member: Owner, sku: SkuPath, body: CartLineIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """Put `qty` of a SKU in the cart (0 takes it out); the cart is made on first use."""

    def work(uow: UnitOfWork) -> CartOut:
        carts.set_line(uow, member, sku, body.qty)
        return carts.view(uow, member, "mall", None)

    return ctx.mutate(work)


@router.post("/carts/{member}/merge", response_model=CartOut)
def merge_cart(
    member: Owner, body: CartMergeIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """On sign-in: the guest cart `source` joins this member's cart."""

    def work(uow: UnitOfWork) -> CartOut:
        carts.merge(uow, member, body.source)
        return carts.view(uow, member, "mall", None)

    return ctx.mutate(work)


@router.post("/carts/{member}/checkout", status_code=201, response_model=OrderOut)
def checkout_cart(
    member: Owner, body: CheckoutIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """结算: the cart becomes an order (as `POST /v1/orders`) and is emptied, together."""
    return ctx.mutate(lambda uow: _out(uow, carts.checkout(uow, member, body)), status_code=201)


# --- delivery slots (配送时段) -----------------------------------------------------------


@router.get("/delivery-slots", response_model=list[SlotOut])
def delivery_slots(
    lat: Annotated[float, Query(ge=-90, le=90)],
    lng: Annotated[float, Query(ge=-180, le=180)],
    day: Annotated[date | None, Query(description="Local date; default today")] = None,
    ctx: Ctx = Depends(reader("order:read")),
) -> list[SlotOut]:
    """Same-hour delivery slots for the point that still have room; pass a slot's `start`
    as `fulfilment.slot` of an o2o order."""
    with ctx.read() as uow:
        return slots.offered(uow, lat, lng, day)


@router.put("/delivery-slots/capacity", response_model=SlotCapacityOut)
def set_slot_capacity(
    body: SlotCapacityIn, ctx: Ctx = Depends(writer("order:write"))
) -> JSONResponse:
    """Orders a location can deliver per slot (default 20)."""
    return ctx.mutate(lambda uow: SlotCapacityOut.model_validate(slots.set_capacity(uow, body)))
