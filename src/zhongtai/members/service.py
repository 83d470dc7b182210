"""Use cases of the member centre (会员通); each runs inside the caller's unit of work, so
points move in the same transaction as the order, payment or return that moves them.

Every change of a member's points locks the member row first (`_locked`): two burns of
one member take turns, and the check that enough is held is made under the lock. The
order centre locks the order before the member, and so does every path here that
touches both (a merge re-points the orders first), so the two never wait in a cycle.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from datetime import date, timedelta
from typing import Any

from sqlalchemy import or_, select, update

from zhongtai.catalog import service as catalog
from zhongtai.inventory import service as inventory
from zhongtai.members import model
from zhongtai.members.model import EntryKind, MemberStatus
from zhongtai.members.schemas import (
    AdjustIn,
    ConsentIn,
    ConsentOut,
    EarnRuleIn,
    EntryOut,
    IdentityIn,
    IdentityOut,
    LotOut,
    MemberIn,
    MemberOut,
    MemberPatch,
    MemberQuery,
    NoteIn,
    NoteOut,
    PointsOut,
    PointsSettingsIn,
    RedeemIn,
    TicketIn,
    TicketMoveIn,
    TicketOut,
    TicketQuery,
    TierIn,
)
from zhongtai.members.store import (
    EarnRuleRow,
    Member,
    MemberConsent,
    MemberIdentity,
    MemberMerge,
    MemberTier,
    PointsEntry,
    PointsLot,
    PointsSettings,
    Ticket,
    TicketNote,
    TierActivity,
)
from zhongtai.orders.model import allocate
from zhongtai.orders.store import SalesOrder, SalesOrderLine
from zhongtai.org import service as org
from zhongtai.payments.model import PaymentStatus
from zhongtai.payments.store import Payment
from zhongtai.platform.db import Database
from zhongtai.platform.errors import Conflict, ValidationFailed
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.uow import UnitOfWork, for_each

ERASED = "[erased]"  # what personal free text becomes when a member is forgotten


class NotEnoughPoints(Conflict):
    type, title = "not-enough-points", "Not enough points"


# --- members and identities (会员档案) -----------------------------------------------------


def register(uow: UnitOfWork, cmd: MemberIn) -> Member:
    """注册 in any channel: the card number from the coding rules, each identity held by
    one member only (409 naming the field otherwise), the consents given, and the entry
    tier if the tenant has one."""
    org.require_entry(uow, "channel", cmd.channel, "channel")
    given = [(field, kind, _normal(kind, value, field)) for field, kind, value in cmd.identities()]
    if not given:
        raise ValidationFailed("phone", "give a phone, e-mail, WeChat id or card number")
    for field, kind, value in given:
        if _holder(uow, kind, value) is not None:
            raise Conflict(f"this {kind.value} belongs to another member", field=field)
    store_id = inventory.resolve_location(uow, cmd.store, "store")[1].id if cmd.store else None
    member = Member(
        code=org.next_code(uow, "member"),
        status=MemberStatus.active.value,
        name=cmd.name,
        channel=cmd.channel,
        store_id=store_id,
        points_balance=0,
    )
    _set_birthday(member, cmd.birthday)
    uow.session.add(member)
    uow.session.flush()
    uow.session.add_all(
        MemberIdentity(member_id=member.id, kind=kind.value, value=value)
        for _field, kind, value in given
    )
    uow.emit(
        "member.registered",
        {
            "id": member.id,
            "code": member.code,
            "channel": cmd.channel,
            "store_id": store_id,
            "identities": sorted(kind.value for _f, kind, _v in given),
        },
        subject=member.id,
    )
    for consent in cmd.consents:
        _consent(uow, member, consent)
    _set_tier(uow, member, _qualified(uow, member), "registered")
    return member


def _normal(kind: model.IdentityKind, value: str, field: str) -> str:
    try:
        return model.normalise(kind, value)
    except ValueError as exc:
        raise ValidationFailed(field, str(exc)) from exc


def _holder(uow: UnitOfWork, kind: model.IdentityKind, value: str) -> MemberIdentity | None:
    query = select(MemberIdentity).where(
        MemberIdentity.kind == kind.value, MemberIdentity.value == value
    )
    return uow.session.scalars(query).first()


def _set_birthday(member: Member, day: date | None) -> None:
    member.birthday = day
    member.birthday_md = model.birthday_key(day) if day else None


def get(uow: UnitOfWork, member_id: str) -> Member:
    return uow.get(Member, member_id, "member")


def _locked(uow: UnitOfWork, member_id: str) -> Member:
    """The member, locked: changes of one member's points and profile take turns."""
    member = get(uow, member_id)
    uow.session.refresh(member, with_for_update=True)
    return member


def _active(member: Member, field: str = "member_id") -> Member:
    if member.status != MemberStatus.active:
        raise Conflict(f"member {member.id} is {member.status}", field=field)
    return member


