"""Use cases of the marketing centre: promotions and coupons, pricing a cart with them,
and taking their budgets, quotas and limits atomically when an order is placed."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, or_, select, update

from zhongtai.catalog import service as catalog
from zhongtai.inventory import service as inventory
from zhongtai.members import service as members
from zhongtai.org import service as org
from zhongtai.platform.db import dialect_insert
from zhongtai.platform.errors import Conflict, ValidationFailed
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.uow import UnitOfWork
from zhongtai.promotions import model
from zhongtai.promotions.schemas import (
    BenefitIn,
    CouponTemplateIn,
    IssueIn,
    PromotionIn,
    ScopeIn,
)
from zhongtai.promotions.store import (
    Coupon,
    CouponTemplate,
    MemberCount,
    PromotionRow,
    PromotionUse,
)

DEFAULT_GROUP = {
    model.Kind.threshold: model.Group.order,
    model.Kind.repeat_threshold: model.Group.order,
    model.Kind.free_delivery: model.Group.delivery,
    model.Kind.gift: model.Group.gift,
}
NOWHERE = frozenset({"-"})
MAX_REPRICE = 5  # budgets that run out between pricing and taking: re-price this often


class OverlappingExclusive(Conflict):
    type, title = "overlapping-exclusive", "Another exclusive promotion covers the same scope"


class CouponUnusable(Conflict):
    type, title = "coupon-unusable", "The coupon cannot be used"


class LimitReached(Conflict):
    type, title = "limit-reached", "A coupon or promotion limit is reached"


# --- promotions (促销活动) -----------------------------------------------------------------


def engine_promotion(row: PromotionRow, pid: str | None = None) -> model.Promotion:
    """The engine's view of a stored promotion; `pid` names it in a cart (coupons)."""
    b, s = row.params, row.scope
    return model.Promotion(
        promotion_id=pid or row.id,
        name=row.name,
        kind=model.Kind(row.kind),
        group=model.Group(row.group),
        scope=model.Scope(**{k: frozenset(v) for k, v in s.items()}),
        exclusive=row.exclusive,
        priority=row.priority,
        tiers=tuple(model.Tier(t["threshold"], t["discount"]) for t in b["tiers"]),
        gift_sku=b.get("gift_sku") or "",
        **{k: b[k] for k in _NUMBERS},
    )


_NUMBERS = (
    *("off_bp", "amount", "every", "minus", "buy", "get", "nth", "bundle_qty"),
    *("bundle_price", "min_spend", "price", "max_units", "gift_qty"),
)


def create(uow: UnitOfWork, cmd: PromotionIn) -> PromotionRow:
    """A new promotion, checked by the engine's own rules (e.g. a 满减 tier's discount must
    stay below its threshold) and against the catalogue, channels and stores it names."""
    if cmd.ends_at <= cmd.starts_at:
        raise ValidationFailed("ends_at", "must be after starts_at")
    if uow.session.scalar(select(PromotionRow.id).where(PromotionRow.code == cmd.code)):
        raise Conflict(f"promotion {cmd.code} exists", field="code")
    if cmd.quota is not None and cmd.kind is not model.Kind.fixed_price:
        raise ValidationFailed("quota", "a unit quota is for fixed_price (flash sale) only")
    _check_refs(uow, cmd)
    row = PromotionRow(
        id=new_id(),
        code=cmd.code,
        name=cmd.name,
        kind=cmd.kind.value,
        group=(cmd.group or DEFAULT_GROUP.get(cmd.kind, model.Group.item)).value,
        exclusive=cmd.exclusive,
        priority=cmd.priority,
        params=cmd.benefit.model_dump(mode="json"),
        scope=cmd.scope.model_dump(),
        channels=sorted(set(cmd.channels)),
        stores=sorted(set(cmd.stores)),
        member_tiers=sorted(set(cmd.member_tiers)),
        members_only=cmd.members_only or bool(cmd.member_tiers) or cmd.per_member is not None,
        coupon_only=cmd.coupon_only,
        starts_at=cmd.starts_at,
        ends_at=cmd.ends_at,
        budget=cmd.budget,
        quota=cmd.quota,
        per_member=cmd.per_member,
        holdout_bp=cmd.holdout_bp,
        status="active",
        created_by=uow.actor_id,
    )
    try:
        engine_promotion(row)
    except model.InvalidPromotion as exc:
        raise ValidationFailed(_field(exc.field), str(exc).split(": ", 1)[-1]) from exc
    if row.exclusive:
        _no_overlapping_exclusive(uow, row)
    uow.session.add(row)
    uow.session.flush()
    uow.emit("promotion.created", {"id": row.id, "code": row.code, "kind": row.kind})
    return row


