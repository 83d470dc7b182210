"""Reverse orders (逆向订单): return requests, approval, receipt anywhere, refund to the
tenders the money came from. Refunds are computed from the order's stored per-line net
(after every discount), so partial returns of all units give back exactly what was paid.
"""

from __future__ import annotations

from collections import Counter

from sqlalchemy import select

from zhongtai.inventory import service as inventory
from zhongtai.members import service as members
from zhongtai.orders import model
from zhongtai.orders.schemas import ExchangeIn, OrderIn, ReceiveReturnIn, ReturnIn
from zhongtai.orders.service import (
    complete_if_done,
    fulfilment_lines,
    fulfilments_of,
    lines_of,
    locked,
    open_backorders,
    pay_with_credit,
    place,
    refund_tender,
)
from zhongtai.orders.store import ReturnLine, ReturnRequest, SalesOrder, SalesOrderLine
from zhongtai.org import service as org
from zhongtai.payments import service as payments
from zhongtai.payments.model import PaymentStatus
from zhongtai.platform.errors import Conflict, ValidationFailed
from zhongtai.platform.uow import UnitOfWork

BACKORDER_CANCELLED = "backorder_cancelled"  # the reason of a refund for units never sent


def _left(uow: UnitOfWork, order: SalesOrder) -> Counter[str]:
    """Units per SKU that have left stock for the shopper."""
    out = Counter[str]()
    for f in fulfilments_of(uow, order.id):
        if f.status in model.LEFT:
            for line in fulfilment_lines(uow, f.id):
                out[line.sku_id] += line.qty
    return out


def _returned(uow: UnitOfWork, order_id: str) -> tuple[Counter[str], Counter[str]]:
    """Units per order line already refunded or asked back (rejected requests do not
    count), and of those the ones never sent because their back-order was cancelled."""
    rows = uow.session.execute(
        select(ReturnLine.order_line_id, ReturnLine.qty, ReturnRequest.reason)
        .join(ReturnRequest, ReturnRequest.id == ReturnLine.return_id)
        .where(
            ReturnRequest.order_id == order_id,
            ReturnRequest.status != model.ReturnStatus.rejected.value,
        )
    )
    returned, never_sent = Counter[str](), Counter[str]()
    for line_id, qty, reason in rows:
        returned[line_id] += qty
        if reason == BACKORDER_CANCELLED:
            never_sent[line_id] += qty
    return returned, never_sent


def request(uow: UnitOfWork, order_id: str, cmd: ReturnIn) -> ReturnRequest:
    """退货申请 for some or all units that reached the shopper; each line's refund is
    fixed now from what was paid for it."""
    org.require_entry(uow, "return_reason", cmd.reason, "reason")
    order = locked(uow, order_id)
    lines = {x.line_no: x for x in lines_of(uow, order.id)}
    left, (returned, never_sent) = _left(uow, order), _returned(uow, order.id)
    rows: list[tuple[SalesOrderLine, int, int]] = []
    for i, asked in enumerate(cmd.lines):
        line = lines.get(asked.line_no)
        if line is None:
            raise ValidationFailed(f"lines[{i}].line_no", f"order has no line {asked.line_no}")
        try:
            model.returnable(
                line.qty - never_sent[line.id],
                left[line.sku_id],
                returned[line.id] - never_sent[line.id],
                asked.qty,
            )
        except ValueError as exc:
            raise ValidationFailed(f"lines[{i}].qty", str(exc)) from exc
        refund = model.refund_for(line.net, line.qty, returned[line.id], asked.qty)
        returned[line.id] += asked.qty
        rows.append((line, asked.qty, refund))
    r = ReturnRequest(
        number=org.next_code(uow, "return"),
        order_id=order.id,
        status=model.ReturnStatus.requested.value,
        reason=cmd.reason,
        refund=sum(refund for _l, _q, refund in rows),
    )
    uow.session.add(r)
    uow.session.flush()
    uow.session.add_all(
        ReturnLine(
            return_id=r.id, order_line_id=line.id, sku_id=line.sku_id, qty=qty, refund=refund
        )
        for line, qty, refund in rows
    )
    uow.emit(
        "return.requested",
        {"id": r.id, "order_id": order.id, "refund": r.refund},
        subject=order.id,
    )
    return r


def get(uow: UnitOfWork, return_id: str) -> ReturnRequest:
    return uow.get(ReturnRequest, return_id, "return")


def lines(uow: UnitOfWork, return_id: str) -> list[ReturnLine]:
    query = select(ReturnLine).where(ReturnLine.return_id == return_id)
    return list(uow.session.scalars(query.order_by(ReturnLine.id)).all())


def of_order(uow: UnitOfWork, order_id: str) -> list[ReturnRequest]:
    query = select(ReturnRequest).where(ReturnRequest.order_id == order_id)
    return list(uow.session.scalars(query.order_by(ReturnRequest.id)).all())


def search(
    uow: UnitOfWork, status: str | None, after: str | None, limit: int
) -> list[ReturnRequest]:
    """The return queue (customer service, the returns desk), oldest first."""
    query = select(ReturnRequest).order_by(ReturnRequest.id).limit(limit)
    if status:
        query = query.where(ReturnRequest.status == status)
    if after:
        query = query.where(ReturnRequest.id > after)
    return list(uow.session.scalars(query).all())


