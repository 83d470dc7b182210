"""Pure rules of the member centre (会员通): identities, the points ledger (积分), tiers
(会员等级) and customer-service tickets (客户服务), tested without a database.

The points ledger keeps two views that must always agree:
- the entries (earn, burn, expire, ...), whose sum is the member's balance;
- the lots (积分批次): what each earning still has left and when it expires.
A balance below zero is points owed (taken back for a return after they were spent);
while anything is owed every lot is empty, and new points pay what is owed first. So the
lots always hold exactly max(balance, 0).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

ZONE = ZoneInfo("Asia/Shanghai")  # business dates: points expiry, birthdays


class MemberStatus(StrEnum):
    active = "active"
    merged = "merged"  # 账号融合: folded into another member (`merged_into`)
    forgotten = "forgotten"  # 被遗忘权: personal data erased, financial records kept


class IdentityKind(StrEnum):
    """How a person is recognised in a channel (全渠道身份)."""

    phone = "phone"
    email = "email"
    wechat_union = "wechat_union"  # WeChat union id: one person across the brand's apps
    wechat_open = "wechat_open"  # WeChat open id: one person in one app
    card = "card"  # a physical or legacy member card number


class ConsentPurpose(StrEnum):
    marketing_sms = "marketing_sms"
    marketing_email = "marketing_email"
    marketing_wechat = "marketing_wechat"
    personalisation = "personalisation"  # recommendations from purchase history
    data_sharing = "data_sharing"  # with brand partners


class EntryKind(StrEnum):
    """Kinds of points ledger entry; each is signed (+ in, - out)."""

    earn = "earn"  # 积分获取: an order paid
    burn = "burn"  # 积分抵现 / 积分兑换: spent as a tender or on a gift
    expire = "expire"  # 积分过期: a lot reached its period end
    reverse = "reverse"  # 积分冲回: points earned on returned units taken back
    restore = "restore"  # points spent on an order given back with its refund
    adjust = "adjust"  # a person's correction or goodwill gesture
    merged_in = "merged_in"  # 账号融合: the other member's balance arrived
    merged_out = "merged_out"  # ... and left the merged member


EVENTS: dict[EntryKind, str] = {
    EntryKind.earn: "points.earned",
    EntryKind.burn: "points.burned",
    EntryKind.expire: "points.expired",
    EntryKind.reverse: "points.reversed",
    EntryKind.restore: "points.restored",
    EntryKind.adjust: "points.adjusted",
    EntryKind.merged_in: "points.merged",
    EntryKind.merged_out: "points.merged",
}


@dataclass(frozen=True)
class MemberProfile:
    """What checkout needs to know about a member: the tier code (also the
    `member_tier` of member price lists), its discount and free delivery."""

    member_id: str
    code: str
    tier: str | None
    discount_bp: int
    free_delivery: bool
    points_balance: int


# --- identities (会员身份) ---------------------------------------------------------------

_PHONE = re.compile(r"^\+?[0-9]{6,15}$")
_CN_MOBILE = re.compile(r"^1[3-9][0-9]{9}$")
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
_TOKEN = re.compile(r"^[\x21-\x7e]{1,128}$")  # visible ASCII, as WeChat ids and card numbers


def normalise(kind: IdentityKind, value: str) -> str:
    """The one stored form of an identity, so "+86 139-0000-0001" and "13900000001" are
    the same person; raises ValueError for a value that cannot be one."""
    text = value.strip()
    if kind is IdentityKind.phone:
        digits = re.sub(r"[\s()-]", "", text)
        for prefix in ("+86", "0086", "86"):
            if digits.startswith(prefix) and _CN_MOBILE.match(digits[len(prefix) :]):
                return digits[len(prefix) :]
        if not _PHONE.match(digits):
            raise ValueError("not a phone number")
        return digits
    if kind is IdentityKind.email:
        if not _EMAIL.match(text) or len(text) > 200:
            raise ValueError("not an e-mail address")
        return text.lower()
    if not _TOKEN.match(text):
        raise ValueError("1 to 128 visible ASCII characters")
    return text.upper() if kind is IdentityKind.card else text


def forms(ref: str) -> set[str]:
    """Every stored form a free member reference (an order's `member`) may take."""
    out = {ref.strip()}
    for kind in (IdentityKind.phone, IdentityKind.email, IdentityKind.card):
        try:
            out.add(normalise(kind, ref))
        except ValueError:
            continue
    return out


# --- the points ledger (积分账本) ---------------------------------------------------------


class NotEnoughPoints(ValueError):
    def __init__(self, held: int, asked: int) -> None:
        super().__init__(f"{asked} points asked, {held} held")
        self.held, self.asked = held, asked


@dataclass(frozen=True)
class Lot:
    """积分批次: points from one earning, what is left of them and when they expire."""

    id: str
    remaining: int
    expires_at: datetime | None  # None: never


Take = tuple[str, int]  # (lot id, points)
_NEVER = datetime.max.replace(tzinfo=UTC)


def fifo(lots: Iterable[Lot]) -> list[Lot]:
    """Lots in the order points leave them: the first to expire first (先到期先用)."""
    return sorted(lots, key=lambda lot: (lot.expires_at or _NEVER, lot.id))


def draw(lots: Iterable[Lot], points: int) -> list[Take]:
    """积分抵现: take `points` from the lots, first-expiring first; all or nothing."""
    if points <= 0:
        raise ValueError("must be positive")
    held = sum(max(lot.remaining, 0) for lot in lots)
    if points > held:
        raise NotEnoughPoints(held, points)
    return _take(fifo(lots), points)


def _take(ordered: Sequence[Lot], points: int) -> list[Take]:
    out: list[Take] = []
    for lot in ordered:
        n = min(lot.remaining, points)
        if n > 0:
            out.append((lot.id, n))
            points -= n
    return out


def claw_back(lots: Iterable[Lot], points: int, prefer: str | None = None) -> list[Take]:
    """积分冲回: take back up to `points`, first from the lot the order earned (`prefer`),
    then first-expiring first; what the lots cannot give is owed (the balance goes
    below zero and the next points pay it)."""
    ordered = fifo(lots)
    ordered.sort(key=lambda lot: lot.id != prefer)  # stable: keeps FIFO after `prefer`
    return _take(ordered, points)


def into_lots(balance: int, points: int) -> int:
    """Of `points` coming in, the part that becomes spendable; the rest pays what the
    member owes (a balance below zero)."""
    return max(0, min(points, balance + points))


def settle(lots: Iterable[Lot], balance: int) -> list[Take]:
    """What to take from the lots so they hold exactly max(balance, 0) again (after two
    members' points meet in a merge and one of them owed)."""
    excess = sum(lot.remaining for lot in lots) - max(balance, 0)
    return _take(fifo(lots), excess) if excess > 0 else []


def restore(taken: Sequence[Take], restored: Mapping[str, int], points: int) -> list[Take]:
    """Burned points given back with a refund go back to the lots they came from (with
    their own expiry), last taken first; `restored` is what each lot already got back."""
    out: list[Take] = []
    for lot_id, n in reversed(taken):
        room = min(n - restored.get(lot_id, 0), points)
        if room > 0:
            out.append((lot_id, room))
            points -= room
    if points:
        raise ValueError("more given back than was taken")
    return out


def due(lots: Iterable[Lot], now: datetime) -> list[Take]:
    """积分过期: what each lot past its period end still holds."""
    return [
        (lot.id, lot.remaining)
        for lot in lots
        if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= now
    ]


def share(total: int, qty: int, before: int, now: int) -> int:
    """The part of `total` (points earned on a line, or its spend) that belongs to `now`
    of its `qty` units after `before` were already counted: the cumulative share, so
    returning every unit in any steps takes back exactly `total`."""
    if now <= 0 or before < 0 or before + now > qty:
        raise ValueError("more units than the line has")
    return total * (before + now) // qty - total * before // qty


def expiry(at: datetime, months: int | None, zone: ZoneInfo = ZONE) -> datetime | None:
    """Period-end expiry: points earned in a month expire when the month `months` later
    ends (local time), so a whole month's points expire together; None: never."""
    if months is None:
        return None
    local = at.astimezone(zone)
    index = local.year * 12 + local.month - 1 + months + 1  # the month after the last one
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=zone).astimezone(UTC)


