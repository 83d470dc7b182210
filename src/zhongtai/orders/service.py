"""Use cases of the order centre; the checkout workflow reads top to bottom in `place`."""

from __future__ import annotations

import secrets
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, or_, select, update

from zhongtai.catalog import service as catalog
from zhongtai.catalog.store import Category, Sku
from zhongtai.inventory import model as stock_model
from zhongtai.inventory import service as inventory
from zhongtai.inventory.schemas import LocationOut
from zhongtai.inventory.store import Reservation
from zhongtai.members import service as members
from zhongtai.orders import model, slots, sourcing
from zhongtai.orders.schemas import (
    AppliedOut,
    FulfilmentIn,
    GiftOut,
    InvoiceIn,
    NotAppliedOut,
    OrderIn,
    OrderLineIn,
    OrderQuery,
    PaymentIn,
    QuoteIn,
    QuoteLineOut,
    QuoteOut,
    ShortIn,
    TaxRateIn,
)
from zhongtai.orders.store import (
    Backorder,
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
from zhongtai.payments.model import POINTS, PaymentStatus
from zhongtai.payments.store import Payment
from zhongtai.platform.db import Database
from zhongtai.platform.errors import Conflict, NotFound, ValidationFailed
from zhongtai.platform.ids import utcnow
from zhongtai.platform.outbox import OutboxEvent
from zhongtai.platform.uow import UnitOfWork, for_each
from zhongtai.pricing import service as pricing
from zhongtai.pricing.model import PriceQuery
from zhongtai.promotions import service as promotions
from zhongtai.promotions.model import Reason

DEFAULT_TAX_RATE_BP = 1300  # 13%: the standard VAT rate on goods


class NoFulfilmentLocation(Conflict):
    type, title = "no-fulfilment-location", "No location can fulfil this order"


def place(uow: UnitOfWork, cmd: OrderIn) -> SalesOrder:
    """下单. One transaction, so a failure at any step leaves nothing behind: no order,
    no hold, no number taken.

    1. the channel, the store (when the fulfilment type names one) and the point;
    2. each line's SKU, sellable on the channel (and in the store);
    3. price each line (price service, at the member's tier price where one is set),
       then the best legal combination of promotions, tier benefits and coupons, with
       budgets, quotas, limits and coupons taken atomically (promotions.settle);
    4. choose where the stock comes from (smart sourcing over the allowed locations);
       with `backorder`, units no location has now are owed instead of refused;
    5. book the delivery slot, if one was chosen;
    6. hold the stock for `hold_minutes` (库存锁定), the order's number as the owner;
    7. the order with its lines, money, VAT, the reason for each location, what is owed.
    """
    org.require_entry(uow, "channel", cmd.channel, "channel")
    kind = cmd.fulfilment.type
    if cmd.backorder and kind is model.FulfilmentType.in_store:
        raise ValidationFailed("backorder", "a till sale is handed over at once: nothing owed")
    store = _store(uow, cmd.fulfilment)
    skus = _sellable(uow, cmd.channel, cmd.lines, store)
    shopper = shopper_for(uow, cmd.channel, store, cmd.member)
    base = _base(uow, shopper, store, skus, cmd.lines)
    settled = promotions.settle(uow, shopper, base, cmd.coupons)
    lines = _priced(uow, base, skus, settled.deal)
    gifts = _gift_lines(uow, settled.deal, len(lines))
    codes = {x.sku_id: x.sku_code for x in lines + gifts}
    plan, short = _source(
        uow, cmd.channel, cmd.fulfilment, store, _wanted(lines + gifts), codes, {}
    )
    if gifts and short.keys() & {g.sku_id for g in gifts}:  # gifts while stocks last
        gifts = [g for g in gifts if g.sku_id not in short]
        plan, short = _source(
            uow, cmd.channel, cmd.fulfilment, store, _wanted(lines + gifts), codes, {}
        )
    lines += gifts
    if short and not cmd.backorder:
        raise _out_of_stock(short, codes)
    if cmd.fulfilment.slot and plan.shipments:
        slots.book(uow, list(plan.shipments), cmd.fulfilment.slot)
    number = org.next_code(uow, "order")
    held = _hold(uow, number, cmd.channel, cmd.hold_minutes * 60, plan, codes)
    order = SalesOrder(
        number=number,
        channel=cmd.channel,
        member=cmd.member,
        member_id=shopper.member_id,
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
        reservation_id=held.id if held else None,
        pickup_code=f"{secrets.randbelow(10**6):06d}"
        if kind is model.FulfilmentType.pickup
        else None,
        slot_start=cmd.fulfilment.slot,
        slot_end=cmd.fulfilment.slot + timedelta(minutes=slots.MINUTES)
        if cmd.fulfilment.slot
        else None,
        sourcing=plan.method,
        actor_id=uow.actor_id,
    )
    uow.session.add(order)
    uow.session.flush()
    for line in lines:
        line.order_id = order.id
    uow.session.add_all(lines)
    _allocate(uow, order, plan)
    uow.session.add_all(Backorder(order_id=order.id, sku_id=s, qty=n) for s, n in short.items())
    promotions.record(uow, order.id, shopper, settled)
    uow.session.flush()
    uow.emit(
        "order.created",
        {
            "id": order.id,
            "number": number,
            "channel": cmd.channel,
            "member": cmd.member,
            "member_id": order.member_id,
            "store": cmd.fulfilment.location or "",
            "fulfilment_type": kind.value,
            "total": order.total,
            "lines": [
                {"sku_id": x.sku_id, "sku": x.sku_code, "qty": x.qty, "net": x.net} for x in lines
            ],
            "locations": sorted(plan.shipments),
            "backordered": [{"sku_id": s, "qty": n} for s, n in short.items()],
            "promotions": [
                {"id": a.promotion_id, "amount": a.amount} for a in settled.deal.pricing.applied
            ],
        },
        subject=order.id,
    )
    return order


def _store(uow: UnitOfWork, f: FulfilmentIn) -> LocationOut | None:
    if f.type is model.FulfilmentType.o2o and (f.lat is None or f.lng is None):
        raise ValidationFailed("fulfilment.lat", "same-hour delivery needs lat and lng")
    if f.slot is not None and f.type is not model.FulfilmentType.o2o:
        raise ValidationFailed("fulfilment.slot", "slots are for same-hour delivery (o2o)")
    if not model.needs_store(f.type):
        return None
    if f.location is None:
        raise ValidationFailed("fulfilment.location", f"{f.type.value} needs the store")
    _unit, loc = inventory.resolve_location(uow, f.location, "fulfilment.location")
    return inventory.get_location(uow, loc.id)


def _sellable(
    uow: UnitOfWork, channel: str, lines: list[OrderLineIn], store: LocationOut | None
) -> list[Sku]:
    """Each line's SKU, which must exist and be sold on the channel (and in the store)."""
    found = catalog.skus_by_code(uow, [x.sku for x in lines])
    for i, line in enumerate(lines):
        if line.sku not in found:
            raise ValidationFailed(f"lines[{i}].sku", f"unknown SKU {line.sku}")
    skus = [found[x.sku] for x in lines]
    sold = catalog.sellable_ids(uow, skus, channel, store.id if store else None, utcnow())
    for i, sku in enumerate(skus):
        if sku.id not in sold:
            raise ValidationFailed(f"lines[{i}].sku", f"{sku.code} is not sold on {channel}")
    return skus


def shopper_for(
    uow: UnitOfWork, channel: str, store: LocationOut | None, member: str | None
) -> promotions.Shopper:
    """Who buys where, for prices and promotions: the member's tier (its price list,
    discount and free delivery). A reference that names no active member (e.g. a phone
    number never registered) buys as everybody does, its limits counted on the reference."""
    profile = members.profile(uow, member) if member else None
    where = store.code if store else None
    if profile is None:
        return promotions.Shopper(channel=channel, store=where, member_key=member)
    return promotions.Shopper(
        channel=channel,
        store=where,
        member_key=profile.member_id,
        member_id=profile.member_id,
        tier=profile.tier,
        tier_discount_bp=profile.discount_bp,
        free_delivery=profile.free_delivery,
    )


def _base(
    uow: UnitOfWork,
    shopper: promotions.Shopper,
    store: LocationOut | None,
    skus: list[Sku],
    lines: list[OrderLineIn],
) -> list[promotions.Line]:
    """Each line at the price service's price for the channel, store and member tier."""
    query = PriceQuery(
        at=utcnow(),
        channel=shopper.channel,
        store_id=store.id if store else None,
        member_tier=shopper.tier,
    )
    prices = pricing.resolve_many(uow, [s.id for s in skus], query)
    out = []
    for i, (sku, line) in enumerate(zip(skus, lines, strict=True)):
        price = prices[sku.id]
        if price is None:
            raise ValidationFailed(f"lines[{i}].sku", f"{sku.code} has no price")
        out.append(promotions.Line(sku.id, sku.code, price.amount, line.qty))
    return out


def _priced(
    uow: UnitOfWork, base: list[promotions.Line], skus: list[Sku], deal: promotions.Deal
) -> list[SalesOrderLine]:
    """The order lines of a priced cart: each line's discount is its share of every
    promotion that gave one (分摊), so line nets sum to the total; VAT on the net."""
    rates = tax_rates(uow, [s.id for s in skus])
    return [
        SalesOrderLine(
            line_no=i + 1,
            sku_id=sku.id,
            sku_code=sku.code,
            name=sku.name,
            qty=line.qty,
            unit_price=line.unit_price,
            gross=priced.gross,
            discount=priced.discount,
            net=priced.net,
            tax_rate_bp=rates[sku.id],
            tax=model.tax_included(priced.net, rates[sku.id]),
        )
        for i, (sku, line, priced) in enumerate(zip(skus, base, deal.pricing.lines, strict=True))
    ]


def _gift_lines(uow: UnitOfWork, deal: promotions.Deal, after: int) -> list[SalesOrderLine]:
    """赠品: the gifts the cart earned, as lines at no charge after the bought ones."""
    if not deal.pricing.gifts:
        return []
    found = catalog.skus_by_code(uow, [g.sku_id for g in deal.pricing.gifts])
    return [
        SalesOrderLine(
            line_no=after + i + 1,
            sku_id=found[g.sku_id].id,
            sku_code=g.sku_id,
            name=f"赠品 gift: {found[g.sku_id].name}",
            qty=g.qty,
            unit_price=0,
            gross=0,
            discount=0,
            net=0,
            tax_rate_bp=0,
            tax=0,
        )
        for i, g in enumerate(deal.pricing.gifts)
    ]


def _wanted(lines: list[SalesOrderLine]) -> dict[str, int]:
    wanted = Counter[str]()
    for line in lines:
        wanted[line.sku_id] += line.qty
    return dict(wanted)


def quote(uow: UnitOfWork, cmd: QuoteIn) -> tuple[list[promotions.Line], promotions.Deal]:
    """算价: the cart as checkout would price it now, with the promotions applied and why
    the others were not; nothing is taken or recorded."""
    org.require_entry(uow, "channel", cmd.channel, "channel")
    store = None
    if cmd.store is not None:
        _unit, loc = inventory.resolve_location(uow, cmd.store, "store")
        store = inventory.get_location(uow, loc.id)
    skus = _sellable(uow, cmd.channel, cmd.lines, store)
    shopper = shopper_for(uow, cmd.channel, store, cmd.member)
    base = _base(uow, shopper, store, skus, cmd.lines)
    return base, promotions.quote(uow, shopper, base, cmd.coupons, cmd.delivery_fee)


def quote_view(base: list[promotions.Line], deal: promotions.Deal) -> QuoteOut:
    """The quote as the shopper reads it: promotions by code, lines by number."""
    p, names = deal.pricing, {x.promotion_id: x.name for x in deal.offer.engine}
    codes = {pid: row.code for pid, row in deal.offer.rows.items()}
    return QuoteOut(
        lines=[
            QuoteLineOut(
                line=i + 1,
                sku=x.sku_code,
                qty=x.qty,
                unit_price=x.unit_price,
                gross=y.gross,
                discount=y.discount,
                net=y.net,
            )
            for i, (x, y) in enumerate(zip(base, p.lines, strict=True))
        ],
        applied=[
            AppliedOut(
                promotion=codes.get(a.promotion_id, a.promotion_id),
                name=names[a.promotion_id],
                amount=a.amount,
                lines=[{"line": int(line), "amount": n} for line, n in a.lines],
                on_delivery=a.on_delivery,
                coupon=a.promotion_id.split(":", 1)[1]
                if a.promotion_id in deal.offer.coupons
                else None,
            )
            for a in p.applied
        ],
        not_applied=[
            NotAppliedOut(
                promotion=codes.get(n.promotion_id, n.promotion_id),
                reason=n.reason.value,
                detail=n.detail,
            )
            for n in p.not_applied
            if n.reason is not Reason.not_in_scope  # only those about this cart
        ],
        gifts=[
            GiftOut(promotion=codes.get(g.promotion_id, g.promotion_id), sku=g.sku_id, qty=g.qty)
            for g in p.gifts
        ],
        gross=p.gross,
        discount=p.discount,
        delivery_fee=p.delivery_fee,
        delivery_discount=p.delivery_discount,
        payable=p.payable,
        exact=p.exact,
    )


# --- VAT (增值税) and invoices (发票) -----------------------------------------------------


def tax_rates(uow: UnitOfWork, sku_ids: list[str]) -> dict[str, int]:
    """Each SKU's VAT rate: its category's, inherited from the nearest ancestor that has
    one, else the standard rate."""
    rates = {r.category_id: r.rate_bp for r in uow.session.scalars(select(TaxRate))}
    paths = catalog.category_paths(uow, sku_ids)
    return {sku: model.rate_for(path, rates, DEFAULT_TAX_RATE_BP) for sku, path in paths.items()}


def set_tax_rate(uow: UnitOfWork, cmd: TaxRateIn) -> TaxRate:
    category = uow.session.scalars(select(Category).where(Category.code == cmd.category)).first()
    if category is None:
        raise ValidationFailed("category", f"unknown category {cmd.category}")
    return uow.put(TaxRate, {"category_id": category.id}, rate_bp=cmd.rate_bp)


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
    channel: str,
    f: FulfilmentIn,
    store: LocationOut | None,
    wanted: dict[str, int],
    codes: dict[str, str],
    avoid: dict[str, set[str]],
) -> tuple[sourcing.Plan, dict[str, int]]:
    """智能路由 over the locations this fulfilment type may use (never SKU s from the
    locations in `avoid[s]`): the cheapest plan for what can be had, and the units of
    each SKU that no location can give now."""
    allowed = _allowed(uow, f, store)
    stock = inventory.promisable(uow, list(wanted), channel)
    queued = _queued(uow)
    candidates = [
        sourcing.Candidate(
            location_id=x.id,
            code=x.code,
            distance_m=_distance(f, x),
            stock={s: n for s, n in stock.get(x.id, {}).items() if x.id not in avoid.get(s, ())},
            queued=queued.get(x.id, 0),
        )
        for x in allowed
    ]
    try:
        return sourcing.source(wanted, candidates), {}
    except sourcing.Unsourceable as exc:
        short = {s: min(n, wanted[s]) for s, n in exc.short.items()}
    rest = {s: n - short.get(s, 0) for s, n in wanted.items() if n > short.get(s, 0)}
    plan = sourcing.source(rest, candidates) if rest else sourcing.Plan({}, 0.0, "none")
    return plan, short


