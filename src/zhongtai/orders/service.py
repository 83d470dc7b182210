"""Use cases of the order centre; the checkout workflow reads top to bottom in `place`."""

from __future__ import annotations

import secrets
from collections import Counter

from sqlalchemy import func, or_, select

from zhongtai.catalog import service as catalog
from zhongtai.catalog.store import Category, Product, Sku
from zhongtai.inventory import model as stock_model
from zhongtai.inventory import service as inventory
from zhongtai.inventory.schemas import LocationOut
from zhongtai.inventory.store import Reservation
from zhongtai.orders import model, sourcing
from zhongtai.orders.schemas import (
    FulfilmentIn,
    InvoiceIn,
    OrderIn,
    OrderQuery,
    PaymentIn,
    TaxRateIn,
)
from zhongtai.orders.store import (
    FulfilmentLine,
    FulfilmentOrder,
    InvoiceRequest,
    OrderAllocation,
    SalesOrder,
    SalesOrderLine,
    TaxRate,
)
from zhongtai.org import service as org
from zhongtai.org.store import OrgUnit
from zhongtai.payments import service as payments
from zhongtai.payments.model import PaymentStatus
from zhongtai.payments.store import Payment
from zhongtai.platform.db import Database
from zhongtai.platform.errors import Conflict, NotFound, ValidationFailed
from zhongtai.platform.ids import utcnow
from zhongtai.platform.outbox import OutboxEvent
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import service as pricing
from zhongtai.pricing.model import PriceQuery

DEFAULT_TAX_RATE_BP = 1300  # 13%: the standard VAT rate on goods


class NoFulfilmentLocation(Conflict):
    type, title = "no-fulfilment-location", "No location can fulfil this order"


def place(uow: UnitOfWork, cmd: OrderIn) -> SalesOrder:
    """下单. One transaction, so a failure at any step leaves nothing behind: no order,
    no hold, no number taken.

    1. the channel, the store (when the fulfilment type names one) and the point;
    2. each line's SKU, sellable on the channel (and in the store);
    3. price each line (price service; promotions and member benefits plug in here);
    4. choose where the stock comes from (smart sourcing over the allowed locations);
    5. hold it for `hold_minutes` (库存锁定), the order's number as the owner;
    6. the order with its lines, money, VAT and the reason for each location.
    """
    org.require_entry(uow, "channel", cmd.channel, "channel")
    kind = cmd.fulfilment.type
    store = _store(uow, cmd.fulfilment)
    skus = [_sellable(uow, cmd, i, store) for i in range(len(cmd.lines))]
    lines = _priced(uow, cmd, skus, store)
    wanted = Counter[str]()
    for sku, asked in zip(skus, cmd.lines, strict=True):
        wanted[sku.id] += asked.qty
    codes = {s.id: s.code for s in skus}
    plan = _source(uow, cmd, store, dict(wanted), codes)
    number = org.next_code(uow, "order")
    held = inventory.hold(
        uow,
        number,
        cmd.channel,
        cmd.hold_minutes * 60,
        [
            inventory.Wanted(sku_id, loc, n, codes[sku_id], "lines")
            for loc, units in plan.shipments.items()
            for sku_id, n in units.items()
        ],
    )
    order = SalesOrder(
        number=number,
        channel=cmd.channel,
        member=cmd.member,
        status=model.OrderStatus.pending_payment.value,
        fulfilment_type=kind.value,
        store_id=store.id if store else None,
        lat=cmd.fulfilment.lat,
        lng=cmd.fulfilment.lng,
        subtotal=sum(x.gross for x in lines),
        discount=sum(x.discount for x in lines),
        tax=sum(x.tax for x in lines),
        total=sum(x.net for x in lines),
        paid=0,
        reservation_id=held.id,
        pickup_code=f"{secrets.randbelow(10**6):06d}"
        if kind is model.FulfilmentType.pickup
        else None,
        sourcing=plan.method,
        actor_id=uow.actor_id,
    )
    uow.session.add(order)
    uow.session.flush()
    for line in lines:
        line.order_id = order.id
    uow.session.add_all(lines)
    uow.session.add_all(
        OrderAllocation(
            order_id=order.id, sku_id=sku_id, location_id=loc, qty=n, reason=plan.reasons[loc]
        )
        for loc, units in plan.shipments.items()
        for sku_id, n in units.items()
    )
    uow.session.flush()
    uow.emit(
        "order.created",
        {
            "id": order.id,
            "number": number,
            "channel": cmd.channel,
            "member": cmd.member,
            "fulfilment_type": kind.value,
            "total": order.total,
            "lines": [{"sku_id": x.sku_id, "qty": x.qty, "net": x.net} for x in lines],
            "locations": sorted(plan.shipments),
        },
        subject=order.id,
    )
    return order