def _field(engine_field: str) -> str:
    top = {"group", "promotion_id", "priority"}
    return engine_field if engine_field.split("[")[0] in top else f"benefit.{engine_field}"


def _check_refs(uow: UnitOfWork, cmd: PromotionIn) -> None:
    """Every code the promotion names exists: SKUs, categories, brands, channels, stores."""
    for name in ("skus", "categories", "brands"):
        for prefix in ("", "exclude_"):
            if missing := catalog.unknown_codes(uow, name, getattr(cmd.scope, prefix + name)):
                raise ValidationFailed(f"scope.{prefix}{name}", f"unknown {missing[0]}")
    gift = [cmd.benefit.gift_sku] if cmd.benefit.gift_sku else []
    if missing := catalog.unknown_codes(uow, "skus", gift):
        raise ValidationFailed("benefit.gift_sku", f"unknown SKU {missing[0]}")
    for i, channel in enumerate(cmd.channels):
        org.require_entry(uow, "channel", channel, f"channels[{i}]")
    for i, store in enumerate(cmd.stores):
        inventory.resolve_location(uow, store, f"stores[{i}]")


def _overlap(a: Sequence[str], b: Sequence[str]) -> bool:
    """Two where-lists (empty = everywhere) meet."""
    return not a or not b or bool(set(a) & set(b))


def _scopes_meet(a: dict[str, list[str]], b: dict[str, list[str]]) -> bool:
    """Conservative: both name lines of the same kind in common, or either covers every
    line. (A SKU in a named category of the other is not looked up: merchants name scopes
    the same way, and the engine stays correct either way.)"""
    dims = ("skus", "categories", "brands")
    everything = [not any(s[d] for d in dims) for s in (a, b)]
    return any(everything) or any(set(a[d]) & set(b[d]) for d in dims)


def _no_overlapping_exclusive(uow: UnitOfWork, row: PromotionRow) -> None:
    """Two exclusive promotions on the same lines, channels, stores and time would leave
    the merchant's intent to a tie-break: refused."""
    others = uow.session.scalars(
        select(PromotionRow).where(
            PromotionRow.exclusive.is_(True),
            PromotionRow.status == "active",
            PromotionRow.starts_at < row.ends_at,
            PromotionRow.ends_at > row.starts_at,
        )
    )
    for other in others:
        if (
            _overlap(row.channels, other.channels)
            and _overlap(row.stores, other.stores)
            and _overlap(row.member_tiers, other.member_tiers)
            and _scopes_meet(row.scope, other.scope)
        ):
            raise OverlappingExclusive(
                f"exclusive promotion {other.code} covers the same lines then", field="exclusive"
            )


def get(uow: UnitOfWork, promotion_id: str) -> PromotionRow:
    return uow.get(PromotionRow, promotion_id, "promotion")


def by_code(uow: UnitOfWork, code: str, where: str) -> PromotionRow:
    row = uow.session.scalars(select(PromotionRow).where(PromotionRow.code == code)).first()
    if row is None:
        raise ValidationFailed(where, f"unknown promotion {code}")
    return row


def list_promotions(uow: UnitOfWork, live_at: datetime | None) -> list[PromotionRow]:
    query = select(PromotionRow).order_by(PromotionRow.id)
    if live_at is not None:
        query = query.where(*_live(live_at))
    return list(uow.session.scalars(query))


def end(uow: UnitOfWork, promotion_id: str) -> PromotionRow:
    """Stop a promotion now (提前结束); orders already placed keep their discounts."""
    row = get(uow, promotion_id)
    if row.status != "active":
        raise Conflict(f"promotion is {row.status}", field="status")
    row.status = "ended"
    row.ends_at = min(row.ends_at, utcnow())
    uow.emit("promotion.ended", {"id": row.id, "code": row.code})
    return row