def _allowed(uow: UnitOfWork, f: FulfilmentIn, store: LocationOut | None) -> list[LocationOut]:
    rule = model.SOURCES[f.type]
    if rule == "named" and store is not None:
        allowed = [store]
    elif rule == "point" and f.lat is not None and f.lng is not None:
        allowed = [x for x in inventory.serving(uow, f.lat, f.lng) if x.type != "warehouse"]
        if f.slot is not None and allowed:
            allowed = slots.with_room(uow, allowed, f.slot)
            if not allowed:
                raise slots.SlotFull(
                    "every location serving here is full then", field="fulfilment.slot"
                )
    else:
        allowed = [x for x in inventory.list_locations(uow) if rule == "any" or x.type in rule]
    if not allowed:
        raise NoFulfilmentLocation("no location serves this address", field="fulfilment")
    return allowed


def _out_of_stock(short: dict[str, int], codes: dict[str, str]) -> inventory.OutOfStock:
    named = sorted(codes[s] for s in short)
    return inventory.OutOfStock(
        f"not enough stock for {', '.join(named)}", field="lines", skus=named
    )


def _hold(
    uow: UnitOfWork,
    owner: str,
    channel: str,
    ttl_seconds: int,
    plan: sourcing.Plan,
    codes: dict[str, str],
) -> Reservation | None:
    """库存锁定 of the plan's units, owned by the order number; none for an empty plan."""
    if not plan.shipments:
        return None
    wanted = [
        inventory.Wanted(sku_id, loc, n, codes[sku_id], "lines")
        for loc, units in plan.shipments.items()
        for sku_id, n in units.items()
    ]
    return inventory.hold(uow, owner, channel, ttl_seconds, wanted)