def find(uow: UnitOfWork, ref: str) -> Member | None:
    """The member a free reference names (an order's `member`): a member id, a card
    number or any identity (phone in any usual spelling, e-mail, WeChat id), followed
    through a merge to the member that survived it."""
    forms = model.forms(ref)
    member = uow.session.scalars(
        select(Member).where(or_(Member.id.in_(forms), Member.code.in_(forms)))
    ).first()
    if member is None:
        member = uow.session.scalars(
            select(Member)
            .join(MemberIdentity, MemberIdentity.member_id == Member.id)
            .where(MemberIdentity.value.in_(forms))
            .order_by(MemberIdentity.id)
        ).first()
    return survivor(uow, member) if member else None


def survivor(uow: UnitOfWork, member: Member) -> Member:
    """The member itself, or the one it was merged into (merges are kept one hop deep)."""
    return get(uow, member.merged_into) if member.merged_into else member


def profile(uow: UnitOfWork, ref: str) -> model.MemberProfile | None:
    """What checkout needs about the member a reference names; None when it names no
    active member (unknown, or forgotten)."""
    member = find(uow, ref)
    if member is None or member.status != MemberStatus.active:
        return None
    tier = _tier_row(uow, member.tier)
    return model.MemberProfile(
        member_id=member.id,
        code=member.code,
        tier=member.tier,
        discount_bp=tier.discount_bp if tier else 0,
        free_delivery=bool(tier and tier.free_delivery),
        points_balance=member.points_balance,
    )


def search(uow: UnitOfWork, q: MemberQuery) -> list[Member]:
    """Members by any reference (`q`), or all, oldest first with a cursor."""
    if q.q:
        found = find(uow, q.q)
        return [found] if found and q.tier in (None, found.tier) else []
    query = select(Member).order_by(Member.id).limit(q.limit)
    if q.tier:
        query = query.where(Member.tier == q.tier)
    if q.after:
        query = query.where(Member.id > q.after)
    return list(uow.session.scalars(query).all())


def update_member(uow: UnitOfWork, member_id: str, patch: MemberPatch) -> Member:
    member = _active(_locked(uow, member_id))
    if "name" in patch.model_fields_set:
        member.name = patch.name
    if "birthday" in patch.model_fields_set:
        _set_birthday(member, patch.birthday)
    uow.emit(
        "member.updated",
        {"id": member.id, "fields": sorted(patch.model_fields_set)},
        subject=member.id,
    )
    return member


def identities_of(uow: UnitOfWork, member_id: str) -> list[MemberIdentity]:
    query = select(MemberIdentity).where(MemberIdentity.member_id == member_id)
    return list(uow.session.scalars(query.order_by(MemberIdentity.id)).all())


def add_identity(uow: UnitOfWork, member_id: str, cmd: IdentityIn) -> Member:
    """One more way to recognise the member (a new phone, a WeChat app's open id). The
    same identity again changes nothing; another member's is 409: merge them instead."""
    member = _active(_locked(uow, member_id))
    value = _normal(cmd.kind, cmd.value, "value")
    held = _holder(uow, cmd.kind, value)
    if held is not None and held.member_id == member.id:
        return member
    if held is not None:
        raise Conflict(
            f"this {cmd.kind.value} belongs to another member; merge the two", field="value"
        )
    uow.session.add(MemberIdentity(member_id=member.id, kind=cmd.kind.value, value=value))
    uow.emit("member.identity_added", {"id": member.id, "kind": cmd.kind.value}, subject=member.id)
    return member


def remove_identity(uow: UnitOfWork, member_id: str, identity_id: str) -> Member:
    member = _active(_locked(uow, member_id))
    identity = uow.one(
        select(MemberIdentity).where(
            MemberIdentity.id == identity_id, MemberIdentity.member_id == member.id
        ),
        f"identity {identity_id}",
    )
    uow.session.delete(identity)
    uow.emit("member.identity_removed", {"id": member.id, "kind": identity.kind}, subject=member.id)
    return member


# --- consents (授权) ----------------------------------------------------------------------


def record_consent(uow: UnitOfWork, member_id: str, cmd: ConsentIn) -> Member:
    member = _active(_locked(uow, member_id))
    _consent(uow, member, cmd)
    return member


def _consent(uow: UnitOfWork, member: Member, cmd: ConsentIn) -> None:
    """Each grant or withdrawal is kept as evidence; the latest per purpose holds."""
    if cmd.channel:
        org.require_entry(uow, "channel", cmd.channel, "channel")
    uow.session.add(
        MemberConsent(
            member_id=member.id,
            purpose=cmd.purpose.value,
            granted=cmd.granted,
            channel=cmd.channel,
            actor_id=uow.actor_id,
            at=utcnow(),
        )
    )
    uow.emit(
        "member.consent_recorded",
        {"id": member.id, "purpose": cmd.purpose.value, "granted": cmd.granted},
        subject=member.id,
    )