def as_out(row: PromotionRow) -> dict[str, Any]:
    data = {c: getattr(row, c) for c in _OUT_FIELDS}
    data["benefit"] = BenefitIn.model_validate(row.params)
    data["scope"] = ScopeIn.model_validate(row.scope)
    return data


_OUT_FIELDS = (
    *("id", "code", "name", "kind", "group", "exclusive", "priority", "channels", "stores"),
    *("member_tiers", "members_only", "coupon_only", "starts_at", "ends_at", "budget"),
    *("spent", "quota", "quota_used", "per_member", "holdout_bp", "status"),
)


def _live(at: datetime) -> list[ColumnElement[bool]]:
    return [
        PromotionRow.status == "active",
        PromotionRow.starts_at <= at,
        PromotionRow.ends_at > at,
    ]


# --- coupons (优惠券) ------------------------------------------------------------------------


def create_template(uow: UnitOfWork, cmd: CouponTemplateIn) -> CouponTemplate:
    if cmd.valid_to <= cmd.valid_from:
        raise ValidationFailed("valid_to", "must be after valid_from")
    promotion = by_code(uow, cmd.promotion, "promotion")
    if not promotion.coupon_only:
        raise ValidationFailed("promotion", "a coupon unlocks a coupon_only promotion")
    for column, value, where in (
        (CouponTemplate.code, cmd.code, "code"),
        (CouponTemplate.public_code, cmd.public_code, "public_code"),
    ):
        if value and uow.session.scalar(select(CouponTemplate.id).where(column == value)):
            raise Conflict(f"{value} is taken", field=where)
    template = CouponTemplate(
        code=cmd.code,
        name=cmd.name,
        promotion_id=promotion.id,
        public_code=cmd.public_code,
        total=cmd.total,
        per_member=cmd.per_member,
        valid_days=cmd.valid_days,
        valid_from=cmd.valid_from,
        valid_to=cmd.valid_to,
    )
    uow.session.add(template)
    uow.session.flush()
    uow.emit("coupon_template.created", {"id": template.id, "code": template.code})
    return template


def list_templates(uow: UnitOfWork) -> list[CouponTemplate]:
    return list(uow.session.scalars(select(CouponTemplate).order_by(CouponTemplate.id)))


def get_template(uow: UnitOfWork, template_id: str) -> CouponTemplate:
    return uow.get(CouponTemplate, template_id, "coupon template")


def issue(uow: UnitOfWork, template_id: str, cmd: IssueIn) -> list[Coupon]:
    """发券 to members (each within the template's per-member limit) or as printed codes;
    all or nothing: beyond the template's total, nothing is issued."""
    template = get_template(uow, template_id)
    if bool(cmd.members) == bool(cmd.count):
        raise ValidationFailed("members", "name members, or a count of printed codes")
    holders: list[str | None] = [member_key(uow, m) for m in cmd.members] or [None] * cmd.count
    _take_stock(uow, template, len(holders))
    coupons = [_new_coupon(uow, template, holder, utcnow()) for holder in holders]
    uow.session.flush()
    uow.emit(
        "coupons.issued",
        {"template_id": template.id, "count": len(coupons), "members": sorted(cmd.members)},
    )
    return coupons


def template_exists(uow: UnitOfWork, template_code: str) -> bool:
    query = select(CouponTemplate.id).where(CouponTemplate.code == template_code)
    return uow.session.scalar(query) is not None


def grant(uow: UnitOfWork, template_code: str, member: str) -> Coupon | None:
    """One coupon of a template (by code) for a member, e.g. a birthday gift; None when
    the template is unknown or its total or per-member limit is reached, and then
    nothing is half-issued (a savepoint)."""
    template = uow.session.scalars(
        select(CouponTemplate).where(CouponTemplate.code == template_code)
    ).first()
    if template is None:
        return None
    try:
        with uow.session.begin_nested():
            return issue(uow, template.id, IssueIn(members=[member]))[0]
    except LimitReached:
        return None