def points_for(amount: int, points_per_yuan: int) -> int:
    """积分抵现 value: the points that pay `amount` fen at `points_per_yuan`; raises
    ValueError when the amount is not a whole number of points."""
    points, rest = divmod(amount * points_per_yuan, 100)
    if rest:
        raise ValueError(f"at {points_per_yuan} points per yuan, not a whole number of points")
    return points


# --- earn rules (积分规则) ---------------------------------------------------------------


@dataclass(frozen=True)
class EarnRule:
    """Points per yuan of net paid on lines matching every dimension the rule names."""

    id: str  # sortable: later set, later id
    points_per_yuan: int
    channel: str | None = None
    category_id: str | None = None  # the category or any below it
    valid_from: datetime | None = None  # a points promotion (积分活动), e.g. double points
    valid_to: datetime | None = None


@dataclass(frozen=True)
class EarnLine:
    line_id: str
    category_path: str  # "root/.../own/": the category ids from the top
    base: int  # fen that earn points: the line's net less its share paid with points


def applies(rule: EarnRule, channel: str, path: str, at: datetime) -> bool:
    return (
        (rule.channel is None or rule.channel == channel)
        and (rule.category_id is None or rule.category_id in path.split("/"))
        and (rule.valid_from is None or rule.valid_from <= at)
        and (rule.valid_to is None or at < rule.valid_to)
    )