def consents_of(uow: UnitOfWork, member_id: str) -> list[MemberConsent]:
    """The consent in force for each purpose: the latest record."""
    query = select(MemberConsent).where(MemberConsent.member_id == member_id)
    latest = {c.purpose: c for c in uow.session.scalars(query.order_by(MemberConsent.id))}
    return sorted(latest.values(), key=lambda c: c.purpose)


# --- tiers (会员等级) ---------------------------------------------------------------------


def set_tier(uow: UnitOfWork, code: str, cmd: TierIn) -> MemberTier:
    """A tier's thresholds and benefits. Members move up under the new rules at their next
    qualifying order, and down only at their review."""
    row = uow.put(MemberTier, {"code": code}, **cmd.model_dump())
    uow.emit("member_tier.changed", {"code": code, **cmd.model_dump()})
    return row


def tiers(uow: UnitOfWork) -> list[MemberTier]:
    query = select(MemberTier).order_by(MemberTier.rank, MemberTier.code)
    return list(uow.session.scalars(query).all())


def get_tier(uow: UnitOfWork, code: str) -> MemberTier:
    return uow.one(select(MemberTier).where(MemberTier.code == code), f"member tier {code}")


def tier_of(uow: UnitOfWork, member: Member) -> MemberTier | None:
    return _tier_row(uow, member.tier)


def _tier_row(uow: UnitOfWork, code: str | None) -> MemberTier | None:
    return uow.session.scalars(select(MemberTier).where(MemberTier.code == code)).first()


def _rules(uow: UnitOfWork) -> dict[str, model.TierRule]:
    return {
        t.code: model.TierRule(t.code, t.rank, t.min_spend, t.min_points, t.window_days)
        for t in tiers(uow)
    }


def _qualified(uow: UnitOfWork, member: Member) -> model.TierRule | None:
    """The tier the member's activity within each tier's window earns now."""
    rules = _rules(uow)
    if not rules:
        return None
    now = utcnow()
    since = now - timedelta(days=max(r.window_days for r in rules.values()))
    query = select(TierActivity).where(
        TierActivity.member_id == member.id, TierActivity.at >= since
    )
    activity = [model.Activity(a.at, a.spend, a.points) for a in uow.session.scalars(query)]
    return model.qualifying(rules.values(), activity, now)


def _set_tier(uow: UnitOfWork, member: Member, rule: model.TierRule | None, why: str) -> None:
    """Hold `rule`'s tier until a review one window from now."""
    now = utcnow()
    member.tier_review_at = now + timedelta(days=rule.window_days) if rule else None
    code = rule.code if rule else None
    if code == member.tier:
        return
    previous, member.tier, member.tier_since = member.tier, code, now
    uow.emit(
        "member.tier_changed",
        {"id": member.id, "from": previous, "to": code, "why": why},
        subject=member.id,
    )


def _upgrade(uow: UnitOfWork, member: Member) -> None:
    """升级 at once after a qualifying event; never down (that waits for the review)."""
    current = _rules(uow).get(member.tier or "")
    better = model.upgraded(current, _qualified(uow, member))
    if better is not None and better != current:
        _set_tier(uow, member, better, "upgrade")


def review(uow: UnitOfWork, member_id: str) -> Member:
    """定级复核: the member holds the tier their activity in its window earns now, up or
    down; the next review is one window later."""
    member = _active(_locked(uow, member_id))
    _set_tier(uow, member, _qualified(uow, member), "review")
    uow.emit("member.tier_reviewed", {"id": member.id, "tier": member.tier}, subject=member.id)
    return member


def review_due(db: Database, limit: int = 200) -> int:
    """Relay job: members whose tier is due for review are reviewed (降级 happens here)."""
    due = (
        select(Member.id, Member.tenant_id)
        .where(Member.tier_review_at <= utcnow(), Member.status == MemberStatus.active.value)
        .limit(limit)
    )
    return for_each(db, due, review)


def birthdays_due(db: Database, work: Callable[[UnitOfWork, str], object], limit: int = 200) -> int:
    """Relay pass: `work` for each active member whose birthday (Asia/Shanghai) is today
    and not yet celebrated this year."""
    today = utcnow().astimezone(model.ZONE).date()
    due = (
        select(Member.id, Member.tenant_id)
        .where(
            Member.birthday_md.in_(model.birthday_keys(today)),
            or_(Member.birthday_year.is_(None), Member.birthday_year < today.year),
            Member.status == MemberStatus.active.value,
        )
        .limit(limit)
    )
    return for_each(db, due, work)


def celebrate(uow: UnitOfWork, member_id: str) -> str | None:
    """Mark this year's birthday celebrated (once a year); the code of the coupon
    template the member's tier gives on it, if any (生日礼券)."""
    member = _locked(uow, member_id)
    year = utcnow().astimezone(model.ZONE).year
    if member.birthday_year == year:
        return None  # celebrated meanwhile
    member.birthday_year = year
    tier = _tier_row(uow, member.tier)
    return tier.birthday_coupon if tier is not None else None


