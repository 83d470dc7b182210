"""The promotion engine (促销引擎) as pure rules: what each promotion is worth on a cart,
which promotions may stack, the exact best combination for the shopper, the split of
every discount to the lines it came from (分摊), the gifts the cart earns (赠品), and why
each other promotion did not apply.

Stacking rules (叠加规则), as implemented:
1. Groups apply in order. Item-level promotions (单品级, including fixed prices 限时价)
   see the gross line amounts; order-level ones (订单级, e.g. 满减) see what is left after
   the item-level discounts; delivery ones (运费级, 包邮) see what is left after both and
   waive the delivery fee.
2. Within the item group, and within the order group, at most one promotion per line:
   the promotions of a combination must have disjoint sets of in-scope cart lines. A
   line counts towards every promotion whose scope covers it (a unit cannot both fill a
   满减 threshold and be the free unit of another order-level deal), which is simple to
   state and to check, and rules out double-dipping. A promotion always takes all its
   in-scope lines; it is never applied to a chosen subset of them.
3. At most one delivery promotion: there is one delivery fee to waive.
4. An exclusive promotion (独享) applies alone: no other promotion in the cart.
5. A promotion that would give nothing in its combination is not applied, so every
   applied promotion has a positive discount.
6. Every discount is allocated to lines in proportion to what earned it (the scoped
   lines' current amounts; for unit deals the discounted or bundled units), to the fen
   by largest remainders, and never more than the line still carries, so a line's
   discount never exceeds its gross and no net, and no total, is ever negative.
7. Gifts (赠品, the gift group) give goods, not money, so they take no part in the
   search: once the best combination is priced, every gift promotion whose scoped lines'
   net (after the chosen discounts) reaches its `min_spend` is granted, all of them,
   unless an exclusive promotion won (it applies alone, so then none is).

Best combination: among all legal combinations, the largest total discount wins; ties go
to the higher sum of the goods promotions' priorities (item and order groups), then to
fewer goods promotions, then to the smaller sorted tuple of their ids, and only then to
the better delivery promotion (higher priority, then smaller id): every delivery
promotion waives the same fee, so which one the net reaches is bookkeeping, settled last.
All of it fits in one integer rank that adds up over disjoint sets of promotions (the id
part as a bit mask in which the smallest id is the highest bit: of two sets of one size,
the smaller sorted tuple is the one holding the smallest id of their difference; the
delivery promotion in the lowest digit), so the search compares plain integers. Seeded
with each exclusive promotion alone and with the greedy combination, the search first
tries the decomposed search (`_Split`, for carts shaped as real catalogues make them:
most promotions on one to three lines, a few on nearly the whole cart; see its
docstring). It proves nearly all such carts; when it gives up (a big order-level unit
deal, a big order deal at a rate (折扣) against a component with too many packings to
list) or cannot confirm an optimistic delivery, the exact two-level branch and
bound below settles the cart, seeded with the best found:
- Outer: the order group's packing (disjoint order promotions), line by line (the lowest
  line not yet settled: which order promotion, if any, takes it), best bound first.
- Inner, for each packing: the item group, the same way; at the end the packing is
  priced on what the items left (a member that gives nothing kills the branch: amounts
  only fall) and the best delivery promotion the net still reaches is added.
- Item-level discounts are fixed (every item promotion sees gross amounts), so the best
  item promotions for a set of free lines is a weighted set packing, solved exactly by
  dynamic programming over the set of free lines, memoised per cart (and per folded
  set, below). Bounds: each group at its best alone (order promotions at gross, as
  every benefit only grows with the amounts it sees), and a folded bound for the
  coupling: an order promotion worth at most a rate of its scoped amount (折扣, 每满减)
  is counted at that rate, and each item promotion is valued less the floor of that
  rate on its share of the lines (its cost to the order promotion), the packing again
  solved exactly. A branch is cut when either bound cannot beat the best found.
Promotions with no in-scope line or no stand-alone discount cannot be in any legal
combination and are dropped before the search. A step limit (`MAX_STEPS`, a budget for
each of the two searches) stops pathological inputs: the result is then the best
combination found so far (never worse than the greedy one), says `exact=False`, and
every other candidate is reported as outside the search limit.

`greedy_combination` is the merchant's obvious rule, kept as the baseline to measure
against: largest stand-alone discount first, each promotion taken if still legal.

Rounding: percentages round the discount down to the fen (the shopper never gets a
fraction of a fen that does not exist); money is integer fen throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from functools import lru_cache, partial, reduce
from heapq import heapify, heappop, heappush
from itertools import product
from operator import or_
from typing import Literal

from zhongtai.orders.model import allocate

MAX_STEPS = 20_000  # search steps per cart before the safety valve opens
FULL_BP = 10_000  # 100% in basis points


class Kind(StrEnum):
    percent_off = "percent_off"  # 折扣: off_bp off the scoped lines
    amount_off = "amount_off"  # 立减: `amount` off the scoped lines (at most their total)
    threshold = "threshold"  # 满减 with tiers: the best tier reached applies
    repeat_threshold = "repeat_threshold"  # 每满减: `minus` off for every full `every`
    buy_x_get_y = "buy_x_get_y"  # 买X送Y: per buy+get units, the `get` cheapest at off_bp
    nth_item = "nth_item"  # 第N件折扣: every nth unit (the cheapest ones) at off_bp off
    bundle = "bundle"  # 组合价: bundle_qty scoped units for bundle_price
    free_delivery = "free_delivery"  # 包邮: waives the delivery fee from min_spend up
    fixed_price = "fixed_price"  # 限时价/会员价: a scoped unit costs at most `price`
    gift = "gift"  # 赠品: gift_qty of gift_sku once the scoped net reaches min_spend


class Group(StrEnum):
    item = "item"
    order = "order"
    delivery = "delivery"
    gift = "gift"  # goods, not money: granted after the money is settled


# The kinds that belong to one group only; every other kind is item- or order-level.
LEVEL = {Kind.fixed_price: Group.item, Kind.free_delivery: Group.delivery, Kind.gift: Group.gift}


class InvalidPromotion(ValueError):
    """A promotion or cart line with a parameter out of range; `field` names it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


@dataclass(frozen=True)
class CartLine:
    line_id: str
    sku_id: str
    category_id: str
    brand_id: str
    unit_price: int  # fen
    qty: int

    def __post_init__(self) -> None:
        if self.unit_price < 0:
            raise InvalidPromotion("unit_price", "must not be negative")
        if self.qty < 1:
            raise InvalidPromotion("qty", "must be at least 1")

    @property
    def gross(self) -> int:
        return self.unit_price * self.qty


@dataclass(frozen=True)
class Scope:
    """Which lines a promotion covers: an empty include list means every line; a line is
    in if any include list names it and no exclusion names it."""

    skus: frozenset[str] = frozenset()
    categories: frozenset[str] = frozenset()
    brands: frozenset[str] = frozenset()
    exclude_skus: frozenset[str] = frozenset()
    exclude_categories: frozenset[str] = frozenset()
    exclude_brands: frozenset[str] = frozenset()

    def covers(self, line: CartLine) -> bool:
        everything = not (self.skus or self.categories or self.brands)
        included = everything or (
            line.sku_id in self.skus
            or line.category_id in self.categories
            or line.brand_id in self.brands
        )
        excluded = (
            line.sku_id in self.exclude_skus
            or line.category_id in self.exclude_categories
            or line.brand_id in self.exclude_brands
        )
        return included and not excluded


@dataclass(frozen=True)
class Tier:
    threshold: int  # 满: scoped amount to reach, fen
    discount: int  # 减: fen off


@dataclass(frozen=True)
class Promotion:
    promotion_id: str
    name: str
    kind: Kind
    group: Group
    scope: Scope = field(default_factory=Scope)
    exclusive: bool = False
    priority: int = 0
    off_bp: int = 0  # percent_off, buy_x_get_y (10000 = free), nth_item
    amount: int = 0  # amount_off
    tiers: tuple[Tier, ...] = ()  # threshold
    every: int = 0  # repeat_threshold
    minus: int = 0  # repeat_threshold
    buy: int = 0  # buy_x_get_y
    get: int = 0  # buy_x_get_y
    nth: int = 0  # nth_item
    bundle_qty: int = 0  # bundle
    bundle_price: int = 0  # bundle
    min_spend: int = 0  # free_delivery, gift
    price: int = 0  # fixed_price: fen per unit
    max_units: int = 0  # fixed_price: units per order at the price (0: no limit)
    gift_sku: str = ""  # gift
    gift_qty: int = 1  # gift

    def __post_init__(self) -> None:
        if not self.promotion_id:
            raise InvalidPromotion("promotion_id", "must not be empty")
        _level(self)
        _VALIDATORS[self.kind](self)


def _level(p: Promotion) -> None:
    """Free delivery, and only it, is delivery-level; gifts, and only they, gift-level; a
    fixed price is a unit price, so item-level."""
    own = LEVEL.get(p.kind)
    if own is not None and p.group is not own:
        raise InvalidPromotion("group", f"{p.kind.value} is {own.value}-level")
    if own is None and p.group not in (Group.item, Group.order):
        raise InvalidPromotion("group", f"{p.kind.value} is item- or order-level")


def _positive(p: Promotion, name: str) -> None:
    if getattr(p, name) <= 0:
        raise InvalidPromotion(name, "must be positive")


def _at_least(p: Promotion, name: str, low: int) -> None:
    if getattr(p, name) < low:
        raise InvalidPromotion(name, f"must be at least {low}")


def _percent(p: Promotion) -> None:
    if not 0 < p.off_bp <= FULL_BP:
        raise InvalidPromotion("off_bp", f"must be in 1..{FULL_BP} basis points")