def precedence(rule: EarnRule) -> tuple[bool, bool, bool, str]:
    """A points promotion beats a category rule, which beats a channel rule; then the
    latest set wins."""
    promotion = rule.valid_from is not None or rule.valid_to is not None
    return promotion, rule.category_id is not None, rule.channel is not None, rule.id


def earn(
    lines: Iterable[EarnLine],
    channel: str,
    at: datetime,
    rules: Sequence[EarnRule],
    default_per_yuan: int,
) -> dict[str, int]:
    """Points each line earns: its base in yuan times the most specific rule's rate
    (the default rate where none applies), rounded down to the point."""
    out = {}
    for line in lines:
        rule = max(
            (r for r in rules if applies(r, channel, line.category_path, at)),
            key=precedence,
            default=None,
        )
        rate = rule.points_per_yuan if rule else default_per_yuan
        out[line.line_id] = max(line.base, 0) * rate // 100
    return out


# --- tiers (会员等级) --------------------------------------------------------------------


@dataclass(frozen=True)
class TierRule:
    """A tier is reached by qualifying spend (fen) or points earned within the last
    `window_days`; a tier naming neither is the entry tier everyone holds."""

    code: str
    rank: int
    min_spend: int | None
    min_points: int | None
    window_days: int


@dataclass(frozen=True)
class Activity:
    """One qualifying event: an order paid (+) or refunded (-)."""

    at: datetime
    spend: int
    points: int


def qualifies(rule: TierRule, activity: Iterable[Activity], now: datetime) -> bool:
    since = now - timedelta(days=rule.window_days)
    recent = [a for a in activity if since <= a.at <= now]
    spend, points = sum(a.spend for a in recent), sum(a.points for a in recent)
    if rule.min_spend is None and rule.min_points is None:
        return True
    return (rule.min_spend is not None and spend >= rule.min_spend) or (
        rule.min_points is not None and points >= rule.min_points
    )


def qualifying(
    rules: Iterable[TierRule], activity: Sequence[Activity], now: datetime
) -> TierRule | None:
    """The highest tier the activity earns now (at a review: the tier to hold)."""
    met = [r for r in rules if qualifies(r, activity, now)]
    return max(met, key=lambda r: (r.rank, r.code), default=None)


def upgraded(current: TierRule | None, earned: TierRule | None) -> TierRule | None:
    """升级: after a qualifying event the member moves up at once, never down (a
    downgrade waits for the review)."""
    if earned is None or (current is not None and current.rank >= earned.rank):
        return current
    return earned


def birthday_key(day: date) -> str:
    return day.strftime("%m-%d")


def birthday_keys(today: date) -> list[str]:
    """Whose birthday is today: 29 February is celebrated on the 28th in other years."""
    keys = [birthday_key(today)]
    if today.month == 2 and today.day == 28 and (today + timedelta(days=1)).month == 3:
        keys.append("02-29")
    return keys


# --- customer service tickets (客户服务工单) ----------------------------------------------


class TicketStatus(StrEnum):
    open = "open"
    in_progress = "in_progress"
    waiting = "waiting"  # on the customer
    resolved = "resolved"
    closed = "closed"


MOVES: dict[TicketStatus, frozenset[TicketStatus]] = {
    TicketStatus.open: frozenset({TicketStatus.in_progress, TicketStatus.resolved}),
    TicketStatus.in_progress: frozenset({TicketStatus.waiting, TicketStatus.resolved}),
    TicketStatus.waiting: frozenset({TicketStatus.in_progress, TicketStatus.resolved}),
    TicketStatus.resolved: frozenset({TicketStatus.closed, TicketStatus.open}),  # reopen
    TicketStatus.closed: frozenset(),
}


def move(now: TicketStatus, to: TicketStatus) -> None:
    """A ticket moves only along MOVES; raises ValueError otherwise."""
    if to not in MOVES[now]:
        allowed = ", ".join(sorted(MOVES[now])) or "nothing (closed)"
        raise ValueError(f"a {now.value} ticket can move to {allowed}")