# --- points policy (积分规则) --------------------------------------------------------------


def settings_of(uow: UnitOfWork) -> PointsSettings:
    """The tenant's points policy, or the defaults (unsaved): 100 points pay a yuan, a
    yuan paid earns a point, points expire at the end of the 12th month after."""
    row = uow.session.scalars(select(PointsSettings)).first()
    return row or PointsSettings(**PointsSettingsIn().model_dump())


def set_settings(uow: UnitOfWork, cmd: PointsSettingsIn) -> PointsSettings:
    row = uow.put(PointsSettings, {}, **cmd.model_dump())
    uow.emit("points.settings_changed", cmd.model_dump())
    return row


def set_earn_rule(uow: UnitOfWork, code: str, cmd: EarnRuleIn) -> EarnRuleRow:
    if cmd.valid_from and cmd.valid_to and cmd.valid_to <= cmd.valid_from:
        raise ValidationFailed("valid_to", "must be after valid_from")
    if cmd.channel:
        org.require_entry(uow, "channel", cmd.channel, "channel")
    category = catalog.existing_category(uow, cmd.category, "category") if cmd.category else None
    row = uow.put(
        EarnRuleRow,
        {"code": code},
        points_per_yuan=cmd.points_per_yuan,
        channel=cmd.channel,
        category_id=category.id if category else None,
        valid_from=cmd.valid_from,
        valid_to=cmd.valid_to,
    )
    uow.emit("points.rule_changed", {"code": code, "points_per_yuan": cmd.points_per_yuan})
    return row


def earn_rules(uow: UnitOfWork) -> list[EarnRuleRow]:
    return list(uow.session.scalars(select(EarnRuleRow).order_by(EarnRuleRow.code)).all())


# --- the points ledger (积分账本) ---------------------------------------------------------


def _held(uow: UnitOfWork, member_id: str) -> list[PointsLot]:
    query = select(PointsLot).where(PointsLot.member_id == member_id, PointsLot.remaining > 0)
    return list(uow.session.scalars(query).all())


def _snapshot(lots: Sequence[PointsLot]) -> list[model.Lot]:
    return [model.Lot(lot.id, lot.remaining, lot.expires_at) for lot in lots]


def _apply(lots: Sequence[PointsLot], takes: Sequence[model.Take], sign: int) -> None:
    by_id = {lot.id: lot for lot in lots}
    for lot_id, n in takes:
        by_id[lot_id].remaining += sign * n


def _post(
    uow: UnitOfWork,
    member: Member,
    kind: EntryKind,
    points: int,
    detail: dict[str, Any],
    **fields: Any,
) -> PointsEntry:
    """One ledger entry, with the balance after it; the balance is the ledger's sum."""
    member.points_balance += points
    entry = PointsEntry(
        member_id=member.id,
        kind=kind.value,
        points=points,
        balance=member.points_balance,
        detail=detail,
        actor_id=uow.actor_id,
        at=utcnow(),
        **fields,
    )
    uow.session.add(entry)
    uow.session.flush()
    uow.emit(
        model.EVENTS[kind],
        {
            "id": entry.id,
            "member_id": member.id,
            "kind": kind.value,
            "points": points,
            "balance": entry.balance,
            "order_id": entry.order_id,
        },
        subject=member.id,
    )
    return entry


def _credit(
    uow: UnitOfWork,
    member: Member,
    kind: EntryKind,
    points: int,
    detail: dict[str, Any],
    **fields: Any,
) -> PointsEntry:
    """Points coming in as a new lot with the policy's expiry; what the member owes is
    paid first, only the rest is spendable."""
    lot_id = new_id() if points > 0 else None
    spendable = model.into_lots(member.points_balance, points)
    entry = _post(uow, member, kind, points, {**detail, "lot": lot_id}, **fields)
    if lot_id is not None:
        expires = model.expiry(entry.at, settings_of(uow).validity_months)
        uow.session.add(
            PointsLot(
                id=lot_id,
                member_id=member.id,
                entry_id=entry.id,
                points=points,
                remaining=spendable,
                expires_at=expires,
            )
        )
    return entry


def _debit(
    uow: UnitOfWork,
    member: Member,
    kind: EntryKind,
    points: int,
    takes: list[model.Take],
    lots: Sequence[PointsLot],
    detail: dict[str, Any],
    **fields: Any,
) -> PointsEntry:
    _apply(lots, takes, -1)
    return _post(uow, member, kind, -points, {**detail, "lots": takes}, **fields)