def _tiers(p: Promotion) -> None:
    """满199减20, 满299减50: thresholds and discounts both rise, each discount below its
    threshold (a 满100减100 tier would give goods away)."""
    if not p.tiers:
        raise InvalidPromotion("tiers", "at least one tier")
    for i, tier in enumerate(p.tiers):
        if tier.discount <= 0:
            raise InvalidPromotion(f"tiers[{i}].discount", "must be positive")
        if tier.discount >= tier.threshold:
            raise InvalidPromotion(f"tiers[{i}].discount", "must be below its threshold")
        if i and tier.threshold <= p.tiers[i - 1].threshold:
            raise InvalidPromotion(f"tiers[{i}].threshold", "thresholds must rise")
        if i and tier.discount <= p.tiers[i - 1].discount:
            raise InvalidPromotion(f"tiers[{i}].discount", "discounts must rise")


def _repeat(p: Promotion) -> None:
    _positive(p, "every")
    _positive(p, "minus")
    if p.minus >= p.every:
        raise InvalidPromotion("minus", "must be below `every`")


def _buy_get(p: Promotion) -> None:
    _at_least(p, "buy", 1)
    _at_least(p, "get", 1)
    _percent(p)


def _nth(p: Promotion) -> None:
    _at_least(p, "nth", 2)
    _percent(p)


def _bundle(p: Promotion) -> None:
    _at_least(p, "bundle_qty", 2)
    _positive(p, "bundle_price")


def _free_delivery(p: Promotion) -> None:
    _at_least(p, "min_spend", 0)


def _fixed_price(p: Promotion) -> None:
    _positive(p, "price")
    _at_least(p, "max_units", 0)


def _gift(p: Promotion) -> None:
    """A gift needs a spend to earn it (满赠); it is never exclusive, as it takes no part
    in the combination."""
    if not p.gift_sku:
        raise InvalidPromotion("gift_sku", "must not be empty")
    _at_least(p, "gift_qty", 1)
    _positive(p, "min_spend")
    if p.exclusive:
        raise InvalidPromotion("exclusive", "a gift takes no part in the combination")


_VALIDATORS: dict[Kind, Callable[[Promotion], None]] = {
    Kind.percent_off: _percent,
    Kind.amount_off: lambda p: _positive(p, "amount"),
    Kind.threshold: _tiers,
    Kind.repeat_threshold: _repeat,
    Kind.buy_x_get_y: _buy_get,
    Kind.nth_item: _nth,
    Kind.bundle: _bundle,
    Kind.free_delivery: _free_delivery,
    Kind.fixed_price: _fixed_price,
    Kind.gift: _gift,
}


# --- what a promotion is worth on the amounts it sees ------------------------------------

# A benefit: the discount, and the weight of each scoped line in earning it (never more
# than the line's current amount, and at least the discount in total, so allocating the
# discount by these weights never takes a line below zero).
Benefit = tuple[int, list[int]]
Seen = Sequence[tuple[int, int]]  # per scoped line: (current amount, qty)


def _whole(p: Promotion, seen: Seen) -> Benefit:
    """Kinds worth a function of the scoped total, earned by every scoped line."""
    weights = [amount for amount, _ in seen]
    return min(_total_discount(p, sum(weights)), sum(weights)), weights


def _total_discount(p: Promotion, total: int) -> int:
    if p.kind is Kind.percent_off:
        return total * p.off_bp // FULL_BP
    if p.kind is Kind.amount_off:
        return p.amount
    if p.kind is Kind.threshold:
        return max((t.discount for t in p.tiers if t.threshold <= total), default=0)
    return total // p.every * p.minus  # repeat_threshold


def _units(seen: Seen) -> list[tuple[int, int]]:
    """Every scoped unit as (price, line index), cheapest first (ties: the earlier line); a
    line's amount is spread over its units to the fen (the earlier units take the leftover
    fen), so unit prices sum to the line amount."""
    out: list[tuple[int, int]] = []
    for i, (amount, qty) in enumerate(seen):
        each, spare = divmod(amount, qty)
        out += [(each + 1, i)] * spare + [(each, i)] * (qty - spare)
    return sorted(out)


def _dearest(seen: Seen) -> list[tuple[int, int]]:
    return sorted(_units(seen), key=lambda u: (-u[0], u[1]))  # ties: the earlier line


def _weights(units: Iterable[tuple[int, int]], size: int) -> list[int]:
    weights = [0] * size
    for price, i in units:
        weights[i] += price
    return weights


def _cheapest_off(p: Promotion, seen: Seen, count: int) -> Benefit:
    """The `count` cheapest scoped units at off_bp off (买二送一: the cheapest is free)."""
    weights = _weights(_units(seen)[:count], len(seen))
    return sum(weights) * p.off_bp // FULL_BP, weights


def _bundle_benefit(p: Promotion, seen: Seen) -> Benefit:
    """N units for a price, from the dearest units down, for as many bundles as each
    still saves (each further bundle saves less, so stopping at the first loss is best)."""
    units = _dearest(seen)
    n, taken, saving = p.bundle_qty, 0, 0
    while taken + n <= len(units):
        gain = sum(price for price, _ in units[taken : taken + n]) - p.bundle_price
        if gain <= 0:
            break
        taken, saving = taken + n, saving + gain
    return saving, _weights(units[:taken], len(seen))


def _fixed_price_benefit(p: Promotion, seen: Seen) -> Benefit:
    """限时价: each of the dearest `max_units` scoped units (all if 0) down to `price`; a
    line's weight is exactly what its units save, so the split is exact."""
    units = _dearest(seen)[: p.max_units or None]
    weights = _weights(((price - p.price, i) for price, i in units if price > p.price), len(seen))
    return sum(weights), weights