def _move(
    uow: UnitOfWork, return_id: str, frm: model.ReturnStatus, to: model.ReturnStatus
) -> ReturnRequest:
    r = get(uow, return_id)
    locked(uow, r.order_id)
    uow.session.refresh(r)
    if r.status != frm:
        raise Conflict(f"return is {r.status}", field="status")
    r.status = to.value
    uow.emit(
        f"return.{to.value}",
        {"id": r.id, "order_id": r.order_id, "refund": r.refund},
        subject=r.order_id,
    )
    return r


def approve(uow: UnitOfWork, return_id: str) -> ReturnRequest:
    return _move(uow, return_id, model.ReturnStatus.requested, model.ReturnStatus.approved)


def reject(uow: UnitOfWork, return_id: str) -> ReturnRequest:
    return _move(uow, return_id, model.ReturnStatus.requested, model.ReturnStatus.rejected)


def receive(uow: UnitOfWork, return_id: str, cmd: ReceiveReturnIn) -> ReturnRequest:
    """The goods arrive at any store or warehouse: back on sale, or written off."""
    get(uow, return_id)  # an unknown return is 404 whatever the body says
    _unit, loc = inventory.resolve_location(uow, cmd.location)
    r = _move(uow, return_id, model.ReturnStatus.approved, model.ReturnStatus.received)
    r.location_id, r.disposition = loc.id, cmd.disposition.value
    if cmd.disposition is model.Disposition.restock:
        for line in lines(uow, r.id):
            inventory.restock(uow, line.sku_id, loc.id, line.qty, r.number)
    return r


def refund(uow: UnitOfWork, return_id: str) -> ReturnRequest:
    """Pay the return's refund back to the order's tenders, in the order they were
    taken; once only."""
    r = _move(uow, return_id, model.ReturnStatus.received, model.ReturnStatus.refunded)
    _pay_back(uow, r, r.refund)
    return r


def exchange(uow: UnitOfWork, return_id: str, cmd: ExchangeIn) -> SalesOrder:
    """换货: the goods came back; the shopper takes other goods instead. A new order for
    them (same channel and member, linked to the return) is paid first with the return's
    refund (换货抵扣); what the refund does not cover the shopper pays as usual, what it
    more than covers goes back to the original tenders. Settles the return, once."""
    r = _move(uow, return_id, model.ReturnStatus.received, model.ReturnStatus.refunded)
    original = locked(uow, r.order_id)
    order = place(
        uow,
        OrderIn(
            channel=original.channel,
            member=original.member,
            lines=cmd.lines,
            fulfilment=cmd.fulfilment,
        ),
    )
    order.exchange_for, r.exchange_order_id = r.id, order.id
    credit = min(r.refund, order.total)
    if credit:
        pay_with_credit(uow, order, credit, r.number)
    _pay_back(uow, r, r.refund - credit)
    uow.emit(
        "return.exchanged",
        {"id": r.id, "order_id": r.order_id, "exchange_order_id": order.id, "credit": credit},
        subject=r.order_id,
    )
    return order


def _pay_back(uow: UnitOfWork, r: ReturnRequest, amount: int) -> None:
    """`amount` of the return's refund back to the order's tenders, in the order they
    were taken; the order has been paid `r.refund` less either way, and the points the
    units earned are taken back (积分冲回)."""
    taken = [
        p
        for p in payments.of_order(uow, r.order_id)
        if p.status == PaymentStatus.captured and p.captured > p.refunded
    ]
    try:
        parts = model.spread_refund(amount, [p.captured - p.refunded for p in taken])
    except ValueError as exc:
        raise Conflict(str(exc), field="refund") from exc
    for payment, amount in zip(taken, parts, strict=True):
        if amount:
            refund_tender(uow, payment, amount, f"return {r.number}")
    order = uow.session.get(SalesOrder, r.order_id)
    if order is not None:
        order.paid -= r.refund
    units = Counter[str]()
    for line in lines(uow, r.id):
        units[line.order_line_id] += line.qty
    members.reverse_for_refund(uow, r.order_id, units, r.id)


def cancel_backorders(uow: UnitOfWork, order_id: str) -> SalesOrder:
    """取消缺货: the shopper will not wait. What a paid order still owes is cancelled and
    its net refunded to the tenders, recorded as a reverse order of its own (so every
    refund of the order is in one place and all refunds together never exceed what was
    paid)."""
    order = locked(uow, order_id)
    if order.status != model.OrderStatus.paid:
        raise Conflict(f"order is {order.status}", field="status")
    owed = Counter[str]()
    for b in open_backorders(uow, order.id):
        owed[b.sku_id] += b.qty
        b.qty = 0
    if not owed:
        raise Conflict("the order owes nothing", field="backorders")
    returned, _never_sent = _returned(uow, order.id)
    rows = []
    for line in lines_of(uow, order.id):
        n = min(owed[line.sku_id], line.qty - returned[line.id])
        if n > 0:
            rows.append((line, n, model.refund_for(line.net, line.qty, returned[line.id], n)))
            owed[line.sku_id] -= n
    r = ReturnRequest(
        number=org.next_code(uow, "return"),
        order_id=order.id,
        status=model.ReturnStatus.refunded.value,
        reason=BACKORDER_CANCELLED,
        refund=sum(refund for _l, _n, refund in rows),
    )
    uow.session.add(r)
    uow.session.flush()
    uow.session.add_all(
        ReturnLine(return_id=r.id, order_line_id=line.id, sku_id=line.sku_id, qty=n, refund=x)
        for line, n, x in rows
    )
    _pay_back(uow, r, r.refund)
    uow.emit(
        "order.backorder_cancelled",
        {"id": order.id, "return_id": r.id, "refund": r.refund},
        subject=order.id,
    )
    complete_if_done(uow, order)
    return order