def _spend(
    uow: UnitOfWork, member_id: str, kind: EntryKind, points: int, field: str, **fields: Any
) -> PointsEntry:
    """Points leave the balance, first-expiring first, under the member's lock; never
    more than held (409 `not-enough-points` naming `field`)."""
    member = _active(_lock_survivor(uow, member_id))
    lots = _held(uow, member.id)
    try:
        takes = model.draw(_snapshot(lots), points)
    except model.NotEnoughPoints as exc:
        raise NotEnoughPoints(str(exc), field=field, held=exc.held) from exc
    return _debit(uow, member, kind, points, takes, lots, {}, **fields)


def redeem(uow: UnitOfWork, member_id: str, cmd: RedeemIn) -> PointsEntry:
    """积分兑换: points spent on a gift or a service rather than an order."""
    return _spend(uow, member_id, EntryKind.burn, cmd.points, "points", reason=cmd.reason)


def adjust(uow: UnitOfWork, member_id: str, cmd: AdjustIn) -> PointsEntry:
    """积分调整 by a person, with the reason: points given are a new lot; points taken
    come from what is held (never below zero)."""
    if cmd.points == 0:
        raise ValidationFailed("points", "must not be zero")
    if cmd.points < 0:
        return _spend(uow, member_id, EntryKind.adjust, -cmd.points, "points", reason=cmd.reason)
    member = _active(_lock_survivor(uow, member_id))
    return _credit(uow, member, EntryKind.adjust, cmd.points, {}, reason=cmd.reason)


def expire(uow: UnitOfWork, member_id: str) -> PointsEntry | None:
    """积分过期: what the member's lots past their period end still hold leaves the
    balance in one entry."""
    member = _locked(uow, member_id)
    lots = _held(uow, member.id)
    takes = model.due(_snapshot(lots), utcnow())
    if not takes:
        return None
    points = sum(n for _lot, n in takes)
    return _debit(uow, member, EntryKind.expire, points, takes, lots, {}, reason="period end")


def expire_due(db: Database, limit: int = 200) -> int:
    """Relay job: members holding points past their period end."""
    due = (
        select(PointsLot.member_id, PointsLot.tenant_id)
        .where(PointsLot.remaining > 0, PointsLot.expires_at <= utcnow())
        .distinct()
        .limit(limit)
    )
    return for_each(db, due, expire)


def lots_of(uow: UnitOfWork, member_id: str) -> list[PointsLot]:
    """The lots still holding points, in the order they will be spent."""
    lots = {lot.id: lot for lot in _held(uow, member_id)}
    return [lots[lot.id] for lot in model.fifo(_snapshot(list(lots.values())))]


def ledger(
    uow: UnitOfWork, member_id: str, before: str | None = None, limit: int = 50
) -> list[PointsEntry]:
    """积分流水, newest first; `before` pages back from an entry id."""
    query = select(PointsEntry).where(PointsEntry.member_id == member_id)
    if before:
        query = query.where(PointsEntry.id < before)
    return list(uow.session.scalars(query.order_by(PointsEntry.id.desc()).limit(limit)).all())


def _entries(uow: UnitOfWork, kind: EntryKind, **where: str) -> list[PointsEntry]:
    query = select(PointsEntry).filter_by(kind=kind.value, **where).order_by(PointsEntry.id)
    return list(uow.session.scalars(query).all())


def _lock_survivor(uow: UnitOfWork, member_id: str) -> Member:
    """The member, or the one it was merged into (perhaps while we waited for the lock),
    locked: points follow a merge."""
    member = _locked(uow, member_id)
    return _locked(uow, member.merged_into) if member.merged_into else member


# --- points and orders (积分与订单) --------------------------------------------------------


def member_of_order(uow: UnitOfWork, order: SalesOrder) -> Member | None:
    """The active member an order belongs to: the one it resolved to at checkout (or
    that member's survivor after a merge), else whoever its reference names today."""
    ref = order.member_id or order.member
    member = find(uow, ref) if ref else None
    return member if member and member.status == MemberStatus.active else None


def earn_for_order(
    uow: UnitOfWork, order: SalesOrder, lines: Sequence[SalesOrderLine], points_paid: int
) -> PointsEntry | None:
    """积分获取 when an order is paid, in its transaction: each line earns at the most
    specific earn rule on the money paid for it (its net less its share of `points_paid`,
    the fen paid with points, which earn nothing); the spend and points count towards the
    tiers, and the member moves up at once if they now qualify. An order without an
    active member earns nothing; an order earns once."""
    member = member_of_order(uow, order)
    if member is None or _entries(uow, EntryKind.earn, order_id=order.id):
        return None
    shares = allocate(points_paid, [line.net for line in lines])
    bases = {line.id: line.net - paid for line, paid in zip(lines, shares, strict=True)}
    paths = catalog.category_paths(uow, {line.sku_id for line in lines})
    rules = [
        model.EarnRule(r.id, r.points_per_yuan, r.channel, r.category_id, r.valid_from, r.valid_to)
        for r in earn_rules(uow)
    ]
    earned = model.earn(
        [model.EarnLine(x.id, paths.get(x.sku_id, ""), bases[x.id]) for x in lines],
        order.channel,
        utcnow(),
        rules,
        settings_of(uow).earn_per_yuan,
    )
    member = _lock_survivor(uow, member.id)
    detail = {"lines": {x.id: [x.qty, earned[x.id], bases[x.id]] for x in lines}}
    total = sum(earned.values())
    entry = _credit(
        uow,
        member,
        EntryKind.earn,
        total,
        detail,
        order_id=order.id,
        reason=f"order {order.number}",
    )
    uow.session.add(
        TierActivity(
            member_id=member.id,
            order_id=order.id,
            spend=sum(bases.values()),
            points=total,
            at=entry.at,
        )
    )
    uow.session.flush()
    _upgrade(uow, member)
    return entry