def _take_stock(uow: UnitOfWork, template: CouponTemplate, n: int) -> None:
    """The template's count of issued coupons grows by `n`, never beyond `total`."""
    took = uow.session.execute(
        update(CouponTemplate)
        .where(
            CouponTemplate.id == template.id,
            or_(CouponTemplate.total.is_(None), CouponTemplate.issued + n <= CouponTemplate.total),
        )
        .values(issued=CouponTemplate.issued + n)
        .execution_options(synchronize_session=False)
    )
    if took.rowcount != 1:  # type: ignore[attr-defined]
        raise LimitReached(f"coupon template {template.code} is used up", field="count")


def _new_coupon(
    uow: UnitOfWork, template: CouponTemplate, holder: str | None, now: datetime
) -> Coupon:
    if holder is not None:
        _bump(uow, template.id, holder, template.per_member, "members")
    start = max(now, template.valid_from)
    until = template.valid_to
    if template.valid_days:
        until = min(until, start + timedelta(days=template.valid_days))
    coupon = Coupon(
        template_id=template.id,
        code=secrets.token_hex(6).upper(),
        member_key=holder,
        status="issued",
        valid_from=start,
        valid_to=until,
    )
    uow.session.add(coupon)
    return coupon


def _bump(uow: UnitOfWork, subject: str, member: str, limit: int, where: str) -> None:
    """One more use by `member` of a promotion or template, atomically never above
    `limit` (the row is made on first use; the increment is conditional)."""
    insert = dialect_insert(uow.db.dialect)
    uow.session.execute(
        insert(MemberCount)
        .values(id=new_id(), tenant_id=uow.tenant_id, subject_id=subject, member_key=member)
        .on_conflict_do_nothing(index_elements=["tenant_id", "subject_id", "member_key"])
    )
    took = uow.session.execute(
        update(MemberCount)
        .where(
            MemberCount.subject_id == subject,
            MemberCount.member_key == member,
            MemberCount.count < limit,
        )
        .values(count=MemberCount.count + 1)
        .execution_options(synchronize_session=False)
    )
    if took.rowcount != 1:  # type: ignore[attr-defined]
        raise LimitReached(f"{member} reached the limit of {limit}", field=where)


def _unbump(uow: UnitOfWork, subject: str, member: str) -> None:
    uow.session.execute(
        update(MemberCount)
        .where(
            MemberCount.subject_id == subject,
            MemberCount.member_key == member,
            MemberCount.count > 0,
        )
        .values(count=MemberCount.count - 1)
        .execution_options(synchronize_session=False)
    )


def member_key(uow: UnitOfWork, ref: str) -> str:
    """Whom coupons and limits are counted on: the member a reference names (so a phone
    and the card number count as one person), else the reference itself."""
    found = members.find(uow, ref)
    return found.id if found else ref


def coupons_of(uow: UnitOfWork, refs: Iterable[str]) -> list[Coupon]:
    keys = [member_key(uow, ref) for ref in refs]
    query = select(Coupon).where(Coupon.member_key.in_(keys)).order_by(Coupon.id)
    return list(uow.session.scalars(query))


def find_coupons(uow: UnitOfWork, member: str | None, code: str | None) -> list[Coupon]:
    query = select(Coupon).order_by(Coupon.id).limit(500)
    if member is not None:
        query = query.where(Coupon.member_key == member_key(uow, member))
    if code is not None:
        query = query.where(Coupon.code == code)
    return list(uow.session.scalars(query))


def get_coupon(uow: UnitOfWork, coupon_id: str) -> Coupon:
    return uow.get(Coupon, coupon_id, "coupon")


def reassign_member(uow: UnitOfWork, source: str, target: str) -> None:
    """账号融合: the source member's coupons and promotion use counts become the target's."""
    uow.session.execute(
        update(Coupon)
        .where(Coupon.member_key == source)
        .values(member_key=target)
        .execution_options(synchronize_session=False)
    )
    uow.session.execute(
        update(PromotionUse)
        .where(PromotionUse.member_key == source)
        .values(member_key=target)
        .execution_options(synchronize_session=False)
    )
    counts = uow.session.scalars(select(MemberCount).where(MemberCount.member_key == source))
    for row in list(counts):
        mine = uow.session.scalars(
            select(MemberCount).where(
                MemberCount.subject_id == row.subject_id, MemberCount.member_key == target
            )
        ).first()
        if mine is None:
            row.member_key = target
        else:
            mine.count += row.count
            uow.session.delete(row)