def _allocate(uow: UnitOfWork, order: SalesOrder, plan: sourcing.Plan) -> list[OrderAllocation]:
    rows = [
        OrderAllocation(
            order_id=order.id, sku_id=sku_id, location_id=loc, qty=n, reason=plan.reasons[loc]
        )
        for loc, units in plan.shipments.items()
        for sku_id, n in units.items()
    ]
    uow.session.add_all(rows)
    return rows


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
    return _allocations(uow, [order_id])


def _allocations(uow: UnitOfWork, order_ids: list[str]) -> list[tuple[OrderAllocation, str, str]]:
    query = (
        select(OrderAllocation, Sku.code, OrgUnit.code)
        .join(Sku, Sku.id == OrderAllocation.sku_id)
        .join(OrgUnit, OrgUnit.id == OrderAllocation.location_id)
        .where(OrderAllocation.order_id.in_(order_ids))
        .order_by(OrgUnit.code, Sku.code)
    )
    return [(a, sku, loc) for a, sku, loc in uow.session.execute(query)]


@dataclass
class Details:
    """An order's lines, allocations (with SKU and location codes), what it owes, and
    the promotions it used."""

    lines: list[SalesOrderLine] = field(default_factory=list)
    allocations: list[tuple[OrderAllocation, str, str]] = field(default_factory=list)
    owed: list[tuple[str, int]] = field(default_factory=list)  # (SKU code, units)
    promotions: list[promotions.Used] = field(default_factory=list)