def reverse_for_refund(
    uow: UnitOfWork, order_id: str, units: Mapping[str, int] | None, reference: str
) -> PointsEntry | None:
    """积分冲回: units of a paid order coming back (`units` by order line id: returned or
    never sent; None: the whole order cancelled) take back the points they earned, each
    line's cumulative share to the point (taking back every unit, in any steps, takes
    back exactly what was earned), and their spend leaves the tier progress. Points
    already spent are owed: the balance goes below zero until new points pay it."""
    earned = _entries(uow, EntryKind.earn, order_id=order_id)
    if not earned:
        return None
    lines: dict[str, list[int]] = earned[0].detail["lines"]
    before = Counter[str]()
    for entry in _entries(uow, EntryKind.reverse, order_id=order_id):
        before.update(entry.detail["units"])
    asked = units if units is not None else {x: q - before[x] for x, (q, _p, _b) in lines.items()}
    back = {x: n for x, n in asked.items() if n > 0 and x in lines}
    if not back:
        return None
    points = sum(model.share(lines[x][1], lines[x][0], before[x], n) for x, n in back.items())
    spend = sum(model.share(lines[x][2], lines[x][0], before[x], n) for x, n in back.items())
    member = _lock_survivor(uow, earned[0].member_id)
    lots = _held(uow, member.id)
    takes = model.claw_back(_snapshot(lots), points, earned[0].detail.get("lot"))
    entry = _debit(
        uow,
        member,
        EntryKind.reverse,
        points,
        takes,
        lots,
        {"units": back},
        order_id=order_id,
        reference=reference,
        reason="returned",
    )
    uow.session.add(
        TierActivity(
            member_id=member.id, order_id=order_id, spend=-spend, points=-points, at=entry.at
        )
    )
    return entry


def pay_with_points(uow: UnitOfWork, order: SalesOrder, payment: Payment) -> PointsEntry:
    """积分抵现: a `points` tender spends the order member's points in the payment's
    transaction, at the tenant's rate (100 points a yuan unless set otherwise)."""
    if payment.status != PaymentStatus.captured:
        raise ValidationFailed("capture", "points are spent at once: capture must be true")
    member = member_of_order(uow, order)
    if member is None:
        raise ValidationFailed("provider", "only an order of a member can be paid with points")
    try:
        points = model.points_for(payment.amount, settings_of(uow).points_per_yuan)
    except ValueError as exc:
        raise ValidationFailed("amount", str(exc)) from exc
    return _spend(
        uow,
        member.id,
        EntryKind.burn,
        points,
        "amount",
        amount=payment.amount,
        order_id=order.id,
        reference=payment.id,
        reason=f"order {order.number}",
    )


def refund_points(uow: UnitOfWork, payment: Payment) -> PointsEntry | None:
    """积分退回: money refunded to a points tender (after `payments.refund`) gives back
    the points it spent, the cumulative share of what is refunded so far (refunding it
    all gives back every point), into the lots they came from with their own expiry:
    points past it expire at the next pass, as they would have."""
    burned = _entries(uow, EntryKind.burn, reference=payment.id)
    if not burned:
        return None
    given = _entries(uow, EntryKind.restore, reference=payment.id)
    before = sum(e.amount or 0 for e in given)
    refunded = payment.refunded - before
    if refunded <= 0:
        return None
    points = model.share(-burned[0].points, payment.amount, before, refunded)
    member = _lock_survivor(uow, burned[0].member_id)
    restored = Counter[str]()
    for entry in given:
        restored.update({lot: n for lot, n in entry.detail["lots"]})
    taken = [(lot, n) for lot, n in burned[0].detail["lots"]]
    takes = model.restore(taken, restored, model.into_lots(member.points_balance, points))
    query = select(PointsLot).where(PointsLot.id.in_([lot for lot, _n in takes]))
    lots = list(uow.session.scalars(query))
    _apply(lots, takes, +1)
    return _post(
        uow,
        member,
        EntryKind.restore,
        points,
        {"lots": takes},
        amount=refunded,
        order_id=burned[0].order_id,
        reference=payment.id,
        reason="refunded",
    )