# --- pricing a cart (算价) ------------------------------------------------------------------


@dataclass(frozen=True)
class Shopper:
    """Who is buying where: what decides which promotions are offered."""

    channel: str
    store: str | None = None  # location code
    member_key: str | None = None  # the member id, or the reference given
    member_id: str | None = None  # when the reference names a member
    tier: str | None = None
    tier_discount_bp: int = 0
    free_delivery: bool = False


@dataclass(frozen=True)
class Line:
    sku_id: str
    sku_code: str
    unit_price: int
    qty: int


@dataclass
class Offer:
    """The promotions on offer for one cart, by the id the engine knows them by."""

    rows: dict[str, PromotionRow] = field(default_factory=dict)
    coupons: dict[str, Coupon | CouponTemplate] = field(default_factory=dict)
    engine: list[model.Promotion] = field(default_factory=list)


@dataclass(frozen=True)
class Deal:
    pricing: model.Pricing
    offer: Offer


def quote(
    uow: UnitOfWork,
    shopper: Shopper,
    lines: Sequence[Line],
    codes: Sequence[str],
    fee: int = 0,
    without: frozenset[str] = frozenset(),
) -> Deal:
    """The best price of the cart with every promotion on offer to this shopper now, and
    the coupons presented (checked, not yet taken)."""
    now = utcnow()
    cart, widen = _cart_lines(uow, lines)
    offer = _offer(uow, shopper, now, codes, cart, widen)
    promotions = [p for p in offer.engine if p.promotion_id not in without]
    return Deal(model.price_cart(cart, promotions, fee), offer)


def _cart_lines(
    uow: UnitOfWork, lines: Sequence[Line]
) -> tuple[list[model.CartLine], dict[str, frozenset[str]]]:
    """Engine lines keyed by codes, and each line category's codes with those above it
    (the engine matches one category per line: see `_scoped`)."""
    facets = catalog.sku_facets(uow, [x.sku_id for x in lines])
    cart = [
        model.CartLine(
            str(i + 1), x.sku_code, facets[x.sku_id][0], facets[x.sku_id][2], x.unit_price, x.qty
        )
        for i, x in enumerate(lines)
    ]
    return cart, {code: above for code, above, _brand in facets.values()}


def _offer(
    uow: UnitOfWork,
    shopper: Shopper,
    now: datetime,
    codes: Sequence[str],
    cart: list[model.CartLine],
    widen: dict[str, frozenset[str]],
) -> Offer:
    offer = Offer()
    for row in uow.session.scalars(
        select(PromotionRow).where(*_live(now), PromotionRow.coupon_only.is_(False))
    ):
        if _offered(row, shopper) and _has_room(uow, row, shopper):
            offer.rows[row.id] = row
    for i, code in enumerate(codes):
        row, source = _coupon(uow, code, shopper, now, f"coupons[{i}]")
        pid = f"{row.id}:{code}"
        if any(c == row.id for c in (k.split(":")[0] for k in offer.coupons)):
            raise ValidationFailed(f"coupons[{i}]", "one coupon of a kind per order")
        offer.rows[pid], offer.coupons[pid] = row, source
    offer.engine = [
        _scoped(engine_promotion(row, pid), cart, widen) for pid, row in offer.rows.items()
    ]
    offer.engine += _tier_benefits(shopper)
    return offer


def _offered(row: PromotionRow, shopper: Shopper) -> bool:
    """Where, who: the channel, store and tier (and a known member, when it needs one)."""
    return (
        (not row.channels or shopper.channel in row.channels)
        and (not row.stores or shopper.store in row.stores)
        and (not row.member_tiers or shopper.tier in row.member_tiers)
        and (not row.members_only or shopper.member_key is not None)
        and not (shopper.member_key and in_holdout(row, shopper.member_key))
    )