def details(uow: UnitOfWork, order_ids: list[str]) -> dict[str, Details]:
    """The details of a page of orders with one query each, not three per order."""
    out = {order_id: Details() for order_id in order_ids}
    lines = select(SalesOrderLine).where(SalesOrderLine.order_id.in_(order_ids))
    for line in uow.session.scalars(lines.order_by(SalesOrderLine.line_no)):
        out[line.order_id].lines.append(line)
    for a, sku, loc in _allocations(uow, order_ids):
        out[a.order_id].allocations.append((a, sku, loc))
    for order_id, code, n in uow.session.execute(
        select(Backorder.order_id, Sku.code, func.sum(Backorder.qty))
        .join(Sku, Sku.id == Backorder.sku_id)
        .where(Backorder.order_id.in_(order_ids), Backorder.qty > 0)
        .group_by(Backorder.order_id, Sku.code)
        .order_by(Sku.code)
    ):
        out[order_id].owed.append((code, int(n)))
    for used in promotions.used_by(uow, order_ids):
        out[used.order_id].promotions.append(used)
    return out


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


def of_member(uow: UnitOfWork, member_id: str, limit: int) -> list[SalesOrder]:
    """A member's orders, newest first (会员360)."""
    query = select(SalesOrder).where(SalesOrder.member_id == member_id)
    return list(uow.session.scalars(query.order_by(SalesOrder.id.desc()).limit(limit)).all())