def _store(uow: UnitOfWork, f: FulfilmentIn) -> LocationOut | None:
    if f.type is model.FulfilmentType.o2o and (f.lat is None or f.lng is None):
        raise ValidationFailed("fulfilment.lat", "same-hour delivery needs lat and lng")
    if not model.needs_store(f.type):
        return None
    if f.location is None:
        raise ValidationFailed("fulfilment.location", f"{f.type.value} needs the store")
    _unit, loc = inventory.resolve_location(uow, f.location, "fulfilment.location")
    return inventory.get_location(uow, loc.id)


def _sellable(uow: UnitOfWork, cmd: OrderIn, i: int, store: LocationOut | None) -> Sku:
    sku = catalog.sku_by_code(uow, cmd.lines[i].sku, f"lines[{i}].sku")
    if not catalog.is_sellable(uow, sku, cmd.channel, store.id if store else None, utcnow()):
        raise ValidationFailed(f"lines[{i}].sku", f"{sku.code} is not sold on {cmd.channel}")
    return sku


def _priced(
    uow: UnitOfWork, cmd: OrderIn, skus: list[Sku], store: LocationOut | None
) -> list[SalesOrderLine]:
    """The price step: today the price service's price for the channel and store;
    promotions will set `discount` per line here, and the lines keep it."""
    query = PriceQuery(at=utcnow(), channel=cmd.channel, store_id=store.id if store else None)
    rates = tax_rates(uow, [s.id for s in skus])
    out = []
    for i, (sku, line) in enumerate(zip(skus, cmd.lines, strict=True)):
        price = pricing.resolve(uow, sku.id, query)
        if price is None:
            raise ValidationFailed(f"lines[{i}].sku", f"{sku.code} has no price")
        gross = price.amount * line.qty
        out.append(
            SalesOrderLine(
                line_no=i + 1,
                sku_id=sku.id,
                sku_code=sku.code,
                name=sku.name,
                qty=line.qty,
                unit_price=price.amount,
                gross=gross,
                discount=0,
                net=gross,
                tax_rate_bp=rates[sku.id],
                tax=model.tax_included(gross, rates[sku.id]),
            )
        )
    return out


# --- VAT (增值税) and invoices (发票) -----------------------------------------------------


def tax_rates(uow: UnitOfWork, sku_ids: list[str]) -> dict[str, int]:
    """Each SKU's VAT rate: its category's, inherited from the nearest ancestor that has
    one, else the standard rate."""
    rates = {r.category_id: r.rate_bp for r in uow.session.scalars(select(TaxRate))}
    paths = uow.session.execute(
        select(Sku.id, Category.path)
        .join(Product, Product.id == Sku.product_id)
        .join(Category, Category.id == Product.category_id)
        .where(Sku.id.in_(sku_ids))
    )
    return {sku: model.rate_for(path, rates, DEFAULT_TAX_RATE_BP) for sku, path in paths}