def benefit(p: Promotion, seen: Seen, delivery_fee: int = 0) -> Benefit:
    """What `p` gives on its scoped lines' current amounts (delivery: on the fee, with no
    line weights; a gift gives goods, not money, so nothing here)."""
    units = sum(qty for _, qty in seen)
    if p.kind is Kind.buy_x_get_y:
        return _cheapest_off(p, seen, units // (p.buy + p.get) * p.get)
    if p.kind is Kind.nth_item:
        return _cheapest_off(p, seen, units // p.nth)
    if p.kind is Kind.bundle:
        return _bundle_benefit(p, seen)
    if p.kind is Kind.fixed_price:
        return _fixed_price_benefit(p, seen)
    if p.kind is Kind.free_delivery:
        reached = bool(seen) and sum(a for a, _ in seen) >= p.min_spend
        return (delivery_fee if reached else 0), []
    if p.kind is Kind.gift:
        return 0, []
    return _whole(p, seen)


# --- the cart, indexed once ----------------------------------------------------------------


def in_scope(p: Promotion, lines: Sequence[CartLine]) -> tuple[int, ...]:
    return tuple(i for i, line in enumerate(lines) if p.scope.covers(line))


def _bits(names: frozenset[str], masks: dict[str, int]) -> int:
    """The lines any of `names` covers, walking the shorter of the two (a scope may name
    thousands of SKUs, a cart holds a few dozen lines)."""
    out = 0
    if len(names) <= len(masks):
        for name in names:
            out |= masks.get(name, 0)
    else:
        for name, mask in masks.items():
            if name in names:
                out |= mask
    return out


Names = frozenset[str]


class _Index:
    """Each SKU, category and brand of a cart as a bit mask of its lines (bit i: line i),
    so a scope costs a few dictionary look-ups, not a pass over the lines: a cart is
    checked against every active promotion (1,000 or more) on each pricing."""

    def __init__(self, lines: Sequence[CartLine]) -> None:
        self.every = (1 << len(lines)) - 1
        self.skus: dict[str, int] = {}
        self.categories: dict[str, int] = {}
        self.brands: dict[str, int] = {}
        for i, line in enumerate(lines):
            for masks, name in (
                (self.skus, line.sku_id),
                (self.categories, line.category_id),
                (self.brands, line.brand_id),
            ):
                masks[name] = masks.get(name, 0) | 1 << i

    def mask(self, s: Scope) -> int:
        """Most scopes name one kind of thing, so the empty lists are skipped unvisited
        (this runs for every promotion on every pricing)."""
        if s.skus or s.categories or s.brands:
            mask = self.named(s.skus, s.categories, s.brands)
        else:
            mask = self.every
        if mask and (s.exclude_skus or s.exclude_categories or s.exclude_brands):
            mask &= ~self.named(s.exclude_skus, s.exclude_categories, s.exclude_brands)
        return mask

    def named(self, skus: Names, categories: Names, brands: Names) -> int:
        """The lines any of these names covers."""
        mask = _bits(skus, self.skus) if skus else 0
        if categories:
            mask |= _bits(categories, self.categories)
        if brands:
            mask |= _bits(brands, self.brands)
        return mask


@lru_cache(maxsize=1 << 14)
def _indexes(mask: int) -> tuple[int, ...]:
    """The lines of a mask (a cart's promotions share a few dozen masks at most)."""
    return tuple(i for i in range(mask.bit_length()) if mask >> i & 1)


class _Cart:
    """A cart against a list of promotions: each scope resolved once (line indexes and
    mask), and each promotion's stand-alone discount on gross prices (0 for a gift or a
    promotion out of scope), an upper bound of what it gives in any combination."""

    def __init__(self, lines: Sequence[CartLine], promotions: Sequence[Promotion], fee: int):
        if len({x.line_id for x in lines}) != len(lines):
            raise InvalidPromotion("line_id", "line ids must be unique in a cart")
        if len({p.promotion_id for p in promotions}) != len(promotions):
            raise InvalidPromotion("promotion_id", "promotion ids must be unique")
        if fee < 0:
            raise InvalidPromotion("delivery_fee", "must not be negative")
        self.lines, self.fee, self.promotions = lines, fee, promotions
        self.gross = [x.gross for x in lines]
        self.qty = [x.qty for x in lines]
        index = _Index(lines)
        self.mask = {p.promotion_id: index.mask(p.scope) for p in promotions}
        self.scoped = {pid: _indexes(mask) for pid, mask in self.mask.items() if mask}
        self.alone = {
            p.promotion_id: benefit(p, self.view(p, self.gross), fee)
            for p in promotions
            if p.promotion_id in self.scoped and p.group is not Group.gift
        }
        self.candidates = [p for p in promotions if self.discount(p) > 0]

    def discount(self, p: Promotion) -> int:
        got = self.alone.get(p.promotion_id)
        return got[0] if got else 0

    def idx(self, p: Promotion) -> tuple[int, ...]:
        return self.scoped.get(p.promotion_id, ())

    def view(self, p: Promotion, amounts: Sequence[int]) -> list[tuple[int, int]]:
        return [(amounts[i], self.qty[i]) for i in self.idx(p)]


# --- pricing one combination ---------------------------------------------------------------


@dataclass(frozen=True)
class LinePrice:
    line_id: str
    gross: int
    discount: int
    net: int


@dataclass(frozen=True)
class Applied:
    promotion_id: str
    amount: int
    lines: tuple[tuple[str, int], ...]  # (line id, fen) for every line it touched
    on_delivery: int = 0  # the part taken off the delivery fee


@dataclass(frozen=True)
class Gift:
    """赠品: goods a gift promotion adds to the order at no charge."""

    promotion_id: str
    sku_id: str
    qty: int


class Reason(StrEnum):
    not_in_scope = "not in scope"
    condition_not_met = "condition not met"
    excluded_by_exclusive = "excluded by exclusive"
    beaten = "beaten by combination"
    search_limit = "outside the search limit"


@dataclass(frozen=True)
class NotApplied:
    promotion_id: str
    reason: Reason
    detail: str


@dataclass(frozen=True)
class Pricing:
    lines: tuple[LinePrice, ...]
    applied: tuple[Applied, ...]
    not_applied: tuple[NotApplied, ...]
    delivery_fee: int
    delivery_discount: int
    exact: bool = True
    gifts: tuple[Gift, ...] = ()

    @property
    def gross(self) -> int:
        return sum(x.gross for x in self.lines)

    @property
    def discount(self) -> int:
        return sum(x.discount for x in self.lines) + self.delivery_discount

    @property
    def net(self) -> int:
        """Goods net: the line nets, which sum to gross minus the goods discounts."""
        return sum(x.net for x in self.lines)

    @property
    def payable(self) -> int:
        return self.net + self.delivery_fee - self.delivery_discount


@dataclass(frozen=True)
class _Outcome:
    """One combination priced: the amounts each group saw, per-promotion line shares."""

    seen: dict[Group, list[int]]  # line amounts at the start of each group
    after: list[int]  # line amounts after every goods discount
    shares: dict[str, list[int]]  # promotion id -> fen per cart line
    delivery: dict[str, int]  # promotion id -> fen off the delivery fee

    def amount(self, promotion_id: str) -> int:
        return sum(self.shares.get(promotion_id, ())) + self.delivery.get(promotion_id, 0)


def _price(cart: _Cart, combo: Sequence[Promotion]) -> _Outcome:
    amounts = list(cart.gross)
    seen: dict[Group, list[int]] = {}
    shares: dict[str, list[int]] = {}
    delivery: dict[str, int] = {}
    for group in Group:
        seen[group] = base = list(amounts)
        for p in (p for p in combo if p.group is group):
            discount, weights = benefit(p, cart.view(p, base), cart.fee)
            if group is Group.delivery:
                delivery[p.promotion_id] = discount
                continue
            share = [0] * len(amounts)
            for i, part in zip(cart.idx(p), allocate(discount, weights), strict=True):
                share[i] = part
                amounts[i] -= part
            shares[p.promotion_id] = share
    return _Outcome(seen, amounts, shares, delivery)


# --- the exact search ----------------------------------------------------------------------


class _Stop(Exception):
    """The search reached its step limit."""


# Order kinds whose worth is at most a rate of the scoped amount (折扣 off_bp / 10000, 每满减
# minus / every): what an item discount on their lines costs them is then bounded below.
_LINEAR: dict[Kind, Callable[[Promotion], tuple[int, int]]] = {
    Kind.percent_off: lambda p: (p.off_bp, FULL_BP),
    Kind.repeat_threshold: lambda p: (p.minus, p.every),
}


class _Ranks:
    """The rank of a set of promotions, (discount, goods priority sum, -goods count, goods
    id bits, delivery) as one integer in mixed radix: each digit is wide enough that no
    sum of a lower digit over these candidates reaches the next, so ranks add up over
    disjoint sets and compare as the documented order does. The smallest id has the
    highest id bit; a combination holds one delivery promotion at most, numbered from
    the worst (1) up."""

    def __init__(self, candidates: Sequence[Promotion]) -> None:
        goods = sorted(p.promotion_id for p in candidates if p.group is not Group.delivery)
        doors = sorted(
            (p for p in candidates if p.group is Group.delivery),
            key=lambda p: (-p.priority, p.promotion_id),
        )
        self.door = {p.promotion_id: len(doors) - r for r, p in enumerate(doors)}
        self.doors = len(doors) + 1  # the width of the delivery digit
        n = len(goods)
        widest = max((abs(p.priority) for p in candidates), default=0) + 1
        self.one = (len(doors) + 1) << n
        self.priority = self.one * 2 * (n + 2)
        self.fen = self.priority * 2 * (n * widest + 2)
        self.bit = {pid: (len(doors) + 1) << (n - 1 - r) for r, pid in enumerate(goods)}

    def rest(self, p: Promotion) -> int:
        """The rank of `p` alone, less its discount."""
        if p.group is Group.delivery:
            return self.door[p.promotion_id]
        return p.priority * self.priority - self.one + self.bit[p.promotion_id]


@dataclass(eq=False)
class _Cand:
    """A candidate: its scoped lines (indexes, and a mask in the search's line order), the
    rank less its discount, its rank alone, and (item group) its fixed split to lines."""

    p: Promotion
    idx: tuple[int, ...]
    mask: int
    rest: int
    key: int
    shares: tuple[int, ...]
    linear: int = 0  # order group, linear kinds: the ceiling of rate x gross scoped amount


class _Search:
    """The branch and bound of the module docstring. `amounts` are the line amounts under
    the promotions on `chosen`; the order packing under way is `packed`, its folded
    members (those with a linear bound) `folded`."""

    def __init__(self, cart: _Cart, limit: int) -> None:
        self.cart, self.limit, self.steps = cart, limit, 0
        found = sorted(cart.candidates, key=lambda p: p.promotion_id)
        self.ranks = _Ranks(found)
        lines = cart.lines
        # neighbouring bits for lines that scopes tend to share: fewer packing states
        order = sorted(range(len(lines)), key=lambda i: (lines[i].category_id, lines[i].brand_id))
        self.bit = [0] * len(lines)
        for b, i in enumerate(order):
            self.bit[i] = 1 << b
        self.full = (1 << len(lines)) - 1
        self.items_at: list[list[_Cand]] = [[] for _ in lines]
        self.orders_at: list[list[_Cand]] = [[] for _ in lines]
        self.exclusives: list[_Cand] = []
        self.deliveries: list[_Cand] = []
        for p in found:
            self._add(self._cand(p))
        self.deliveries.sort(key=lambda c: c.key, reverse=True)
        self.amounts = list(cart.gross)
        self.chosen: list[_Cand] = []
        self.packed: list[_Cand] = []
        self.folded: tuple[_Cand, ...] = ()
        self.best, self.best_set = 0, list[Promotion]()
        self.gross_memo: dict[int, int] = {0: 0}
        self.item_memo: dict[tuple[_Cand, ...], dict[int, int]] = {}
        self.item_keys: dict[tuple[_Cand, ...], dict[_Cand, int]] = {}
        self.worth: dict[tuple[str, tuple[int, ...]], int] = {}
        self.free = 0  # the best of the item and delivery groups, each alone

    def _cand(self, p: Promotion) -> _Cand:
        idx = self.cart.idx(p)
        mask = 0
        for i in idx:
            mask |= self.bit[i]
        discount, weights = self.cart.alone[p.promotion_id]
        rest = self.ranks.rest(p)
        shares = tuple(allocate(discount, weights)) if p.group is Group.item else ()
        cand = _Cand(p, idx, mask, rest, discount * self.ranks.fen + rest, shares)
        if p.group is Group.order and p.kind in _LINEAR:
            scoped = sum(self.cart.gross[i] for i in idx)
            cand.linear = -(-scoped * _LINEAR[p.kind](p)[0] // _LINEAR[p.kind](p)[1])
        return cand

    def _add(self, c: _Cand) -> None:
        if c.p.exclusive:
            self.exclusives.append(c)
        elif c.p.group is Group.delivery:
            self.deliveries.append(c)
        else:
            at = self.items_at if c.p.group is Group.item else self.orders_at
            at[(c.mask & -c.mask).bit_length() - 1].append(c)

    def step(self) -> None:
        self.steps += 1
        if self.steps > self.limit:
            raise _Stop

    def run(self) -> None:
        """Seed the best with each exclusive promotion alone (rule 4) and the greedy
        combination, try the decomposed search, and unless it proved the best, search
        the order packings and, within each, the items."""
        for c in self.exclusives:
            if c.key > self.best:
                self.best, self.best_set = c.key, [c.p]
        greedy = _greedy(self.cart)
        if (rank := self.rank(greedy)) > self.best:
            self.best, self.best_set = rank, greedy
        if self.split():
            return
        door = self.delivery()
        self.free = self.item_best(self.full) + (door.key if door else 0)
        self.outer(self.full, 0)

    def split(self) -> bool:
        """The decomposed search, on a step budget of its own: when it gives up or stops,
        the two-level search still gets the whole limit (and starts from the best found)
        rather than what was left, so an unproven cart is not answered worse for it."""
        try:
            return _Split(self).solve()
        except (_GiveUp, _Stop):
            return False
        finally:
            self.steps = 0

    # the order packing, valued at gross prices

    def gross_best(self, mask: int) -> int:
        """The best rank of order promotions within `mask`, at their stand-alone worth."""
        best = self.gross_memo.get(mask)
        if best is None:
            self.step()
            low = mask & -mask
            best = self.gross_best(mask ^ low)
            for c in self.orders_at[low.bit_length() - 1]:
                if c.mask & mask == c.mask:
                    best = max(best, c.key + self.gross_best(mask ^ c.mask))
            self.gross_memo[mask] = best
        return best

    def outer(self, mask: int, rank: int) -> None:
        """Branch on the lowest line not yet settled for the order group (best bound
        first): each order promotion that can take it, or none; with the packing
        complete, search the items. Two bounds cut: every group at its best alone, and
        the folded one (the packing's linear members at their linear bound, each item
        promotion less what it must cost them)."""
        self.step()
        if not mask:
            self.folded = tuple(o for o in self.packed if o.linear)
            self.items(self.full, 0)
            return
        low = mask & -mask
        options: list[tuple[int, _Cand | None]] = [(self.gross_best(mask ^ low), None)]
        for c in self.orders_at[low.bit_length() - 1]:
            if c.mask & mask == c.mask:
                options.append((c.key + self.gross_best(mask ^ c.mask), c))
        options.sort(key=lambda o: o[0], reverse=True)
        for bound, pick in options:
            if rank + bound + self.free <= self.best:
                return
            rest = mask ^ (pick.mask if pick else low)
            if pick:
                self.packed.append(pick)
            folded = tuple(o for o in self.packed if o.linear)
            cap = sum(
                o.linear * self.ranks.fen + o.rest if o.linear else o.key for o in self.packed
            )
            door = self.deliveries[0].key if self.deliveries else 0
            if cap + self.gross_best(rest) + self.item_best(self.full, folded) + door > self.best:
                self.outer(rest, rank + (pick.key if pick else 0))
            if pick:
                self.packed.pop()

    # the items, for a given order packing

    def item_key(self, c: _Cand, folded: tuple[_Cand, ...]) -> int:
        """An item promotion's rank less what it must cost the folded order promotions:
        the floor of their rate on its share of their lines (the floors of parts never
        exceed the floor of the whole)."""
        keys = self.item_keys.setdefault(folded, {})
        key = keys.get(c)
        if key is None:
            key = c.key
            for o in folded:
                if c.mask & o.mask:
                    share = sum(
                        s for i, s in zip(c.idx, c.shares, strict=True) if self.bit[i] & o.mask
                    )
                    num, den = _LINEAR[o.p.kind](o.p)
                    key -= share * num // den * self.ranks.fen
            keys[c] = key
        return key

    def item_best(self, mask: int, folded: tuple[_Cand, ...] = ()) -> int:
        """The best rank of item promotions within the lines of `mask`, each less its cost
        to `folded`: the lowest line is left free or covered by a promotion whose lines
        are all still free."""
        memo = self.item_memo.setdefault(folded, {0: 0})
        best = memo.get(mask)
        if best is None:
            self.step()
            low = mask & -mask
            best = self.item_best(mask ^ low, folded)
            for c in self.items_at[low.bit_length() - 1]:
                if c.mask & mask == c.mask:
                    left = self.item_best(mask ^ c.mask, folded)
                    best = max(best, self.item_key(c, folded) + left)
            memo[mask] = best
        return best

    def packed_now(self) -> tuple[int, int, list[tuple[int, int, int]]] | None:
        """Bounds of the order packing on the current amounts, each with the best delivery
        still reached: its worth now (the rest of the items cost it nothing), and folded
        (its linear members at rate x scoped amount), with what `folded_cap` needs to
        tighten the latter. None once a member gives nothing: amounts only fall."""
        now = folded = 0
        saws = []
        for o in self.packed:
            key = self.order_worth(o)
            if not key:
                return None
            now += key
            if o.linear:
                num, den = _LINEAR[o.p.kind](o.p)
                ceiling = -(-sum(self.amounts[i] for i in o.idx) * num // den)
                saws.append((num, den, ceiling - self.value(key)))
                key = ceiling * self.ranks.fen + o.rest
            folded += key
        door = self.delivery()
        reach = door.key if door else 0
        return now + reach, folded + reach, saws

    def value(self, rank: int) -> int:
        """The discount digit of a rank (the lower digits stay within half a fen)."""
        return (rank + self.ranks.fen // 2) // self.ranks.fen

    def folded_cap(self, folded: int, saws: list[tuple[int, int, int]], raw: int) -> int:
        """The folded bound, tightened: a linear member gives at most its worth now plus
        its rate on what the rest of the items can take off (at most their raw best),
        which is below rate x scoped amount when they cannot reach its next step down."""
        most = self.value(raw)
        for num, den, gap in saws:
            folded -= max(0, gap - -(-most * num // den)) * self.ranks.fen
        return folded

    def items(self, mask: int, rank: int) -> None:
        """Branch on the lowest free line (best folded bound first): each item promotion
        that can cover it, or none; at the end, price the order packing on what is left.
        A branch is cut if either bound of `packed_now`, with the items' matching bound,
        cannot beat the best."""
        self.step()
        caps = self.packed_now()
        if caps is None:
            return
        if not mask:
            self.settle(rank)
            return
        now, folded, saws = caps
        low = mask & -mask
        options: list[tuple[int, int, _Cand | None]] = [
            (self.item_best(mask ^ low, self.folded), self.item_best(mask ^ low), None)
        ]
        for c in self.items_at[low.bit_length() - 1]:
            if c.mask & mask == c.mask:
                rest = mask ^ c.mask
                bound = self.item_key(c, self.folded) + self.item_best(rest, self.folded)
                options.append((bound, c.key + self.item_best(rest), c))
        options.sort(key=lambda o: o[0], reverse=True)
        for bound, raw, pick in options:
            if rank + bound + folded <= self.best:
                return
            if rank + raw + now <= self.best:
                continue
            if saws and rank + bound + self.folded_cap(folded, saws, raw) <= self.best:
                continue
            if pick is None:
                self.items(mask ^ low, rank)
                continue
            self.take(pick, pick.shares)
            self.items(mask ^ pick.mask, rank + pick.key)
            self.give_back(pick, pick.shares)

    def order_worth(self, c: _Cand) -> int:
        """The rank of order promotion `c` on the current amounts of its lines (0 if it
        gives nothing there: rule 5), kept by those amounts, as many item choices leave
        its lines alike."""
        view = tuple(self.amounts[i] for i in c.idx)
        rank = self.worth.get((c.p.promotion_id, view))
        if rank is None:
            discount = benefit(c.p, self.seen(c))[0]
            rank = discount * self.ranks.fen + c.rest if discount else 0
            self.worth[(c.p.promotion_id, view)] = rank
        return rank

    def seen(self, c: _Cand) -> list[tuple[int, int]]:
        return [(self.amounts[i], self.cart.qty[i]) for i in c.idx]

    def settle(self, rank: int) -> None:
        """A complete choice: the order packing on what the items left (split to lines
        only here, as the bounds need no split), then the best delivery promotion the net
        still reaches."""
        split = []
        for o in self.packed:
            discount, weights = benefit(o.p, self.seen(o))
            split.append(tuple(allocate(discount, weights)))
            rank += self.order_worth(o)
        for o, shares in zip(self.packed, split, strict=True):
            self.take(o, shares)
        door = self.delivery()
        if door is not None:
            rank += door.key
        if rank > self.best:
            self.best = rank
            self.best_set = [c.p for c in self.chosen] + ([door.p] if door else [])
        for o, shares in zip(self.packed, split, strict=True):
            self.give_back(o, shares)

    # delivery, and the bookkeeping

    def delivery(self) -> _Cand | None:
        """The best delivery promotion the current amounts reach (amounts only fall
        further down a branch, so it also bounds the branch)."""
        for d in self.deliveries:
            if sum(self.amounts[i] for i in d.idx) >= d.p.min_spend:
                return d
        return None

    def take(self, c: _Cand, shares: tuple[int, ...]) -> None:
        for i, fen in zip(c.idx, shares, strict=True):
            self.amounts[i] -= fen
        self.chosen.append(c)

    def give_back(self, c: _Cand, shares: tuple[int, ...]) -> None:
        for i, fen in zip(c.idx, shares, strict=True):
            self.amounts[i] += fen
        self.chosen.pop()

    def rank(self, combo: Sequence[Promotion]) -> int:
        out = _price(self.cart, combo)
        return sum(out.amount(p.promotion_id) * self.ranks.fen + self.ranks.rest(p) for p in combo)

    def priced(self, picks: Sequence[_Cand]) -> tuple[int, list[Promotion]]:
        """The exact rank of goods promotions `picks` with the best delivery promotion
        their net reaches, and that combination (rank -1 if a member gives nothing)."""
        combo = [c.p for c in picks]
        out = _price(self.cart, combo)
        rank = 0
        for c in picks:
            got = out.amount(c.p.promotion_id)
            if not got:
                return -1, combo
            rank += got * self.ranks.fen + c.rest
        door = next((d for d in self.deliveries if _reach(d, out.after)), None)
        if door is None:
            return rank, combo
        return rank + door.key, [*combo, door.p]


# --- the decomposed search -----------------------------------------------------------------

_SMALL = 3  # lines: a promotion on at most this many is settled inside its component
_SUMMED = (Kind.percent_off, Kind.amount_off, Kind.threshold, Kind.repeat_threshold)
_MAX_PACKINGS = 512  # per group of big promotions, or of the small ones of a component

# A state of the combination: (rank so far, the picks as a linked list (pick, rest)).
_Trail = tuple[tuple["_Cand", ...], "_Trail"] | None


class _GiveUp(Exception):
    """A cart the decomposition does not fit: the two-level search takes over."""


def _packings(cands: Iterable[_Cand]) -> list[tuple[tuple[_Cand, ...], int]]:
    """Every set of pairwise disjoint candidates (with its mask), the empty one first."""
    out: list[tuple[tuple[_Cand, ...], int]] = [((), 0)]
    for c in cands:
        out += [((*picks, c), mask | c.mask) for picks, mask in out if not mask & c.mask]
        if len(out) > _MAX_PACKINGS:
            raise _GiveUp
    return out


def _pack(worth: dict[_Cand, int]) -> tuple[int, tuple[_Cand, ...]]:
    """The best set of these order deals with disjoint lines, by their worth: a DP over
    the set of their lines still free."""
    at: dict[int, list[_Cand]] = {}
    for o in worth:
        at.setdefault(o.mask & -o.mask, []).append(o)
    memo: dict[int, tuple[int, tuple[_Cand, ...]]] = {0: (0, ())}

    def pack(mask: int) -> tuple[int, tuple[_Cand, ...]]:
        got = memo.get(mask)
        if got is None:
            low = mask & -mask
            got = pack(mask ^ low)
            for o in at.get(low, ()):
                if o.mask & mask == o.mask:
                    key, picks = pack(mask ^ o.mask)
                    if key + worth[o] > got[0]:
                        got = (key + worth[o], (o, *picks))
            memo[mask] = got
        return got

    return pack(_union(worth))


def _union(cands: Iterable[_Cand]) -> int:
    return reduce(or_, (c.mask for c in cands), 0)


def _components(masks: Iterable[int]) -> list[int]:
    """The lines joined by shared promotions, as masks."""
    out: list[int] = []
    for m in masks:
        joined = m
        for c in out:
            if c & m:
                joined |= c
        out = [c for c in out if not c & m] + [joined]
    return out


def _summed_worth(p: Promotion, total: int) -> int:
    """An order promotion of a `_SUMMED` kind on a scoped total (what `_whole` gives)."""
    return min(_total_discount(p, total), total)


class _Split:
    """The exact search for carts built as real catalogues are (分解): most promotions
    cover one to three lines, a few cover (nearly) the whole cart. The big ones of each
    group are packed first (at most a few hundred ways, usually one big promotion or
    none per group); the small ones then fall apart into components of a few lines,
    each settled into options (the best small order promotions, packed by a DP over
    their lines, for each choice of small item promotions). What couples the components
    is the big order promotions' remaining amount: each option carries the item
    discount it takes off each of them (`sig`). With one big order deal that steps
    (满减 tiers, 每满减, 立减), each step is a multiple-choice knapsack over the
    components (`_Knapsack`: the best discount from bit sets of the sums they reach,
    then the full rank); otherwise a dynamic programme over the components keeps, for
    every sum of `sig`, the best rank, a state cut when a bound (the big order deals at
    their rate, each option less the floor of that rate on its `sig`; or at their worth
    now, the options at their best) cannot beat the best. With no big order deal, each
    component's one best choice comes from its own branch and bound (`alone`); with
    one, a component with too many item packings to list (a hot SKU's many deals) is
    searched by its reachable sums (`_Hot`). The
    delivery promotion is counted optimistically (the best one the amounts after the
    big item deal reach), and every answer is priced exactly (`_Search.priced`): the
    result is proven only if no optimistic value stays above the best priced one (a
    different delivery promotion reached counts as confirmed: it is the last tie-break);
    else the two-level search goes on from it."""

    def __init__(self, search: _Search) -> None:
        self.s = search
        items = [c for at in search.items_at for c in at]
        orders = [c for at in search.orders_at for c in at]
        self.big_items = [c for c in items if c.mask.bit_count() > _SMALL]
        self.big_orders = [c for c in orders if c.mask.bit_count() > _SMALL]
        if any(c.p.kind not in _SUMMED for c in self.big_orders):
            raise _GiveUp
        self.small_items = [c for c in items if c.mask.bit_count() <= _SMALL]
        self.small_orders = [c for c in orders if c.mask.bit_count() <= _SMALL]
        self.comps = _components(c.mask for c in self.small_items + self.small_orders)
        self.lines_of = {
            comp: [i for i, bit in enumerate(search.bit) if bit & comp] for comp in self.comps
        }
        self.memo: dict[tuple[int, ...], list[tuple[int, tuple[int, ...], _Trail]]] = {}
        self.packed: dict[tuple[tuple[_Cand, int], ...], tuple[int, tuple[_Cand, ...]]] = {}
        self.worth: dict[tuple[_Cand, tuple[int, ...]], int] = {}
        self.open = 0  # the highest optimistic value its pricing did not confirm

    def solve(self) -> bool:
        """Search every pair of big packings whose bound can beat the best, best bound
        first; True if the best is then proven. Bounding a pair costs a pass over the
        components, so each is first bounded cheaply (the components as its big order
        packing alone leaves them, or its big item packing alone: the lesser, as more
        free lines never give less) and bounded exactly only when it comes up."""
        s = self.s
        door = s.deliveries[0].key if s.deliveries else 0
        orders = [(bo, sum(c.key for c in bo), _union(bo)) for bo, _ in _packings(self.big_orders)]
        items = [(bi, sum(c.key for c in bi), _union(bi)) for bi, _ in _packings(self.big_items)]
        alone_o = {bo: self.comps_top(0, taken) for bo, _, taken in orders}
        alone_i = {bi: self.comps_top(taken, 0) for bi, _, taken in items}
        heap = [
            (-(ko + ki + door + min(alone_o[bo], alone_i[bi])), n, False, bo, bi)
            for n, ((bo, ko, _), (bi, ki, _)) in enumerate(product(orders, items))
        ]
        heapify(heap)
        while heap and -heap[0][0] > s.best:
            _, n, exact, bo, bi = heappop(heap)
            if exact:
                self.pair(bo, bi)
                continue
            bound = sum(c.key for c in (*bo, *bi)) + door
            heappush(heap, (-(bound + self.comps_top(_union(bi), _union(bo))), n, True, bo, bi))
        return self.open <= s.best

    def comps_top(self, taken_i: int, taken_o: int) -> int:
        """What the components can add with the lines the big promotions leave, at most:
        in each, its item deals and its order deals each at their best alone on gross
        prices (the coupling inside a component is left to the pairs that come up;
        both packings are memoised by mask, so a bound costs a few look-ups)."""
        s = self.s
        return sum(s.item_best(c & ~taken_i) + s.gross_best(c & ~taken_o) for c in self.comps)

    def pair(self, bo: tuple[_Cand, ...], bi: tuple[_Cand, ...]) -> None:
        s = self.s
        base = list(s.cart.gross)
        for c in bi:
            for i, fen in zip(c.idx, c.shares, strict=True):
                base[i] -= fen
        free_i = s.full & ~_union(bi)
        free_o = s.full & ~_union(bo)
        door = next((d for d in s.deliveries if _reach(d, base)), None)
        fixed = sum(c.key for c in bi) + (door.key if door else 0)
        layers, hot = self.layers(free_i, free_o, base, bo)
        heads = [sum(base[i] for i in o.idx) for o in bo]
        levels = None
        if len(bo) == 1:
            most = sum(layer[0][1][0] for layer in layers) + (hot.top()[1] if hot else 0)
            levels = _levels(bo[0].p, heads[0], most)
        if levels is not None:  # exact per step: no seed needed for its bounds
            found = self.stepwise(layers, bo[0], heads[0], fixed, levels, hot)
        elif hot is not None:
            raise _GiveUp
        else:
            self.seed([*bi, *bo], layers, _rates(bo))
            found = self.combine(layers, bo, heads, fixed)
        for key, trail in found:
            if key <= s.best:
                return
            picks = [*bi, *bo, *_unwind(trail)]
            true, combo = s.priced(picks)
            # falling short by less than the delivery digit, it reached a delivery
            # promotion if not the one counted: no other choice of the pair can beat it,
            # as goods ranks differ by whole multiples of that digit
            if key - true >= s.ranks.doors:
                self.open = max(self.open, key)
            if true > s.best:
                s.best, s.best_set = true, combo

    def layers(
        self, free_i: int, free_o: int, base: Sequence[int], bo: tuple[_Cand, ...]
    ) -> tuple[list[list[tuple[int, tuple[int, ...], _Trail]]], _Hot | None]:
        """Each component's options, most first: without a big order deal, its one best
        choice (`alone`); with one, each choice that trades differently against it, a
        component with too many to list taken as `_Hot` if it is pure (no small order
        deal, every item deal on the big order deal's lines), as the knapsack's last
        component (one such at most)."""
        layers: list[list[tuple[int, tuple[int, ...], _Trail]]] = []
        hot = None
        for comp in self.comps:
            if not bo:  # nothing to trade against: its one best choice, by branch and bound
                key, picks = self.alone(comp, free_i, free_o, base)
                layers.append([(key, (), (picks, None))])
                continue
            try:
                layers.append(self.options(comp, comp & free_i, comp & free_o, base, bo))
                continue
            except _GiveUp:
                pass
            if hot is not None:
                raise _GiveUp
            hot = self.hot(comp & free_i, comp & free_o, bo)
        layers.sort(key=len, reverse=True)
        return layers, hot

    def alone(
        self, comp: int, free_i: int, free_o: int, base: Sequence[int]
    ) -> tuple[int, tuple[_Cand, ...]]:
        """The best small item and order deals of a component with no big order deal to
        trade against (one option, so no need to list every packing): branch and bound
        on the lowest free line (each item deal that can take it, best first,
        or none), every node a complete choice; bound: the items within the free lines
        at their best (a DP over masks) and the order deals on the amounts now, which
        only fall."""
        free_i, free_o = comp & free_i, comp & free_o
        at: dict[int, list[_Cand]] = {}
        for c in sorted(self.small_items, key=lambda c: c.key, reverse=True):
            if c.mask & free_i == c.mask:
                at.setdefault(c.mask & -c.mask, []).append(c)
        orders = [c for c in self.small_orders if c.mask & free_o == c.mask]
        amounts = {i: base[i] for i in self.lines_of[comp]}
        packed: dict[int, int] = {0: 0}

        def most(mask: int) -> int:
            if mask not in packed:
                low = mask & -mask
                packed[mask] = max(
                    [most(mask ^ low)]
                    + [
                        c.key + most(mask ^ c.mask)
                        for c in at.get(low, ())
                        if c.mask & mask == c.mask
                    ]
                )
            return packed[mask]

        best: list[tuple[int, tuple[_Cand, ...]]] = [(-1, ())]

        def walk(mask: int, key: int, picks: tuple[_Cand, ...]) -> None:
            self.s.step()
            deals, chosen = self.best_orders(orders, amounts)
            if key + deals > best[0][0]:
                best[0] = (key + deals, picks + chosen)
            if not mask or key + most(mask) + deals <= best[0][0]:
                return
            low = mask & -mask
            for c in at.get(low, ()):
                if c.mask & mask == c.mask:
                    for i, fen in zip(c.idx, c.shares, strict=True):
                        amounts[i] -= fen
                    walk(mask ^ c.mask, key + c.key, (*picks, c))
                    for i, fen in zip(c.idx, c.shares, strict=True):
                        amounts[i] += fen
            walk(mask ^ low, key, picks)

        walk(free_i, 0, ())
        return best[0]

    def hot(self, free_i: int, free_o: int, bo: tuple[_Cand, ...]) -> _Hot:
        items = [c for c in self.small_items if c.mask & free_i == c.mask]
        if len(bo) > 1 or any(c.mask & free_o == c.mask for c in self.small_orders):
            raise _GiveUp
        if bo and any(c.mask & ~bo[0].mask for c in items):
            raise _GiveUp
        return _Hot(items, free_i, self.s.step)

    def seed(
        self,
        big: list[_Cand],
        layers: list[list[tuple[int, tuple[int, ...], _Trail]]],
        rates: list[tuple[int, int]],
    ) -> None:
        """Price the pair's most likely best first, so that the bounds cut from the start:
        each component at its best option less its floor cost to the linear big deals."""
        fen = self.s.ranks.fen
        picks = list(big)
        for layer in layers:
            top = max(layer, key=lambda opt: opt[0] - _cost(opt[1], rates) * fen)
            picks += _unwind(top[2])
        true, combo = self.s.priced(picks)
        if true > self.s.best:
            self.s.best, self.s.best_set = true, combo

    def options(
        self, comp: int, free_i: int, free_o: int, base: Sequence[int], bo: tuple[_Cand, ...]
    ) -> list[tuple[int, tuple[int, ...], _Trail]]:
        """A component's options: for each `sig` (the item discount on each big order
        promotion's lines), the best rank of small item promotions within `free_i` and
        small order promotions within `free_o`, on the amounts `base`."""
        lines = self.lines_of[comp]
        memo_key = (comp, free_i, free_o, *(base[i] for i in lines), *(o.mask & comp for o in bo))
        got = self.memo.get(memo_key)
        if got is not None:
            return got
        fits = [c for c in self.small_items if c.mask & free_i == c.mask]
        items = _packings(fits)
        orders = [c for c in self.small_orders if c.mask & free_o == c.mask]
        seen = sorted({i for c in orders for i in c.idx})  # the lines the order deals see
        bit = self.s.bit
        cuts = {  # what each item deal takes off each big order deal's lines
            c: tuple(
                sum(fen for i, fen in zip(c.idx, c.shares, strict=True) if bit[i] & o.mask)
                for o in bo
            )
            for c in fits
        }
        zero = tuple(0 for _ in bo)
        settled: dict[tuple[int, ...], tuple[int, tuple[_Cand, ...]]] = {(): (0, ())}
        best: dict[tuple[int, ...], tuple[int, _Trail]] = {}
        for picks, _ in items:
            self.s.step()
            sig = tuple(map(sum, zip(zero, *(cuts[c] for c in picks), strict=True)))
            view: tuple[int, ...] = ()
            if seen:
                amounts = {i: base[i] for i in seen}
                for c in picks:
                    for i, fen in zip(c.idx, c.shares, strict=True):
                        if i in amounts:
                            amounts[i] -= fen
                view = tuple(amounts.values())
                if view not in settled:  # item choices elsewhere leave the orders alike
                    settled[view] = self.best_orders(orders, amounts)
            key, deals = settled[view]
            key += sum(c.key for c in picks)
            if sig not in best or best[sig][0] < key:
                best[sig] = (key, (picks + deals, None))
        got = _pareto([(key, sig, trail) for sig, (key, trail) in best.items()])
        self.memo[memo_key] = got
        return got

    def best_orders(
        self, orders: list[_Cand], amounts: dict[int, int]
    ) -> tuple[int, tuple[_Cand, ...]]:
        """The best packing of small order promotions on these amounts, every member
        giving something (rule 5): a DP over the set of their lines still free."""
        worth = {o: w for o in orders if (w := self.order_key(o, amounts))}
        key = tuple(worth.items())  # the packing depends on nothing else
        got = self.packed.get(key)
        if got is None:
            got = self.packed[key] = _pack(worth)
        return got

    def order_key(self, o: _Cand, amounts: dict[int, int]) -> int:
        view = tuple(amounts[i] for i in o.idx)
        key = self.worth.get((o, view))
        if key is None:
            seen = [(a, self.s.cart.qty[i]) for a, i in zip(view, o.idx, strict=True)]
            discount = benefit(o.p, seen)[0]
            key = discount * self.s.ranks.fen + o.rest if discount else 0
            self.worth[(o, view)] = key
        return key

    def combine(
        self,
        layers: list[list[tuple[int, tuple[int, ...], _Trail]]],
        bo: tuple[_Cand, ...],
        heads: list[int],
        fixed: int,
    ) -> list[tuple[int, _Trail]]:
        """The complete combinations of this pair that may beat the best, best first:
        the components folded in one by one, states merged by their `sig` sum (with one
        big order deal that steps, `stepwise` instead)."""
        s, fen = self.s, self.s.ranks.fen
        rates = _rates(bo)
        plain = _suffix([max(key for key, _, _ in layer) for layer in layers])
        folded = _suffix(
            [max(key - _cost(sig, rates) * fen for key, sig, _ in layer) for layer in layers]
        )
        zero = tuple(0 for _ in bo)
        states: dict[tuple[int, ...], tuple[int, _Trail]] = {zero: (fixed, None)}
        for k, layer in enumerate(layers):
            grown: dict[tuple[int, ...], tuple[int, _Trail]] = {}
            for sig, (key, trail) in states.items():
                for okey, osig, otrail in layer:
                    s.step()
                    new = tuple(a + b for a, b in zip(sig, osig, strict=True))
                    total = key + okey
                    if new not in grown or grown[new][0] < total:
                        grown[new] = (total, (otrail[0], trail) if otrail else trail)
            states = {
                sig: state
                for sig, state in _pareto_states(grown)
                if self.bound(state[0], sig, bo, heads, rates, plain[k + 1], folded[k + 1]) > s.best
            }
        out = []
        for sig, (key, trail) in states.items():
            worth = [
                _summed_worth(o.p, head - cut) for o, head, cut in zip(bo, heads, sig, strict=True)
            ]
            if all(worth):
                key += sum(w * fen + o.rest for w, o in zip(worth, bo, strict=True))
                out.append((key, trail))
        out.sort(key=lambda x: x[0], reverse=True)
        return out

    def stepwise(
        self,
        layers: list[list[tuple[int, tuple[int, ...], _Trail]]],
        o: _Cand,
        head: int,
        fixed: int,
        levels: list[int],
        hot: _Hot | None,
    ) -> list[tuple[int, _Trail]]:
        """One big order deal `o` whose worth is a step function of what the items leave
        of `head` (满减 tiers, 每满减, 立减): for each step, the best components within
        the item discount that keeps it (a multiple-choice knapsack), steps tried best
        discount first (ties within half a fen: the lower digits). Only the best of each
        step is returned: should its delivery not be confirmed, the pair stays open and
        the two-level search decides."""
        fen = self.s.ranks.fen
        knap = _Knapsack(layers, hot, self.s.value, self.s.step)
        tries = []
        for left in levels:
            worth = _summed_worth(o.p, left)
            goal = knap.top(head - left)
            if worth and goal >= 0:
                base = fixed + worth * fen + o.rest
                tries.append((base + goal * fen + fen // 2, base, head - left, goal))
        tries.sort(key=lambda t: t[0], reverse=True)
        out: list[tuple[int, _Trail]] = []
        floor = self.s.best
        for bound, base, budget, goal in tries:
            if bound <= floor:
                break
            key, trail = knap.best(budget, goal)
            out.append((base + key, trail))
            floor = max(floor, base + key)
        out.sort(key=lambda x: x[0], reverse=True)
        return out

    def bound(
        self,
        key: int,
        sig: tuple[int, ...],
        bo: tuple[_Cand, ...],
        heads: list[int],
        rates: list[tuple[int, int]],
        plain: int,
        folded: int,
    ) -> int:
        """The lesser of two bounds on what a state can still reach: the rest at their
        best and the big order deals at their worth now (amounts only fall), or the rest
        less their floor cost to the linear big deals, which are at their rate."""
        fen = self.s.ranks.fen
        now = lin = 0
        for o, head, cut, (num, den) in zip(bo, heads, sig, rates, strict=True):
            worth = _summed_worth(o.p, head - cut)
            now += worth * fen + o.rest
            lin += (-(-(head - cut) * num // den) if num else worth) * fen + o.rest
        return key + min(plain + now, folded + lin)


def _levels(p: Promotion, head: int, most: int) -> list[int] | None:
    """The amounts left of `head` at which order deal `p` steps up, between `head - most`
    (the most the items can take off) and `head`, each with the worth it keeps down to
    the next; None if `p` is not a step function there (折扣, or 立减 on less than its
    amount)."""
    low = head - most
    if p.kind is Kind.threshold:
        steps = [t.threshold for t in p.tiers]
    elif p.kind is Kind.repeat_threshold:
        steps = list(range(max(p.every, low // p.every * p.every), head + 1, p.every))
    elif p.kind is Kind.amount_off and low >= p.amount:
        steps = [p.amount]
    else:
        return None
    below = [x for x in steps if x <= low]
    return [x for x in steps if low < x <= head] + below[-1:]


_Option = tuple[int, int, int, _Trail]  # a component's option: cut, discount, rank, picks


class _Knapsack:
    """A multiple-choice knapsack (多选背包) over the components' options: the best rank,
    one option per component, whose item discount on the big deal's lines (`cut`) stays
    within a budget. It is a subset sum at heart (an item deal on the big deal's lines
    cuts exactly what it gives), with millions of ties on the discount that the lower
    digits of the rank must settle, so: the best discount first, exactly, from bit sets
    of the sums the components can reach (Python's long integers shift and or them at C
    speed); then a dynamic programme over (cut, discount) for the full rank that keeps
    only states that can still complete to that discount, which are few. Components
    whose options also give off other lines ("mixed") are enumerated first, as pairs
    (cut, discount); the others ("pure") are the bit sets."""

    def __init__(
        self,
        layers: list[list[tuple[int, tuple[int, ...], _Trail]]],
        hot: _Hot | None,
        value: Callable[[int], int],
        step: Callable[[], None],
    ) -> None:
        self.step = step
        mixed: list[list[_Option]] = []
        pure: list[list[_Option]] = []
        for layer in layers:
            opts = sorted((sig[0], value(key), key, trail) for key, sig, trail in layer)
            (pure if all(cut == fen for cut, fen, _, _ in opts) else mixed).append(opts)
        # The last component is looked up by the sum it must make, not walked: the hot
        # one, or else the pure one with the most options (its sums then cost no shift).
        pure.sort(key=len)
        self.last: Callable[[int], tuple[int, tuple[_Cand, ...]] | None] | None = None
        sums = 1
        if hot is not None:
            self.last, sums = partial(hot.exact, hot.free), hot.reach(hot.free)
        elif pure:
            by_cut = {cut: (key, trail[0] if trail else ()) for cut, _, key, trail in pure.pop()}
            self.last, sums = by_cut.get, _bitset(by_cut)
        self.layers, self.mixed = mixed + pure, len(mixed)
        self.reach = [sums]  # reach[j]: the sums pure components j.. and the last can make
        for opts in reversed(pure):
            if len(opts) > 1 or opts[0][0]:
                step()
                sums = reduce(or_, (sums << cut for cut, *_ in opts))
            self.reach.append(sums)
        self.reach.reverse()
        self.pairs = {(0, 0)}  # (cut, discount) the mixed components can make
        for opts in mixed:
            step()
            self.pairs = {(c + cut, d + fen) for c, d in self.pairs for cut, fen, _, _ in opts}
            if len(self.pairs) > _MAX_PACKINGS:
                raise _GiveUp

    def top(self, budget: int) -> int:
        """The most discount within `budget`, or -1 if nothing fits."""
        best = -1
        for cut, fen in self.pairs:
            if cut <= budget:
                fits = self.reach[0] & ((2 << (budget - cut)) - 1)
                best = max(best, fen + fits.bit_length() - 1)
        return best

    def best(self, budget: int, goal: int) -> tuple[int, _Trail]:
        """The best rank among the choices within `budget` that give `goal` (`top`)."""
        states: dict[tuple[int, int], tuple[int, _Trail]] = {(0, 0): (0, None)}
        for k, layer in enumerate(self.layers):
            grown: dict[tuple[int, int], tuple[int, _Trail]] = {}
            for (cut, fen), (key, trail) in states.items():
                for ocut, ofen, okey, otrail in layer:
                    if cut + ocut > budget:
                        break
                    self.step()
                    at = (cut + ocut, fen + ofen)
                    if (k + 1 >= self.mixed and not self.completes(k + 1, at, budget, goal)) or (
                        at in grown and grown[at][0] >= key + okey
                    ):
                        continue
                    grown[at] = (key + okey, (otrail[0], trail) if otrail else trail)
            states = grown
        if self.last is None:
            return max(states.values(), key=lambda state: state[0])
        best: tuple[int, _Trail] = (-1, None)
        for (_, fen), (key, trail) in states.items():
            got = self.last(goal - fen)
            if got is not None and key + got[0] > best[0]:
                best = (key + got[0], (got[1], trail))
        return best

    def completes(self, k: int, at: tuple[int, int], budget: int, goal: int) -> bool:
        """Whether the pure components from `k` can add exactly what `at` lacks of
        `goal` within what is left of `budget`."""
        lack = goal - at[1]
        return 0 <= lack <= budget - at[0] and bool(self.reach[k - self.mixed] >> lack & 1)


def _bitset(sums: Iterable[int]) -> int:
    """The sums as the bits of one integer, set in a buffer rather than shifted in."""
    sums = list(sums)
    buf = bytearray(max(sums) // 8 + 1)
    for x in sums:
        buf[x >> 3] |= 1 << (x & 7)
    return int.from_bytes(buf, "little")


class _Hot:
    """A component with too many item packings to list (a hot SKU's dozen deals on each
    of a few lines), pure for the knapsack (each deal's cut is its discount): kept as
    the sums its packings reach, as bits by a DP over its free lines, and searched for
    an exact sum only for the states the knapsack brings to it, which are few."""

    def __init__(self, cands: list[_Cand], free: int, step: Callable[[], None]) -> None:
        self.free, self.step = free, step
        self.at: dict[int, list[tuple[_Cand, int]]] = {}
        for c in cands:
            self.at.setdefault(c.mask & -c.mask, []).append((c, sum(c.shares)))
        self.sums: dict[int, int] = {0: 1}
        self.found: dict[tuple[int, int], tuple[int, tuple[_Cand, ...]] | None] = {}
        self.best: tuple[int, int, tuple[_Cand, ...]] | None = None

    def reach(self, mask: int) -> int:
        """The sums the packings within `mask` reach, as bits."""
        got = self.sums.get(mask)
        if got is None:
            self.step()
            low = mask & -mask
            got = self.reach(mask ^ low)
            for c, cut in self.at.get(low, ()):
                if c.mask & mask == c.mask:
                    got |= self.reach(mask ^ c.mask) << cut
            self.sums[mask] = got
        return got

    def exact(self, mask: int, target: int) -> tuple[int, tuple[_Cand, ...]] | None:
        """The best rank of packings within `mask` that sum to `target`, and the picks."""
        if target < 0 or not self.reach(mask) >> target & 1:
            return None
        if not mask:
            return 0, ()
        if (mask, target) in self.found:
            return self.found[(mask, target)]
        self.step()
        low = mask & -mask
        got = self.exact(mask ^ low, target)
        for c, cut in self.at.get(low, ()):
            if c.mask & mask == c.mask:
                sub = self.exact(mask ^ c.mask, target - cut)
                if sub is not None and (got is None or sub[0] + c.key > got[0]):
                    got = (sub[0] + c.key, (c, *sub[1]))
        self.found[(mask, target)] = got
        return got

    def top(self) -> tuple[int, int, tuple[_Cand, ...]]:
        """The packing of the highest rank, (rank, cut, picks): the highest sum (a cut is
        a discount here), then the lower digits among its packings."""
        if self.best is None:
            cut = self.reach(self.free).bit_length() - 1
            got = self.exact(self.free, cut)
            assert got is not None  # the sum is reached
            self.best = (got[0], cut, got[1])
        return self.best


def _rates(bo: tuple[_Cand, ...]) -> list[tuple[int, int]]:
    """Each big order deal's rate (0 for the step kinds, bounded by their worth now)."""
    return [_LINEAR[o.p.kind](o.p) if o.p.kind in _LINEAR else (0, 1) for o in bo]


def _cost(sig: tuple[int, ...], rates: list[tuple[int, int]]) -> int:
    """The least an option's item discounts cost the linear big order deals: the floor of
    the rate on each part (floors of parts never exceed the floor of the whole)."""
    return sum(cut * num // den for cut, (num, den) in zip(sig, rates, strict=True))


def _suffix(values: list[int]) -> list[int]:
    out = [0] * (len(values) + 1)
    for k in range(len(values) - 1, -1, -1):
        out[k] = out[k + 1] + values[k]
    return out


def _pareto(
    options: list[tuple[int, tuple[int, ...], _Trail]],
) -> list[tuple[int, tuple[int, ...], _Trail]]:
    """Drop an option another one beats on rank while taking no more off any big order
    deal (those only lose from smaller amounts)."""
    options.sort(key=lambda x: x[0], reverse=True)
    kept: list[tuple[int, tuple[int, ...], _Trail]] = []
    if len(options[0][1]) <= 1:  # at most one big order deal: kept while the cut falls
        for opt in options:
            if not kept or opt[1] < kept[-1][1]:
                kept.append(opt)
        return kept
    for opt in options:
        if not any(all(a <= b for a, b in zip(k[1], opt[1], strict=True)) for k in kept):
            kept.append(opt)
    return kept


def _pareto_states(
    states: dict[tuple[int, ...], tuple[int, _Trail]],
) -> list[tuple[tuple[int, ...], tuple[int, _Trail]]]:
    """The same rule for the states of one big order deal (sorted by the cut: a state is
    kept only if it ranks above every state that cuts less); several are kept as they are."""
    if len(next(iter(states), ())) != 1:
        return list(states.items())
    kept, top = [], -1
    for sig, state in sorted(states.items()):
        if state[0] > top:
            kept.append((sig, state))
            top = state[0]
    return kept


def _unwind(trail: _Trail) -> list[_Cand]:
    out: list[_Cand] = []
    while trail is not None:
        out += trail[0]
        trail = trail[1]
    return out


def _reach(d: _Cand, amounts: Sequence[int]) -> bool:
    return sum(amounts[i] for i in d.idx) >= d.p.min_spend


def _in_order(cart: _Cart, combo: Iterable[Promotion]) -> list[Promotion]:
    ids = {p.promotion_id for p in combo}
    return [p for p in cart.promotions if p.promotion_id in ids]


def _best(cart: _Cart, limit: int) -> tuple[list[Promotion], bool]:
    """The best combination and whether it is proven best; past the step limit, the best
    found so far (never worse than the greedy one, which seeds the search)."""
    search = _Search(cart, limit)
    try:
        search.run()
    except _Stop:
        return _in_order(cart, search.best_set), False
    return _in_order(cart, search.best_set), True


def best_combination(
    lines: Sequence[CartLine],
    promotions: Sequence[Promotion],
    delivery_fee: int = 0,
    *,
    limit: int = MAX_STEPS,
) -> tuple[list[Promotion], bool, set[str]]:
    """The best legal combination (see the module docstring), whether the search was
    exact, and the candidates it could not rule out before its step limit."""
    cart = _Cart(lines, promotions, delivery_fee)
    chosen, exact = _best(cart, limit)
    return chosen, exact, _unproven(cart, chosen, exact)


def _unproven(cart: _Cart, chosen: Sequence[Promotion], exact: bool) -> set[str]:
    if exact:
        return set()
    return {p.promotion_id for p in cart.candidates} - {p.promotion_id for p in chosen}


# --- the greedy baseline -------------------------------------------------------------------


def _greedy(cart: _Cart) -> list[Promotion]:
    """贪心, as a merchant would: the largest stand-alone discount first (ties: priority,
    then id), each promotion taken if the combination stays legal under the same rules."""
    ranked = sorted(cart.candidates, key=lambda p: (-cart.discount(p), -p.priority, p.promotion_id))
    chosen: list[Promotion] = []
    used = dict.fromkeys(Group, 0)
    for p in ranked:
        if chosen and (p.exclusive or chosen[0].exclusive):
            continue
        mask = 1 if p.group is Group.delivery else cart.mask[p.promotion_id]
        if used[p.group] & mask or not _all_give(cart, [*chosen, p]):
            continue
        chosen.append(p)
        used[p.group] |= mask
    return chosen


def _all_give(cart: _Cart, combo: Sequence[Promotion]) -> bool:
    """Rule 5 for a combination; item promotions alone always give their stand-alone
    discount, so only combinations with other groups are priced."""
    if all(p.group is Group.item for p in combo):
        return True
    out = _price(cart, combo)
    return all(out.amount(p.promotion_id) > 0 for p in combo)


def greedy_combination(
    lines: Sequence[CartLine], promotions: Sequence[Promotion], delivery_fee: int = 0
) -> tuple[list[Promotion], bool, set[str]]:
    """The greedy combination, shaped as `best_combination`'s answer (never proven best)."""
    cart = _Cart(lines, promotions, delivery_fee)
    return _in_order(cart, _greedy(cart)), False, set()


# --- the explanation -----------------------------------------------------------------------


def yuan(fen: int) -> str:
    return f"{fen // 100}.{fen % 100:02d}"


def _hint(p: Promotion, total: int, units: int) -> str:
    """What is missing for `p` to give (more): 差23.00元可减50.00."""
    if p.kind is Kind.threshold:
        nxt = next((t for t in p.tiers if t.threshold > total), p.tiers[-1])
        return f"add {yuan(max(nxt.threshold - total, 0))} more to get {yuan(nxt.discount)} off"
    if p.kind is Kind.repeat_threshold:
        times = total // p.every + 1
        return f"add {yuan(p.every * times - total)} more to get {yuan(p.minus * times)} off"
    if p.kind is Kind.free_delivery:
        return f"add {yuan(max(p.min_spend - total, 0))} more to get free delivery"
    if p.kind is Kind.gift:
        return f"add {yuan(max(p.min_spend - total, 0))} more to get the gift"
    need = {Kind.buy_x_get_y: p.buy + p.get, Kind.nth_item: p.nth, Kind.bundle: p.bundle_qty}
    if p.kind in need and units < need[p.kind]:
        return f"add {need[p.kind] - units} more item(s) to qualify"
    return "gives nothing on these prices"


def _why(p: Promotion, cart: _Cart, chosen: list[Promotion]) -> NotApplied:
    """Why a promotion that gives something where it stands is not in the combination."""
    if len(chosen) == 1 and chosen[0].exclusive:
        detail = f"excluded by exclusive {chosen[0].promotion_id}"
        return NotApplied(p.promotion_id, Reason.excluded_by_exclusive, detail)
    if p.exclusive:
        detail = "exclusive: the best combination without it saves more"
        return NotApplied(p.promotion_id, Reason.beaten, detail)
    detail = "a combination without it saves more"
    mine = cart.mask[p.promotion_id]
    for q in chosen:
        if q.group is p.group and (p.group is Group.delivery or mine & cart.mask[q.promotion_id]):
            detail = f"shares lines with {q.promotion_id} in the {p.group.value} group"
            break
    return NotApplied(p.promotion_id, Reason.beaten, detail)


def _not_applied(
    p: Promotion, cart: _Cart, chosen: list[Promotion], out: _Outcome, dropped: set[str]
) -> NotApplied:
    """The reason, checked in order: scope, search limit, condition (on the amounts the
    promotion would see beside the chosen ones; on gross prices if an exclusive one won;
    a gift on the net), then what beat it."""
    if not cart.idx(p):
        return _out_of_scope(p.promotion_id)
    if p.group is Group.delivery and cart.fee == 0:
        return NotApplied(p.promotion_id, Reason.not_in_scope, "no delivery fee to waive")
    if p.promotion_id in dropped:
        detail = "the search stopped at its step limit before ruling it out"
        return NotApplied(p.promotion_id, Reason.search_limit, detail)
    alone = len(chosen) == 1 and chosen[0].exclusive
    if alone and p.group is Group.gift:
        return _why(p, cart, chosen)
    view = cart.view(p, cart.gross if alone else out.seen[p.group])
    # a promotion worth nothing on gross prices is worth nothing on any lower amounts;
    # the item group sees gross prices, where its worth is known already
    if not cart.discount(p) or (
        p.group is not Group.item and not alone and benefit(p, view, cart.fee)[0] == 0
    ):
        total, units = sum(a for a, _ in view), sum(q for _, q in view)
        return NotApplied(p.promotion_id, Reason.condition_not_met, _hint(p, total, units))
    return _why(p, cart, chosen)


@lru_cache(maxsize=1 << 16)
def _out_of_scope(promotion_id: str) -> NotApplied:
    """The most common explanation by far (four in five of a catalogue's promotions touch
    no line of a given cart), shared rather than built anew on every pricing."""
    return NotApplied(promotion_id, Reason.not_in_scope, "no cart line in scope")


def _applied(p: Promotion, cart: _Cart, out: _Outcome) -> Applied:
    share = out.shares.get(p.promotion_id, [0] * len(cart.lines))
    touched = tuple((x.line_id, s) for x, s in zip(cart.lines, share, strict=True) if s)
    on_fee = out.delivery.get(p.promotion_id, 0)
    return Applied(p.promotion_id, sum(share) + on_fee, touched, on_fee)


def _gifts(cart: _Cart, chosen: list[Promotion], out: _Outcome) -> tuple[Gift, ...]:
    """Rule 7: every gift whose scoped net reaches its spend, unless an exclusive won."""
    if len(chosen) == 1 and chosen[0].exclusive:
        return ()
    return tuple(
        Gift(p.promotion_id, p.gift_sku, p.gift_qty)
        for p in cart.promotions
        if p.group is Group.gift
        and cart.idx(p)
        and sum(out.after[i] for i in cart.idx(p)) >= p.min_spend
    )


def price_cart(
    lines: Sequence[CartLine],
    promotions: Sequence[Promotion],
    delivery_fee: int = 0,
    method: Literal["exact", "greedy"] = "exact",
) -> Pricing:
    """Price a cart: the best combination (or, to compare, the greedy one), its allocation
    to lines, the gifts it earns, and the explanation."""
    cart = _Cart(lines, promotions, delivery_fee)
    chosen, exact = _best(cart, MAX_STEPS) if method == "exact" else (_greedy(cart), False)
    dropped = _unproven(cart, chosen, exact) if method == "exact" else set()
    out = _price(cart, chosen)
    gifts = _gifts(cart, chosen, out)
    done = {p.promotion_id for p in chosen} | {g.promotion_id for g in gifts}
    return Pricing(
        lines=tuple(
            LinePrice(x.line_id, x.gross, x.gross - net, net)
            for x, net in zip(lines, out.after, strict=True)
        ),
        applied=tuple(_applied(p, cart, out) for p in chosen),
        not_applied=tuple(
            _not_applied(p, cart, chosen, out, dropped)
            for p in promotions
            if p.promotion_id not in done
        ),
        delivery_fee=delivery_fee,
        delivery_discount=sum(out.delivery.values()),
        exact=exact,
        gifts=gifts,
    )
