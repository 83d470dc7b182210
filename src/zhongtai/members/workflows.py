"""Member workflows that span centres, each read top to bottom in one transaction:
账号融合 (merge), 被遗忘权 (forget), the 会员360 view and a ticket about an order.

The order and marketing centres are reached through their service functions only; the
order centre's rows are changed before the members are locked, the order in which
checkout locks them, so a merge and a payment never wait for each other in a cycle.
"""

from __future__ import annotations

from zhongtai.members import service as members
from zhongtai.members.schemas import (
    Member360Out,
    MemberOrderOut,
    MergeOut,
    TicketIn,
    TicketOut,
    TierOut,
)
from zhongtai.members.store import Member, MemberMerge, Ticket
from zhongtai.orders import service as orders
from zhongtai.orders.store import SalesOrder
from zhongtai.platform.db import Database
from zhongtai.platform.errors import NotFound, ValidationFailed
from zhongtai.platform.uow import UnitOfWork
from zhongtai.promotions import service as promotions
from zhongtai.promotions.schemas import CouponOut

RECENT = 20  # orders, tickets and ledger entries on the 360 page


def birthday_coupons(db: Database, limit: int = 200) -> int:
    """Relay job: on a member's birthday, once a year, the coupon of their tier's
    template (生日礼券) from the marketing centre."""
    return members.birthdays_due(db, _celebrate, limit)


def _celebrate(uow: UnitOfWork, member_id: str) -> None:
    template = members.celebrate(uow, member_id)
    if template is None:
        return
    coupon = promotions.grant(uow, template, member_id)
    uow.emit(
        "member.birthday_coupon_granted",
        {"id": member_id, "coupon_template": template, "coupon": coupon.code if coupon else None},
        subject=member_id,
    )


def merge(uow: UnitOfWork, target_id: str, source_id: str) -> MemberMerge:
    """账号融合: `source` folds into `target` with all its history.

    1. the order centre re-points the source's orders to the target;
    2. the marketing centre moves its coupons and promotion use counts;
    3. the member centre moves identities, consents, tickets, tier progress and points
       lots (with their expiry), carries the balance over, keeps the better tier, marks
       the source `merged` and records who merged what, when (members.absorb).
    Any refusal (itself, unknown, already merged or forgotten) undoes all three."""
    moved = {"orders": orders.reassign_member(uow, source_id, target_id)}
    promotions.reassign_member(uow, source_id, target_id)
    return members.absorb(uow, target_id, source_id, moved)


def forget(uow: UnitOfWork, member_id: str) -> Member:
    """被遗忘权: the person's data goes, the money stays.

    1. the member's orders drop the phone or e-mail they were placed with (they keep the
       member id, their lines, payments and refunds);
    2. the member centre erases name, birthday, identities and ticket text, withdraws
       every consent and keeps the member row and its points ledger (members.erase)."""
    orders.anonymise_member(uow, member_id)
    return members.erase(uow, member_id)


def open_ticket(uow: UnitOfWork, cmd: TicketIn) -> Ticket:
    """客服工单 about a member, one of their orders, or both; an order names its member
    when the ticket does not, and must be that member's when both are given."""
    order = _order(uow, cmd.order_id) if cmd.order_id else None
    member = members.find(uow, cmd.member) if cmd.member else None
    if cmd.member and member is None:
        raise ValidationFailed("member", "no member answers to this reference")
    if member is None and order is not None:
        member = members.member_of_order(uow, order)
    if member and order and order.member_id and order.member_id != member.id:
        raise ValidationFailed("order_id", "the order is another member's")
    return members.open_ticket(uow, cmd, member.id if member else None, order.id if order else None)


def _order(uow: UnitOfWork, order_id: str) -> SalesOrder:
    try:
        return orders.get(uow, order_id)
    except NotFound as exc:
        raise ValidationFailed("order_id", f"unknown order {order_id}") from exc


def view_360(uow: UnitOfWork, member_id: str) -> Member360Out:
    """会员360: identities, consents, tier, points (balance, lots, recent ledger), recent
    orders and tickets, coupons and the members merged into this one."""
    member = members.get(uow, member_id)
    tier = members.tier_of(uow, member)
    keys = [member.id, member.code, *(x.value for x in members.identities_of(uow, member.id))]
    return Member360Out(
        member=members.describe(uow, member),
        tier=TierOut.model_validate(tier) if tier else None,
        points=members.points_view(uow, member, limit=RECENT),
        orders=[MemberOrderOut.model_validate(o) for o in orders.of_member(uow, member.id, RECENT)],
        tickets=[TicketOut.model_validate(t) for t in members.tickets_of(uow, member.id, RECENT)],
        coupons=[CouponOut.model_validate(c) for c in promotions.coupons_of(uow, keys)],
        merges=[MergeOut.model_validate(m) for m in members.merges_into(uow, member.id)],
    )