def set_tax_rate(uow: UnitOfWork, cmd: TaxRateIn) -> TaxRate:
    category = uow.session.scalars(select(Category).where(Category.code == cmd.category)).first()
    if category is None:
        raise ValidationFailed("category", f"unknown category {cmd.category}")
    rate = uow.session.scalars(select(TaxRate).where(TaxRate.category_id == category.id)).first()
    if rate is None:
        rate = TaxRate(category_id=category.id, rate_bp=cmd.rate_bp)
        uow.session.add(rate)
    rate.rate_bp = cmd.rate_bp
    uow.session.flush()
    return rate


def list_tax_rates(uow: UnitOfWork) -> list[TaxRate]:
    return list(uow.session.scalars(select(TaxRate).order_by(TaxRate.id)).all())


def request_invoice(uow: UnitOfWork, order_id: str, cmd: InvoiceIn) -> InvoiceRequest:
    """开票申请 for a paid order, once: the amount and the VAT it contains."""
    order = locked(uow, order_id)
    if order.status not in (model.OrderStatus.paid, model.OrderStatus.completed):
        raise Conflict(f"order is {order.status}", field="status")
    if invoice_of(uow, order.id) is not None:
        raise Conflict("an invoice was already requested for this order", field="order")
    invoice = InvoiceRequest(
        order_id=order.id,
        title=cmd.title,
        tax_number=cmd.tax_number,
        email=cmd.email,
        amount=order.total,
        tax=order.tax,
        status="requested",
    )
    uow.session.add(invoice)
    uow.session.flush()
    uow.emit(
        "invoice.requested",
        {"id": invoice.id, "order_id": order.id, "amount": order.total},
        subject=order.id,
    )
    return invoice


def invoice_of(uow: UnitOfWork, order_id: str) -> InvoiceRequest | None:
    query = select(InvoiceRequest).where(InvoiceRequest.order_id == order_id)
    return uow.session.scalars(query).first()


def _source(
    uow: UnitOfWork,
    cmd: OrderIn,
    store: LocationOut | None,
    wanted: dict[str, int],
    codes: dict[str, str],
) -> sourcing.Plan:
    """智能路由 over the locations this fulfilment type may use."""
    f = cmd.fulfilment
    rule = model.SOURCES[f.type]
    if rule == "named" and store is not None:
        allowed = [store]
    elif rule == "point" and f.lat is not None and f.lng is not None:
        allowed = [x for x in inventory.serving(uow, f.lat, f.lng) if x.type != "warehouse"]
    else:
        allowed = [x for x in inventory.list_locations(uow) if rule == "any" or x.type in rule]
    if not allowed:
        raise NoFulfilmentLocation("no location serves this address", field="fulfilment")
    stock = inventory.promisable(uow, list(wanted), cmd.channel)
    queued = _queued(uow)
    candidates = [
        sourcing.Candidate(
            location_id=x.id,
            code=x.code,
            distance_m=_distance(f, x),
            stock=stock.get(x.id, {}),
            queued=queued.get(x.id, 0),
        )
        for x in allowed
    ]
    try:
        return sourcing.source(wanted, candidates)
    except sourcing.Unsourceable as exc:
        short = sorted(codes[s] for s in exc.short)
        raise inventory.OutOfStock(
            f"not enough stock for {', '.join(short)}", field="lines", skus=short
        ) from exc


def _distance(f: FulfilmentIn, loc: LocationOut) -> float:
    if f.lat is None or f.lng is None or loc.lat is None or loc.lng is None:
        return 0.0
    return stock_model.distance_m(f.lat, f.lng, loc.lat, loc.lng)


def _queued(uow: UnitOfWork) -> dict[str, int]:
    """Fulfilment orders not yet handed over at each location: its workload."""
    waiting = [s.value for s in model.FulfilmentStatus if s not in (*model.LEFT, "cancelled")]
    rows = uow.session.execute(
        select(FulfilmentOrder.location_id, func.count())
        .where(FulfilmentOrder.status.in_(waiting))
        .group_by(FulfilmentOrder.location_id)
    )
    return {loc: int(n) for loc, n in rows}