def in_holdout(row: PromotionRow, member_key: str) -> bool:
    """对照组: a stable share (`holdout_bp`) of members never sees the promotion, so its
    effect can be measured against them; the same member is always in or out."""
    if not row.holdout_bp:
        return False
    digest = hashlib.blake2b(f"{row.id}:{member_key}".encode(), digest_size=8).digest()
    return int.from_bytes(digest) % model.FULL_BP < row.holdout_bp


def _has_room(uow: UnitOfWork, row: PromotionRow, shopper: Shopper) -> bool:
    """Budget, quota and the member's uses not yet exhausted (checked again, atomically,
    when taken)."""
    if row.budget is not None and row.spent >= row.budget:
        return False
    if row.quota is not None and row.quota_used >= row.quota:
        return False
    if row.per_member is None or shopper.member_key is None:
        return True
    used = uow.session.scalar(
        select(MemberCount.count).where(
            MemberCount.subject_id == row.id, MemberCount.member_key == shopper.member_key
        )
    )
    return (used or 0) < row.per_member


def _coupon(
    uow: UnitOfWork, code: str, shopper: Shopper, now: datetime, where: str
) -> tuple[PromotionRow, Coupon | CouponTemplate]:
    """The promotion a presented code unlocks: a coupon of the shopper's (or nobody's)
    that is unused and valid now, or a template's public code."""
    coupon = uow.session.scalars(select(Coupon).where(Coupon.code == code)).first()
    if coupon is None:
        template = uow.session.scalars(
            select(CouponTemplate).where(CouponTemplate.public_code == code)
        ).first()
        if template is None:
            raise ValidationFailed(where, f"unknown coupon {code}")
        if shopper.member_key is None:
            raise ValidationFailed(where, "a public code needs a member to hold the coupon")
        _valid(template.valid_from, template.valid_to, now, where)
        return _coupon_promotion(uow, template.promotion_id, shopper, where), template
    if coupon.status != "issued":
        raise CouponUnusable(f"coupon {code} was already used", field=where)
    if coupon.member_key not in (None, shopper.member_key):
        raise CouponUnusable(f"coupon {code} belongs to another member", field=where)
    _valid(coupon.valid_from, coupon.valid_to, now, where)
    template = uow.session.get(CouponTemplate, coupon.template_id)
    assert template is not None
    return _coupon_promotion(uow, template.promotion_id, shopper, where), coupon


def _valid(start: datetime, until: datetime, now: datetime, where: str) -> None:
    if now < start:
        raise CouponUnusable(f"the coupon is valid from {start.isoformat()}", field=where)
    if now >= until:
        raise CouponUnusable(f"the coupon expired at {until.isoformat()}", field=where)


def _coupon_promotion(
    uow: UnitOfWork, promotion_id: str, shopper: Shopper, where: str
) -> PromotionRow:
    row = uow.session.get(PromotionRow, promotion_id)
    now = utcnow()
    if row is None or row.status != "active" or not row.starts_at <= now < row.ends_at:
        raise CouponUnusable("the coupon's promotion is not running", field=where)
    if not _offered(row, shopper):
        raise CouponUnusable("the coupon is not valid for this channel, store or tier", field=where)
    return row


def _scoped(
    p: model.Promotion, cart: list[model.CartLine], widen: dict[str, frozenset[str]]
) -> model.Promotion:
    """A category names its sub-categories too: swap the promotion's category codes for
    the cart lines' own categories under them, so the engine's exact match sees the tree."""
    s = p.scope
    if not (s.categories or s.exclude_categories):
        return p

    def under(codes: frozenset[str]) -> frozenset[str]:
        return frozenset(x.category_id for x in cart if widen[x.category_id] & codes)

    # A named category with no cart line under it must still match nothing, not become
    # "every line" (an empty include list): NOWHERE is a code no category has.
    scope = model.Scope(
        skus=s.skus,
        categories=under(s.categories) or (NOWHERE if s.categories else frozenset()),
        brands=s.brands,
        exclude_skus=s.exclude_skus,
        exclude_categories=under(s.exclude_categories),
        exclude_brands=s.exclude_brands,
    )
    return replace(p, scope=scope)