def reassign_member(uow: UnitOfWork, source_id: str, target_id: str) -> int:
    """账号融合: the merged member's orders become the surviving member's; how many."""
    done = uow.session.execute(
        update(SalesOrder)
        .where(SalesOrder.member_id == source_id)
        .values(member_id=target_id)
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def anonymise_member(uow: UnitOfWork, member_id: str) -> None:
    """被遗忘权: a forgotten member's orders keep their money and the member id, not the
    phone number or e-mail they were placed with."""
    uow.session.execute(
        update(SalesOrder)
        .where(SalesOrder.member_id == member_id)
        .values(member=member_id)
        .execution_options(synchronize_session=False)
    )


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
    if payment.provider == POINTS:
        members.pay_with_points(uow, order, payment)
    _settle(uow, order)
    return payment


def refund_tender(uow: UnitOfWork, payment: Payment, amount: int, reason: str) -> None:
    """Money back to the tender it came from; refunded to points, the points go back to
    the member's ledger (积分退回) in the same transaction."""
    payments.refund(uow, payment, amount, reason)
    if payment.provider == POINTS:
        members.refund_points(uow, payment)


def pay_with_credit(uow: UnitOfWork, order: SalesOrder, amount: int, return_number: str) -> None:
    """An exchange order paid (partly) with its return's refund (换货抵扣)."""
    details = {"return": return_number}
    payments.take(uow, order.id, "exchange_credit", amount, details, capture=True, internal=True)
    _settle(uow, order)


def _committed(uow: UnitOfWork, order_id: str) -> int:
    """Authorised or captured, not voided: what no new tender may cover again."""
    return sum(
        p.amount
        for p in payments.of_order(uow, order_id)
        if p.status in (PaymentStatus.authorised, PaymentStatus.captured)
    )


def _settle(uow: UnitOfWork, order: SalesOrder) -> None:
    """Paid in full: stock confirmed, points earned (积分获取), parcels made."""
    taken = payments.of_order(uow, order.id)
    order.paid = sum(p.captured - p.refunded for p in taken)
    if order.status == model.OrderStatus.pending_payment and order.paid >= order.total:
        order.status = model.OrderStatus.paid.value
        if order.reservation_id:
            inventory.confirm(uow, order.reservation_id)
        uow.emit(
            "order.paid",
            {
                "id": order.id,
                "number": order.number,
                "paid": order.paid,
                "member_id": order.member_id,
                "channel": order.channel,
            },
            subject=order.id,
        )
        in_points = sum(p.captured - p.refunded for p in taken if p.provider == POINTS)
        members.earn_for_order(uow, order, lines_of(uow, order.id), in_points)
        allocations = [a for a, _sku, _loc in allocations_of(uow, order.id)]
        _split(uow, order, allocations, order.reservation_id)
        if open_backorders(uow, order.id):
            source_backorders(uow, order.id)


# --- fulfilment (履约) -------------------------------------------------------------------


def _split(
    uow: UnitOfWork,
    order: SalesOrder,
    allocations: list[OrderAllocation],
    reservation_id: str | None,
) -> None:
    """Paid allocations become one fulfilment order per location they take stock from,
    shipping from the hold `reservation_id`; a till sale is handed over at once."""
    kind = model.FulfilmentType(order.fulfilment_type)
    by_location: dict[str, list[OrderAllocation]] = {}
    for a in allocations:
        by_location.setdefault(a.location_id, []).append(a)
    for location_id, here in sorted(by_location.items()):
        f = FulfilmentOrder(
            order_id=order.id,
            location_id=location_id,
            kind=kind.value,
            status=model.FulfilmentStatus.created.value,
            reservation_id=reservation_id,
        )
        uow.session.add(f)
        uow.session.flush()
        uow.session.add_all(
            FulfilmentLine(fulfilment_id=f.id, sku_id=a.sku_id, qty=a.qty) for a in here
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
    hold = f.reservation_id or order.reservation_id
    if model.leaves_stock(to) and hold:
        units = {x.sku_id: x.qty for x in fulfilment_lines(uow, f.id) if x.qty}
        inventory.fulfil(uow, hold, f.location_id, units, order.number)
    f.status = to.value
    uow.emit(
        f"fulfilment.{to.value}",
        {"id": f.id, "order_id": order.id, "location_id": f.location_id},
        subject=order.id,
    )
    complete_if_done(uow, order)


def complete_if_done(uow: UnitOfWork, order: SalesOrder) -> None:
    """Completed once every parcel is with the shopper (short ones cancelled) and no
    back-order is still owed."""
    parcels = [f for f in fulfilments_of(uow, order.id) if f.status != "cancelled"]
    if open_backorders(uow, order.id) or not all(f.status in model.DONE for f in parcels):
        return
    if not parcels:  # everything owed was cancelled and refunded: nothing to deliver
        _close(uow, order, "nothing left to deliver")
        return
    order.status = model.OrderStatus.completed.value
    uow.emit("order.completed", {"id": order.id, "number": order.number}, subject=order.id)


# --- back-orders (缺货待发) and short picks --------------------------------------------

BACKORDER_RETRY = timedelta(minutes=5)


def open_backorders(uow: UnitOfWork, order_id: str) -> list[Backorder]:
    query = select(Backorder).where(Backorder.order_id == order_id, Backorder.qty > 0)
    return list(uow.session.scalars(query.order_by(Backorder.id)).all())


def source_backorders(uow: UnitOfWork, order_id: str) -> SalesOrder:
    """补发: source what a paid order still owes from wherever stock is now (never from a
    location that came up short for that SKU), hold it, confirm it and split it into new
    fulfilment orders; what still cannot be had stays owed."""
    order = locked(uow, order_id)
    if order.status != model.OrderStatus.paid:
        raise Conflict(f"order is {order.status}", field="status")
    owed = open_backorders(uow, order.id)
    wanted, avoid = Counter[str](), dict[str, set[str]]()
    for b in owed:
        wanted[b.sku_id] += b.qty
        if b.avoid_location_id:
            avoid.setdefault(b.sku_id, set()).add(b.avoid_location_id)
        b.tried_at = utcnow()
    if not owed:
        return order
    query = select(Sku.id, Sku.code).where(Sku.id.in_(list(wanted)))
    codes = {sku_id: code for sku_id, code in uow.session.execute(query)}
    store = inventory.get_location(uow, order.store_id) if order.store_id else None
    f = FulfilmentIn(
        type=model.FulfilmentType(order.fulfilment_type),
        location=order.store_id,
        lat=order.lat,
        lng=order.lng,
    )
    try:
        plan, _short = _source(uow, order.channel, f, store, dict(wanted), codes, avoid)
    except NoFulfilmentLocation:
        return order  # nobody serves the address any more: still owed, for a person to settle
    held = _hold(uow, order.number, order.channel, 3600, plan, codes)
    if held is None:
        return order
    inventory.confirm(uow, held.id)
    allocations = _allocate(uow, order, plan)
    uow.session.flush()
    _split(uow, order, allocations, held.id)
    sourced = Counter[str]()
    for units in plan.shipments.values():
        sourced.update(units)
    for b in owed:
        took = min(b.qty, sourced[b.sku_id])
        b.qty, sourced[b.sku_id] = b.qty - took, sourced[b.sku_id] - took
    uow.emit(
        "order.backorder_sourced",
        {"id": order.id, "number": order.number, "locations": sorted(plan.shipments)},
        subject=order.id,
    )
    return order


def report_short(uow: UnitOfWork, fulfilment_id: str, cmd: ShortIn) -> FulfilmentOrder:
    """拣货缺货: units of a parcel not found on the shelf. They are no longer held there,
    the order owes them as a back-order, and the platform sources them elsewhere at once
    where it can."""
    f = get_fulfilment(uow, fulfilment_id)
    order = locked(uow, f.order_id)
    uow.session.refresh(f)
    if f.status not in model.BEFORE_HANDOVER:
        raise Conflict(f"fulfilment is {f.status}", field="status")
    query = (
        select(FulfilmentLine, Sku.code)
        .join(Sku, Sku.id == FulfilmentLine.sku_id)
        .where(FulfilmentLine.fulfilment_id == f.id)
    )
    lines = {code: line for line, code in uow.session.execute(query)}
    units = Counter[str]()
    for i, short in enumerate(cmd.lines):
        line = lines.get(short.sku)
        if line is None:
            raise ValidationFailed(f"lines[{i}].sku", f"{short.sku} is not in this parcel")
        if units[line.sku_id] + short.qty > line.qty:
            raise ValidationFailed(f"lines[{i}].qty", f"only {line.qty} in this parcel")
        units[line.sku_id] += short.qty
    if hold := f.reservation_id or order.reservation_id:
        inventory.release_part(uow, hold, f.location_id, units)
    for line in lines.values():
        line.qty -= units[line.sku_id]
    uow.session.add_all(
        Backorder(order_id=order.id, sku_id=s, qty=n, avoid_location_id=f.location_id)
        for s, n in units.items()
    )
    if all(line.qty == 0 for line in lines.values()):
        f.status = model.FulfilmentStatus.cancelled.value
    uow.emit(
        "fulfilment.short",
        {"id": f.id, "order_id": order.id, "location_id": f.location_id, "units": units},
        subject=order.id,
    )
    uow.session.flush()
    source_backorders(uow, order.id)
    return f


def retry_backorders(db: Database, limit: int = 100) -> int:
    """Relay job: paid orders that still owe units try sourcing again (stock may have
    arrived), each at most every `BACKORDER_RETRY`."""
    due = (
        select(SalesOrder.id, SalesOrder.tenant_id)
        .join(Backorder, Backorder.order_id == SalesOrder.id)
        .where(
            Backorder.qty > 0,
            SalesOrder.status == model.OrderStatus.paid.value,
            or_(Backorder.tried_at.is_(None), Backorder.tried_at <= utcnow() - BACKORDER_RETRY),
        )
        .distinct()
        .limit(limit)
    )
    return for_each(db, due, source_backorders)


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
            refund_tender(uow, payment, payment.captured - payment.refunded, reason)
    members.reverse_for_refund(uow, order.id, None, order.id)
    _close(uow, order, reason)
    _settle(uow, order)
    return order


def _close(uow: UnitOfWork, order: SalesOrder, reason: str) -> None:
    promotions.release(uow, order.id)
    if order.reservation_id:
        hold = uow.session.get(Reservation, order.reservation_id)
        if hold is not None and hold.status in stock_model.OPEN:
            inventory.release(uow, hold.id)
    if order.slot_start is not None:
        shipping = [a.location_id for a, _sku, _loc in allocations_of(uow, order.id)]
        slots.release(uow, sorted(set(shipping)), order.slot_start)
    order.status = model.OrderStatus.cancelled.value
    order.cancelled_at, order.cancel_reason = utcnow(), reason
    uow.emit(
        "order.cancelled",
        {"id": order.id, "number": order.number, "reason": reason},
        subject=order.id,
    )


def cancel_unpaid(db: Database, limit: int = 200) -> int:
    """Relay job: orders whose stock hold lapsed before payment are cancelled."""
    due = (
        select(SalesOrder.id, SalesOrder.tenant_id)
        .join(Reservation, Reservation.id == SalesOrder.reservation_id)
        .where(
            SalesOrder.status == model.OrderStatus.pending_payment.value,
            Reservation.expires_at <= utcnow(),
        )
        .limit(limit)
    )
    return for_each(db, due, _cancel_if_unpaid)


def _cancel_if_unpaid(uow: UnitOfWork, order_id: str) -> None:
    order = locked(uow, order_id)
    if order.status == model.OrderStatus.pending_payment:
        _close(uow, order, "unpaid")


# --- sales figures, for the marketing centre's effect evaluation --------------------------


@dataclass(frozen=True)
class Sale:
    order_id: str
    member_key: str | None  # the member id, else the reference given
    total: int
    units: int
    placed_at: datetime


def _sales(uow: UnitOfWork, *where: Any) -> list[Sale]:
    units = (
        select(func.coalesce(func.sum(SalesOrderLine.qty), 0))
        .where(SalesOrderLine.order_id == SalesOrder.id)
        .scalar_subquery()
    )
    rows = uow.session.execute(
        select(
            SalesOrder.id,
            func.coalesce(SalesOrder.member_id, SalesOrder.member),
            SalesOrder.total,
            units,
            SalesOrder.created_at,
        ).where(SalesOrder.status != model.OrderStatus.cancelled.value, *where)
    )
    return [Sale(*row) for row in rows]


def sales_of(uow: UnitOfWork, order_ids: list[str]) -> list[Sale]:
    """The orders named, unless cancelled."""
    return _sales(uow, SalesOrder.id.in_(order_ids))


def sales_between(
    uow: UnitOfWork, start: datetime, end: datetime, channels: list[str], store_ids: list[str]
) -> list[Sale]:
    """Orders placed in [start, end) on the channels and in the stores (empty: all)."""
    where = [SalesOrder.created_at >= start, SalesOrder.created_at < end]
    if channels:
        where.append(SalesOrder.channel.in_(channels))
    if store_ids:
        where.append(SalesOrder.store_id.in_(store_ids))
    return _sales(uow, *where)


def first_orders(uow: UnitOfWork, member_keys: list[str]) -> dict[str, str]:
    """Each member's first order that was not cancelled (ids sort by time)."""
    key = func.coalesce(SalesOrder.member_id, SalesOrder.member)
    rows = uow.session.execute(
        select(key, func.min(SalesOrder.id))
        .where(key.in_(member_keys), SalesOrder.status != model.OrderStatus.cancelled.value)
        .group_by(key)
    )
    return {str(k): str(v) for k, v in rows}