# --- queries ---------------------------------------------------------------------------


def get(uow: UnitOfWork, order_id: str) -> SalesOrder:
    return uow.get(SalesOrder, order_id, "order")


def lines_of(uow: UnitOfWork, order_id: str) -> list[SalesOrderLine]:
    query = select(SalesOrderLine).where(SalesOrderLine.order_id == order_id)
    return list(uow.session.scalars(query.order_by(SalesOrderLine.line_no)).all())


def allocations_of(uow: UnitOfWork, order_id: str) -> list[tuple[OrderAllocation, str, str]]:
    """(allocation, SKU code, location code)."""
    query = (
        select(OrderAllocation, Sku.code, OrgUnit.code)
        .join(Sku, Sku.id == OrderAllocation.sku_id)
        .join(OrgUnit, OrgUnit.id == OrderAllocation.location_id)
        .where(OrderAllocation.order_id == order_id)
        .order_by(OrgUnit.code, Sku.code)
    )
    return [(a, s, loc) for a, s, loc in uow.session.execute(query)]


def search(uow: UnitOfWork, q: OrderQuery) -> list[SalesOrder]:
    """Orders oldest id first, after the cursor `q.after` (an order id)."""
    query = select(SalesOrder).order_by(SalesOrder.id).limit(q.limit)
    for column, value in (
        (SalesOrder.number, q.number),
        (SalesOrder.member, q.member),
        (SalesOrder.channel, q.channel),
        (SalesOrder.status, q.status),
    ):
        if value:
            query = query.where(column == value)
    if q.store:
        _unit, loc = inventory.resolve_location(uow, q.store, "store")
        from_there = select(OrderAllocation.id).where(
            OrderAllocation.order_id == SalesOrder.id, OrderAllocation.location_id == loc.id
        )
        query = query.where(or_(SalesOrder.store_id == loc.id, from_there.exists()))
    if q.placed_from:
        query = query.where(SalesOrder.created_at >= q.placed_from)
    if q.placed_to:
        query = query.where(SalesOrder.created_at < q.placed_to)
    if q.after:
        query = query.where(SalesOrder.id > q.after)
    return list(uow.session.scalars(query).all())


def timeline(uow: UnitOfWork, order_id: str) -> list[OutboxEvent]:
    """订单轨迹: every event of the order, its payments, parcels, returns and invoice,
    in the order they happened."""
    order = get(uow, order_id)
    query = select(OutboxEvent).where(OutboxEvent.subject == order.id).order_by(OutboxEvent.id)
    return list(uow.session.scalars(query).all())


# --- payment (支付) ----------------------------------------------------------------------


def locked(uow: UnitOfWork, order_id: str) -> SalesOrder:
    """The order, locked: payments and cancellations of one order take turns."""
    order = get(uow, order_id)
    uow.session.refresh(order, with_for_update=True)
    return order


def pay(uow: UnitOfWork, order_id: str, cmd: PaymentIn) -> Payment:
    """A tender towards the order; once the captured amount covers the total the order
    is paid and its stock hold is confirmed (no longer lapses)."""
    order = locked(uow, order_id)
    if order.status != model.OrderStatus.pending_payment:
        raise Conflict(f"order is {order.status}", field="status")
    due = order.total - _committed(uow, order.id)
    amount = cmd.amount or due
    if amount > due:
        raise ValidationFailed("amount", f"only {due} is still due")
    details = {"tendered": cmd.tendered, "card_number": cmd.card_number}
    payment = payments.take(uow, order.id, cmd.provider, amount, details, capture=cmd.capture)
    _settle(uow, order)
    return payment


def _committed(uow: UnitOfWork, order_id: str) -> int:
    """Authorised or captured, not voided: what no new tender may cover again."""
    return sum(
        p.amount
        for p in payments.of_order(uow, order_id)
        if p.status in (PaymentStatus.authorised, PaymentStatus.captured)
    )