# --- merge (账号融合) and forget (被遗忘权): the member centre's own part -------------------


def _move(uow: UnitOfWork, table: Any, column: Any, source: str, target: str) -> int:
    done = uow.session.execute(
        update(table)
        .where(column == source)
        .values({column.key: target})
        .execution_options(synchronize_session=False)
    )
    return int(done.rowcount)  # type: ignore[attr-defined]


def absorb(
    uow: UnitOfWork, target_id: str, source_id: str, moved: Mapping[str, int]
) -> MemberMerge:
    """The member centre's part of 账号融合: identities, consents, tickets, tier progress
    and points lots (each with its own expiry) move from `source` to `target`; the
    source's balance moves over in a pair of entries, so each ledger still sums to its
    balance; the better tier of the two stays (and the combined progress may lift it);
    the source is `merged` and resolves to the target from now on. `moved` counts what
    other centres moved (orders, coupons) for the audit record."""
    if target_id == source_id:
        raise ValidationFailed("source", "a member cannot be merged into itself")
    get(uow, target_id)
    if uow.session.scalars(select(Member.id).where(Member.id == source_id)).first() is None:
        raise ValidationFailed("source", f"unknown member {source_id}")
    first, second = sorted((target_id, source_id))
    locked = {first: _locked(uow, first), second: _locked(uow, second)}
    target, source = _active(locked[target_id]), _active(locked[source_id], "source")
    counts = dict(moved)
    for name, table, column in (
        ("identities", MemberIdentity, MemberIdentity.member_id),
        ("consents", MemberConsent, MemberConsent.member_id),
        ("tickets", Ticket, Ticket.member_id),
        ("tier_activity", TierActivity, TierActivity.member_id),
        ("points_lots", PointsLot, PointsLot.member_id),
        ("merged_before", Member, Member.merged_into),
    ):
        counts[name] = _move(uow, table, column, source.id, target.id)
    counts["points"] = _move_points(uow, source, target)
    target.name = target.name or source.name
    if target.birthday is None and source.birthday is not None:
        _set_birthday(target, source.birthday)
    rules = _rules(uow)
    better = model.upgraded(rules.get(target.tier or ""), rules.get(source.tier or ""))
    if better is not None and better.code != target.tier:
        _set_tier(uow, target, better, "merge")
    _upgrade(uow, target)
    source.status, source.merged_into = MemberStatus.merged.value, target.id
    source.tier = source.tier_review_at = None
    row = MemberMerge(target_id=target.id, source_id=source.id, actor_id=uow.actor_id)
    row.moved, row.at = counts, utcnow()
    uow.session.add(row)
    uow.session.flush()
    uow.emit(
        "member.merged",
        {"id": row.id, "target_id": target.id, "source_id": source.id, "moved": counts},
        subject=target.id,
    )
    return row


def _move_points(uow: UnitOfWork, source: Member, target: Member) -> int:
    """The source's balance leaves its ledger and enters the target's; if either owed
    points, the lots (now all the target's) pay it so they hold max(balance, 0)."""
    points = source.points_balance
    if points == 0:
        return 0
    _post(uow, source, EntryKind.merged_out, -points, {}, reference=target.id)
    entry = _post(uow, target, EntryKind.merged_in, points, {}, reference=source.id)
    lots = _held(uow, target.id)
    takes = model.settle(_snapshot(lots), target.points_balance)
    _apply(lots, takes, -1)
    entry.detail = {"lots_settled": takes}
    return points


def erase(uow: UnitOfWork, member_id: str) -> Member:
    """The member centre's part of the 被遗忘权: name, birthday and every identity go,
    consents are withdrawn, tickets' free text is erased; the member row (its id and
    card number), the points ledger and its sums stay, as do orders and money."""
    member = _active(_locked(uow, member_id))
    for identity in identities_of(uow, member.id):
        uow.session.delete(identity)
    tickets = select(Ticket.id).where(Ticket.member_id == member.id)
    uow.session.execute(
        update(TicketNote)
        .where(TicketNote.ticket_id.in_(tickets))
        .values(text=ERASED)
        .execution_options(synchronize_session=False)
    )
    uow.session.execute(
        update(Ticket)
        .where(Ticket.member_id == member.id)
        .values(subject=ERASED, description=ERASED)
        .execution_options(synchronize_session=False)
    )
    for purpose in model.ConsentPurpose:
        _consent(uow, member, ConsentIn(purpose=purpose, granted=False))
    member.name = None
    _set_birthday(member, None)
    member.status, member.forgotten_at = MemberStatus.forgotten.value, utcnow()
    member.tier = member.tier_review_at = None
    uow.emit(
        "member.forgotten",
        {"id": member.id, "code": member.code},
        subject=member.id,
    )
    return member


def merges_into(uow: UnitOfWork, member_id: str) -> list[MemberMerge]:
    query = select(MemberMerge).where(MemberMerge.target_id == member_id)
    return list(uow.session.scalars(query.order_by(MemberMerge.id)).all())