def _tier_benefits(shopper: Shopper) -> list[model.Promotion]:
    """会员等级权益 as promotions of their own, so that they stack by the same rules."""
    out = []
    if shopper.tier and shopper.tier_discount_bp:
        out.append(
            model.Promotion(
                promotion_id=f"tier:{shopper.tier}",
                name=f"{shopper.tier} member discount",
                kind=model.Kind.percent_off,
                group=model.Group.item,
                off_bp=shopper.tier_discount_bp,
            )
        )
    if shopper.tier and shopper.free_delivery:
        out.append(
            model.Promotion(
                promotion_id=f"tier-delivery:{shopper.tier}",
                name=f"{shopper.tier} free delivery",
                kind=model.Kind.free_delivery,
                group=model.Group.delivery,
            )
        )
    return out


# --- taking what a deal uses (核销), giving it back ----------------------------------------


@dataclass(frozen=True)
class Settled:
    """A deal whose budgets, quotas, limits and coupons are taken, in the order's
    transaction: `coupons` maps each applied coupon promotion to the coupon redeemed."""

    deal: Deal
    lines: tuple[Line, ...]
    coupons: dict[str, Coupon]


def settle(
    uow: UnitOfWork, shopper: Shopper, lines: Sequence[Line], codes: Sequence[str]
) -> Settled:
    """Price the cart and take what its promotions use, atomically: a budget, quota or
    member limit that ran out since the promotions were read drops that promotion and the
    cart is priced again (never above a limit, never a stale discount); a presented coupon
    that cannot be redeemed refuses the order."""
    without: frozenset[str] = frozenset()
    for _ in range(MAX_REPRICE):
        deal = quote(uow, shopper, lines, codes, 0, without)
        failed, coupons = _take(uow, shopper, deal, lines)
        if failed is None:
            return Settled(deal, tuple(lines), coupons)
        without |= {failed}
    raise LimitReached("promotion budgets ran out while pricing; try again", field="lines")


def _units(p: PromotionRow, applied: model.Applied, lines: Sequence[Line]) -> int:
    """Units a fixed price sold (what its flash-sale quota counts)."""
    if p.kind != model.Kind.fixed_price.value:
        return 0
    units = sum(lines[int(line_id) - 1].qty for line_id, _ in applied.lines)
    cap = int(p.params.get("max_units") or 0)
    return min(units, cap) if cap else units


def _take(
    uow: UnitOfWork, shopper: Shopper, deal: Deal, lines: Sequence[Line]
) -> tuple[str | None, dict[str, Coupon]]:
    """Take each applied promotion's budget, quota and member use (in id order, so two
    orders never wait on each other in a cycle); on the first that has run out, give back
    what was taken and name it."""
    undo: list[tuple[PromotionRow, int, int]] = []
    coupons: dict[str, Coupon] = {}
    for applied in sorted(deal.pricing.applied, key=lambda a: a.promotion_id):
        row = deal.offer.rows.get(applied.promotion_id)
        if row is None:  # a tier benefit: no limits
            continue
        units = _units(row, applied, lines)
        if not _take_one(uow, row, shopper, applied.amount, units):
            for done, amount, n in undo:
                _give_back(uow, done, shopper.member_key, amount, n)
            return applied.promotion_id, {}
        undo.append((row, applied.amount, units))
        source = deal.offer.coupons.get(applied.promotion_id)
        if source is not None:
            coupons[applied.promotion_id] = _redeem(uow, source, shopper)
    return None, coupons


def _take_one(
    uow: UnitOfWork, row: PromotionRow, shopper: Shopper, amount: int, units: int
) -> bool:
    if row.budget is not None or row.quota is not None:
        took = uow.session.execute(
            update(PromotionRow)
            .where(
                PromotionRow.id == row.id,
                or_(
                    PromotionRow.budget.is_(None),
                    PromotionRow.spent + amount <= PromotionRow.budget,
                ),
                or_(
                    PromotionRow.quota.is_(None),
                    PromotionRow.quota_used + units <= PromotionRow.quota,
                ),
            )
            .values(spent=PromotionRow.spent + amount, quota_used=PromotionRow.quota_used + units)
            .execution_options(synchronize_session=False)
        )
        if took.rowcount != 1:  # type: ignore[attr-defined]
            return False
    if row.per_member is not None and shopper.member_key is not None:
        try:
            _bump(uow, row.id, shopper.member_key, row.per_member, "member")
        except LimitReached:
            _give_back(uow, row, None, amount, units)
            return False
    return True