def _settle(uow: UnitOfWork, order: SalesOrder) -> None:
    order.paid = sum(p.captured - p.refunded for p in payments.of_order(uow, order.id))
    if order.status == model.OrderStatus.pending_payment and order.paid >= order.total:
        order.status = model.OrderStatus.paid.value
        if order.reservation_id:
            inventory.confirm(uow, order.reservation_id)
        uow.emit(
            "order.paid",
            {"id": order.id, "number": order.number, "paid": order.paid},
            subject=order.id,
        )
        _split(uow, order)


# --- fulfilment (履约) -------------------------------------------------------------------


def _split(uow: UnitOfWork, order: SalesOrder) -> None:
    """A paid order becomes one fulfilment order per location it takes stock from; a
    till sale is handed over at once."""
    kind = model.FulfilmentType(order.fulfilment_type)
    by_location: dict[str, list[OrderAllocation]] = {}
    for a, _sku, _loc in allocations_of(uow, order.id):
        by_location.setdefault(a.location_id, []).append(a)
    for location_id, allocations in sorted(by_location.items()):
        f = FulfilmentOrder(
            order_id=order.id,
            location_id=location_id,
            kind=kind.value,
            status=model.FulfilmentStatus.created.value,
        )
        uow.session.add(f)
        uow.session.flush()
        uow.session.add_all(
            FulfilmentLine(fulfilment_id=f.id, sku_id=a.sku_id, qty=a.qty) for a in allocations
        )
        uow.emit(
            "fulfilment.created",
            {"id": f.id, "order_id": order.id, "location_id": location_id},
            subject=order.id,
        )
        if kind is model.FulfilmentType.in_store:
            _step(uow, order, f, model.FulfilmentStatus.collected)


def fulfilments_of(uow: UnitOfWork, order_id: str) -> list[FulfilmentOrder]:
    query = select(FulfilmentOrder).where(FulfilmentOrder.order_id == order_id)
    return list(uow.session.scalars(query.order_by(FulfilmentOrder.id)).all())


def fulfilment_lines(uow: UnitOfWork, fulfilment_id: str) -> list[FulfilmentLine]:
    query = select(FulfilmentLine).where(FulfilmentLine.fulfilment_id == fulfilment_id)
    return list(uow.session.scalars(query.order_by(FulfilmentLine.id)).all())


def get_fulfilment(uow: UnitOfWork, fulfilment_id: str) -> FulfilmentOrder:
    return uow.get(FulfilmentOrder, fulfilment_id, "fulfilment order")


def fulfilment_queue(
    uow: UnitOfWork, status: str | None, after: str | None, limit: int
) -> list[FulfilmentOrder]:
    """What the caller's locations have to pick, pack and hand over, oldest first."""
    query = select(FulfilmentOrder).order_by(FulfilmentOrder.id).limit(limit)
    if status:
        query = query.where(FulfilmentOrder.status == status)
    if after:
        query = query.where(FulfilmentOrder.id > after)
    return list(uow.session.scalars(query).all())


def advance(
    uow: UnitOfWork, fulfilment_id: str, to: model.FulfilmentStatus, pickup_code: str | None
) -> FulfilmentOrder:
    """One step of pick -> pack -> ship / ready -> delivered / collected. The goods
    leave stock when shipped or collected; a pickup is handed over only against the
    order's pickup code."""
    f = get_fulfilment(uow, fulfilment_id)
    order = locked(uow, f.order_id)
    uow.session.refresh(f)
    kind = model.FulfilmentType(f.kind)
    try:
        model.next_step(kind, model.FulfilmentStatus(f.status), to)
    except ValueError as exc:
        raise Conflict(str(exc), field="to") from exc
    handover = kind is model.FulfilmentType.pickup and to is model.FulfilmentStatus.collected
    if handover and pickup_code != order.pickup_code:
        raise ValidationFailed("pickup_code", "wrong pickup code")
    _step(uow, order, f, to)
    return f


