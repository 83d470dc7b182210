"""Carts (购物车) shared across a member's devices, and checkout from a cart.

A cart belongs to an owner: a member id, or `guest:<device>` before sign-in; signing in
merges the guest cart into the member's. Every change locks the cart row, so two devices
editing at once take turns and `version` counts each change once.
"""

from __future__ import annotations

from sqlalchemy import delete, select

from zhongtai.catalog import service as catalog
from zhongtai.catalog.store import Sku
from zhongtai.inventory import service as inventory
from zhongtai.orders import service
from zhongtai.orders.schemas import (
    CartLineOut,
    CartOut,
    CheckoutIn,
    OrderIn,
    OrderLineIn,
)
from zhongtai.orders.store import Cart, CartLine, SalesOrder
from zhongtai.platform.db import dialect_insert
from zhongtai.platform.errors import NotFound, ValidationFailed
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import service as pricing
from zhongtai.pricing.model import PriceQuery
from zhongtai.promotions import service as promotions


def _find(uow: UnitOfWork, owner: str, *, lock: bool) -> Cart:
    query = select(Cart).where(Cart.owner == owner)
    cart = uow.session.scalars(query.with_for_update() if lock else query).first()
    if cart is None:
        raise NotFound(f"no cart for {owner}")
    return cart


def _open(uow: UnitOfWork, owner: str) -> Cart:
    """The owner's cart, made if need be, locked for this transaction."""
    insert = dialect_insert(uow.db.dialect)
    uow.session.execute(
        insert(Cart)
        .values(id=new_id(), tenant_id=uow.tenant_id, owner=owner, version=0, updated_at=utcnow())
        .on_conflict_do_nothing(index_elements=["tenant_id", "owner"])
    )
    return _find(uow, owner, lock=True)


def _lines(uow: UnitOfWork, cart: Cart) -> list[tuple[CartLine, Sku]]:
    query = (
        select(CartLine, Sku)
        .join(Sku, Sku.id == CartLine.sku_id)
        .where(CartLine.cart_id == cart.id)
        .order_by(CartLine.added_at, CartLine.id)
    )
    return [(line, sku) for line, sku in uow.session.execute(query)]


def _changed(uow: UnitOfWork, cart: Cart, what: str, **data: object) -> Cart:
    cart.version += 1
    cart.updated_at = utcnow()
    uow.emit(f"cart.{what}", {"id": cart.id, "owner": cart.owner, **data}, subject=cart.id)
    return cart


def set_line(uow: UnitOfWork, owner: str, sku_code: str, qty: int) -> Cart:
    """加购 / 改数量: the SKU's quantity in the cart; 0 takes it out."""
    sku = catalog.skus_by_code(uow, [sku_code]).get(sku_code)
    if sku is None:  # the SKU is in the path: unknown is 404, not a body error
        raise NotFound(f"SKU {sku_code} not found")
    cart = _open(uow, owner)
    line = uow.session.scalars(
        select(CartLine).where(CartLine.cart_id == cart.id, CartLine.sku_id == sku.id)
    ).first()
    if qty == 0:
        if line is not None:
            uow.session.delete(line)
    elif line is None:
        uow.session.add(CartLine(cart_id=cart.id, sku_id=sku.id, qty=qty))
    else:
        line.qty = qty
    uow.session.flush()
    return _changed(uow, cart, "updated", sku=sku.code, qty=qty)


def merge(uow: UnitOfWork, owner: str, source: str) -> Cart:
    """Sign-in: the guest cart's lines join the member's (quantities add up) and the
    guest cart is gone."""
    if source == owner:
        raise ValidationFailed("source", "a cart cannot be merged into itself")
    cart = _find(uow, owner, lock=True)
    guest = _find(uow, source, lock=True)
    mine = {line.sku_id: line for line, _sku in _lines(uow, cart)}
    for line, _sku in _lines(uow, guest):
        if line.sku_id in mine:
            mine[line.sku_id].qty += line.qty
        else:
            uow.session.add(CartLine(cart_id=cart.id, sku_id=line.sku_id, qty=line.qty))
    uow.session.execute(delete(CartLine).where(CartLine.cart_id == guest.id))
    uow.session.delete(guest)
    uow.session.flush()
    return _changed(uow, cart, "merged", source=source)


def view(uow: UnitOfWork, owner: str, channel: str, store: str | None) -> CartOut:
    """The cart priced for a channel (and store) now; lines that cannot be sold there are
    shown, flagged, and left out of the total."""
    cart = _find(uow, owner, lock=False)
    where = (
        inventory.get_location(uow, inventory.resolve_location(uow, store, "store")[1].id)
        if store
        else None
    )
    store_id = where.id if where else None
    member = None if owner.startswith("guest:") else owner
    shopper = service.shopper_for(uow, channel, where, member)
    query = PriceQuery(at=utcnow(), channel=channel, store_id=store_id, member_tier=shopper.tier)
    lines = _lines(uow, cart)
    skus = [sku for _line, sku in lines]
    prices = pricing.resolve_many(uow, [s.id for s in skus], query)
    sold = catalog.sellable_ids(uow, skus, channel, store_id, query.at)
    out = []
    for line, sku in lines:
        price = prices[sku.id]
        unit = price.amount if price else None
        sellable = sku.id in sold
        out.append(
            CartLineOut(
                sku=sku.code,
                name=sku.name,
                qty=line.qty,
                unit_price=unit,
                gross=(unit or 0) * line.qty,
                sellable=sellable,
            )
        )
    base = [
        promotions.Line(sku.id, sku.code, x.unit_price, x.qty)
        for x, (_line, sku) in zip(out, lines, strict=True)
        if x.sellable and x.unit_price is not None
    ]
    quoted = service.quote_view(base, promotions.quote(uow, shopper, base, [])) if base else None
    total = sum(x.gross for x in out if x.sellable)
    return CartOut(
        id=cart.id,
        owner=cart.owner,
        version=cart.version,
        updated_at=cart.updated_at,
        channel=channel,
        lines=out,
        total=total,
        discount=quoted.discount if quoted else 0,
        payable=quoted.payable if quoted else total,
        applied=quoted.applied if quoted else [],
        not_applied=quoted.not_applied if quoted else [],
    )


def checkout(uow: UnitOfWork, owner: str, cmd: CheckoutIn) -> SalesOrder:
    """结算: the cart's lines become an order by the checkout workflow (`service.place`)
    and leave the cart, in one transaction: if the order fails, the cart is as it was."""
    cart = _find(uow, owner, lock=True)
    lines = _lines(uow, cart)
    if not lines:
        raise ValidationFailed("lines", "the cart is empty")
    order = service.place(
        uow,
        OrderIn(
            channel=cmd.channel,
            member=None if owner.startswith("guest:") else owner,
            lines=[OrderLineIn(sku=sku.code, qty=line.qty) for line, sku in lines],
            fulfilment=cmd.fulfilment,
            hold_minutes=cmd.hold_minutes,
            backorder=cmd.backorder,
            coupons=cmd.coupons,
        ),
    )
    uow.session.execute(delete(CartLine).where(CartLine.cart_id == cart.id))
    _changed(uow, cart, "checked_out", order_id=order.id)
    return order