def _give_back(
    uow: UnitOfWork, row: PromotionRow, member: str | None, amount: int, units: int
) -> None:
    if row.budget is not None or row.quota is not None:
        uow.session.execute(
            update(PromotionRow)
            .where(PromotionRow.id == row.id)
            .values(spent=PromotionRow.spent - amount, quota_used=PromotionRow.quota_used - units)
            .execution_options(synchronize_session=False)
        )
    if row.per_member is not None and member is not None:
        _unbump(uow, row.id, member)


def _redeem(uow: UnitOfWork, source: Coupon | CouponTemplate, shopper: Shopper) -> Coupon:
    """Use a coupon once: the conditional update lets one of two racing orders have it.
    A public code first issues the shopper a coupon of its own, within the limits."""
    if isinstance(source, CouponTemplate):
        assert shopper.member_key is not None
        _take_stock(uow, source, 1)
        coupon = _new_coupon(uow, source, shopper.member_key, utcnow())
        uow.session.flush()
    else:
        coupon = source
    took = uow.session.execute(
        update(Coupon)
        .where(Coupon.id == coupon.id, Coupon.status == "issued")
        .values(status="redeemed", redeemed_at=utcnow())
        .execution_options(synchronize_session=False)
    )
    if took.rowcount != 1:  # type: ignore[attr-defined]
        raise CouponUnusable(f"coupon {coupon.code} was already used", field="coupons")
    return coupon


def record(uow: UnitOfWork, order_id: str, shopper: Shopper, settled: Settled) -> None:
    """The order's uses, for release on cancel and for effect evaluation."""
    for applied in settled.deal.pricing.applied:
        row = settled.deal.offer.rows.get(applied.promotion_id)
        if row is None:
            continue
        coupon = settled.coupons.get(applied.promotion_id)
        if coupon is not None:
            coupon.order_id = order_id
        uow.session.add(
            PromotionUse(
                promotion_id=row.id,
                order_id=order_id,
                member_key=shopper.member_key,
                coupon_id=coupon.id if coupon else None,
                amount=applied.amount,
                units=_units(row, applied, settled.lines),
            )
        )


def release(uow: UnitOfWork, order_id: str) -> None:
    """A cancelled order gives back the budget, quota and member use it took, and its
    coupons (usable again while they are valid)."""
    uses = uow.session.scalars(
        select(PromotionUse).where(
            PromotionUse.order_id == order_id, PromotionUse.released.is_(False)
        )
    )
    for use in list(uses):
        row = uow.session.get(PromotionRow, use.promotion_id)
        assert row is not None
        _give_back(uow, row, use.member_key, use.amount, use.units)
        use.released = True
        if use.coupon_id:
            uow.session.execute(
                update(Coupon)
                .where(Coupon.id == use.coupon_id)
                .values(status="issued", order_id=None, redeemed_at=None)
                .execution_options(synchronize_session=False)
            )


@dataclass(frozen=True)
class Used:
    order_id: str
    promotion: str  # code
    amount: int
    coupon: str | None  # code
    released: bool


def used_by(uow: UnitOfWork, order_ids: list[str]) -> list[Used]:
    """The promotions each order used, oldest first, in one query for a page of orders."""
    rows = uow.session.execute(
        select(PromotionUse, PromotionRow.code, Coupon.code)
        .join(PromotionRow, PromotionRow.id == PromotionUse.promotion_id)
        .outerjoin(Coupon, Coupon.id == PromotionUse.coupon_id)
        .where(PromotionUse.order_id.in_(order_ids))
        .order_by(PromotionUse.id)
    )
    return [Used(u.order_id, code, u.amount, coupon, u.released) for u, code, coupon in rows]


def uses_of(uow: UnitOfWork, promotion_id: str) -> list[PromotionUse]:
    query = select(PromotionUse).where(
        PromotionUse.promotion_id == promotion_id, PromotionUse.released.is_(False)
    )
    return list(uow.session.scalars(query))