def _step(
    uow: UnitOfWork, order: SalesOrder, f: FulfilmentOrder, to: model.FulfilmentStatus
) -> None:
    if model.leaves_stock(to) and order.reservation_id:
        units = {x.sku_id: x.qty for x in fulfilment_lines(uow, f.id)}
        inventory.fulfil(uow, order.reservation_id, f.location_id, units, order.number)
    f.status = to.value
    uow.emit(
        f"fulfilment.{to.value}",
        {"id": f.id, "order_id": order.id, "location_id": f.location_id},
        subject=order.id,
    )
    if all(x.status in model.DONE for x in fulfilments_of(uow, order.id)):
        order.status = model.OrderStatus.completed.value
        uow.emit("order.completed", {"id": order.id, "number": order.number}, subject=order.id)


def payment_of(uow: UnitOfWork, order_id: str, payment_id: str) -> Payment:
    payment = payments.get(uow, payment_id)
    if payment.order_id != order_id:
        raise NotFound(f"payment {payment_id} not found")
    return payment


def capture(uow: UnitOfWork, order_id: str, payment_id: str) -> Payment:
    order = locked(uow, order_id)
    payment = payments.capture_payment(uow, payment_of(uow, order_id, payment_id))
    _settle(uow, order)
    return payment


def void(uow: UnitOfWork, order_id: str, payment_id: str) -> Payment:
    locked(uow, order_id)
    return payments.void(uow, payment_of(uow, order_id, payment_id))


# --- cancellation ----------------------------------------------------------------------


def cancel(uow: UnitOfWork, order_id: str, reason: str) -> SalesOrder:
    """Cancel before fulfilment: held stock is free again at once; money taken goes
    back to each tender it came from, authorisations are voided."""
    order = locked(uow, order_id)
    if order.status not in (model.OrderStatus.pending_payment, model.OrderStatus.paid):
        raise Conflict(f"order is {order.status}", field="status")
    fulfilments = fulfilments_of(uow, order.id)
    if gone := [f for f in fulfilments if f.status in model.LEFT]:
        raise Conflict(f"{len(gone)} parcel(s) already left; return them instead", field="status")
    for f in fulfilments:
        f.status = model.FulfilmentStatus.cancelled.value
    for payment in payments.of_order(uow, order.id):
        if payment.status == PaymentStatus.authorised:
            payments.void(uow, payment)
        elif payment.captured > payment.refunded:
            payments.refund(uow, payment, payment.captured - payment.refunded, reason)
    _close(uow, order, reason)
    _settle(uow, order)
    return order


def _close(uow: UnitOfWork, order: SalesOrder, reason: str) -> None:
    if order.reservation_id:
        hold = uow.session.get(Reservation, order.reservation_id)
        if hold is not None and hold.status in stock_model.OPEN:
            inventory.release(uow, hold.id)
    order.status = model.OrderStatus.cancelled.value
    order.cancelled_at, order.cancel_reason = utcnow(), reason
    uow.emit(
        "order.cancelled",
        {"id": order.id, "number": order.number, "reason": reason},
        subject=order.id,
    )


def cancel_unpaid(db: Database, limit: int = 200) -> int:
    """Relay job: orders whose stock hold lapsed before payment are cancelled."""
    with db.session(write=False) as session:
        scope_session(session, None)
        due = session.execute(
            select(SalesOrder.id, SalesOrder.tenant_id)
            .join(Reservation, Reservation.id == SalesOrder.reservation_id)
            .where(
                SalesOrder.status == model.OrderStatus.pending_payment.value,
                Reservation.expires_at <= utcnow(),
            )
            .limit(limit)
        ).all()
    for order_id, tenant_id in due:
        with UnitOfWork(db, tenant_id) as uow:
            order = uow.session.get(SalesOrder, order_id, with_for_update=True)
            if order is not None and order.status == model.OrderStatus.pending_payment:
                _close(uow, order, "unpaid")
                uow.commit()
    return len(due)