# --- customer service (客户服务) -----------------------------------------------------------


def open_ticket(
    uow: UnitOfWork, cmd: TicketIn, member_id: str | None, order_id: str | None
) -> Ticket:
    """客服工单 for a member and/or an order (resolved by the caller)."""
    if cmd.channel:
        org.require_entry(uow, "channel", cmd.channel, "channel")
    ticket = Ticket(
        number=org.next_code(uow, "ticket"),
        member_id=member_id,
        order_id=order_id,
        channel=cmd.channel,
        subject=cmd.subject,
        description=cmd.description,
        status=model.TicketStatus.open.value,
        actor_id=uow.actor_id,
    )
    uow.session.add(ticket)
    uow.session.flush()
    uow.emit(
        "ticket.opened",
        {"id": ticket.id, "number": ticket.number, "member_id": member_id, "order_id": order_id},
        subject=ticket.id,
    )
    return ticket


def get_ticket(uow: UnitOfWork, ticket_id: str) -> Ticket:
    return uow.get(Ticket, ticket_id, "ticket")


def notes_of(uow: UnitOfWork, ticket_id: str) -> list[TicketNote]:
    query = select(TicketNote).where(TicketNote.ticket_id == ticket_id)
    return list(uow.session.scalars(query.order_by(TicketNote.id)).all())


def search_tickets(uow: UnitOfWork, q: TicketQuery) -> list[Ticket]:
    """The ticket queue, newest first; `after` pages on from a ticket id."""
    query = select(Ticket).order_by(Ticket.id.desc()).limit(q.limit)
    for column, value in (
        (Ticket.member_id, q.member_id),
        (Ticket.order_id, q.order_id),
        (Ticket.status, q.status),
    ):
        if value:
            query = query.where(column == value)
    if q.after:
        query = query.where(Ticket.id < q.after)
    return list(uow.session.scalars(query).all())


def _locked_ticket(uow: UnitOfWork, ticket_id: str) -> Ticket:
    ticket = get_ticket(uow, ticket_id)
    uow.session.refresh(ticket, with_for_update=True)
    return ticket


def _note(uow: UnitOfWork, ticket: Ticket, text: str, status: str | None) -> TicketNote:
    note = TicketNote(
        ticket_id=ticket.id, text=text, status=status, actor_id=uow.actor_id, at=utcnow()
    )
    uow.session.add(note)
    ticket.updated_at = note.at
    uow.session.flush()
    return note


def add_note(uow: UnitOfWork, ticket_id: str, cmd: NoteIn) -> Ticket:
    ticket = _locked_ticket(uow, ticket_id)
    note = _note(uow, ticket, cmd.text, None)
    uow.emit("ticket.noted", {"id": ticket.id, "note_id": note.id}, subject=ticket.id)
    return ticket


def move_ticket(uow: UnitOfWork, ticket_id: str, cmd: TicketMoveIn) -> Ticket:
    """Open -> in progress -> waiting on the customer -> resolved -> closed (or reopened);
    see model.MOVES. The move is a note of its own."""
    ticket = _locked_ticket(uow, ticket_id)
    try:
        model.move(model.TicketStatus(ticket.status), cmd.to)
    except ValueError as exc:
        raise Conflict(str(exc), field="to") from exc
    previous, ticket.status = ticket.status, cmd.to.value
    _note(uow, ticket, cmd.note or f"{previous} -> {cmd.to.value}", cmd.to.value)
    uow.emit(
        "ticket.status_changed",
        {"id": ticket.id, "from": previous, "to": cmd.to.value},
        subject=ticket.id,
    )
    return ticket


def tickets_of(uow: UnitOfWork, member_id: str, limit: int) -> list[Ticket]:
    return search_tickets(uow, TicketQuery(member_id=member_id, limit=limit))


# --- views ------------------------------------------------------------------------------


def describe(uow: UnitOfWork, member: Member) -> MemberOut:
    """The member with their identities and the consents in force."""
    out = MemberOut.model_validate(member)
    out.identities = [IdentityOut.model_validate(x) for x in identities_of(uow, member.id)]
    out.consents = [ConsentOut.model_validate(c) for c in consents_of(uow, member.id)]
    return out


def points_view(
    uow: UnitOfWork, member: Member, before: str | None = None, limit: int = 50
) -> PointsOut:
    return PointsOut(
        member_id=member.id,
        balance=member.points_balance,
        lots=[LotOut.model_validate(x) for x in lots_of(uow, member.id)],
        entries=[EntryOut.model_validate(e) for e in ledger(uow, member.id, before, limit)],
    )


def describe_ticket(uow: UnitOfWork, ticket: Ticket) -> TicketOut:
    out = TicketOut.model_validate(ticket)
    out.notes = [NoteOut.model_validate(n) for n in notes_of(uow, ticket.id)]
    return out
