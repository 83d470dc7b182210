"""The promotion engine (促销引擎) as pure rules: what each promotion is worth on a cart,
which promotions may stack, the exact best combination for the shopper, the split of
every discount to the lines it came from (分摊), and why each other promotion did not apply.

Stacking rules (叠加规则), as implemented:
1. Groups apply in order. Item-level promotions (单品级) see the gross line amounts;
   order-level ones (订单级, e.g. 满减) see what is left after the item-level discounts;
   delivery ones (运费级, 包邮) see what is left after both and waive the delivery fee.
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

Best combination: among all legal combinations, the largest total discount wins; ties go
to the higher sum of priorities, then to fewer promotions, then to the smaller sorted
tuple of promotion ids. The search is exact (not greedy): a depth-first enumeration with
a bound (each promotion's stand-alone discount on gross prices is an upper bound of what
it gives in any combination, as every benefit only grows with the amounts it sees).
Promotions with no in-scope line or no stand-alone discount cannot be in any legal
combination and are dropped before the search. If more than `MAX_EXACT` remain, only the
`MAX_EXACT` with the largest stand-alone discounts are searched, the rest are reported as
outside the search limit, and the result says `exact=False`.

Rounding: percentages round the discount down to the fen (the shopper never gets a
fraction of a fen that does not exist); money is integer fen throughout.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from zhongtai.orders.model import allocate

MAX_EXACT = 16  # searched promotions per cart; 2**16 leaves at worst, far fewer with the bound
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


class Group(StrEnum):
    item = "item"
    order = "order"
    delivery = "delivery"


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
    min_spend: int = 0  # free_delivery

    def __post_init__(self) -> None:
        if not self.promotion_id:
            raise InvalidPromotion("promotion_id", "must not be empty")
        if (self.group is Group.delivery) != (self.kind is Kind.free_delivery):
            raise InvalidPromotion("group", "free delivery, and only it, is delivery-level")
        _VALIDATORS[self.kind](self)


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


_VALIDATORS: dict[Kind, Callable[[Promotion], None]] = {
    Kind.percent_off: _percent,
    Kind.amount_off: lambda p: _positive(p, "amount"),
    Kind.threshold: _tiers,
    Kind.repeat_threshold: _repeat,
    Kind.buy_x_get_y: _buy_get,
    Kind.nth_item: _nth,
    Kind.bundle: _bundle,
    Kind.free_delivery: _free_delivery,
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
    out = [
        (price, i) for i, (amount, qty) in enumerate(seen) for price in allocate(amount, [1] * qty)
    ]
    return sorted(out)


def _weights(units: list[tuple[int, int]], size: int) -> list[int]:
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
    units = sorted(_units(seen), key=lambda u: (-u[0], u[1]))  # ties: the earlier line
    n, taken, saving = p.bundle_qty, 0, 0
    while taken + n <= len(units):
        gain = sum(price for price, _ in units[taken : taken + n]) - p.bundle_price
        if gain <= 0:
            break
        taken, saving = taken + n, saving + gain
    return saving, _weights(units[:taken], len(seen))


def benefit(p: Promotion, seen: Seen, delivery_fee: int = 0) -> Benefit:
    """What `p` gives on its scoped lines' current amounts (delivery: on the fee, with no
    line weights)."""
    units = sum(qty for _, qty in seen)
    if p.kind is Kind.buy_x_get_y:
        return _cheapest_off(p, seen, units // (p.buy + p.get) * p.get)
    if p.kind is Kind.nth_item:
        return _cheapest_off(p, seen, units // p.nth)
    if p.kind is Kind.bundle:
        return _bundle_benefit(p, seen)
    if p.kind is Kind.free_delivery:
        reached = bool(seen) and sum(a for a, _ in seen) >= p.min_spend
        return (delivery_fee if reached else 0), []
    return _whole(p, seen)


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


def in_scope(p: Promotion, lines: Sequence[CartLine]) -> tuple[int, ...]:
    return tuple(i for i, line in enumerate(lines) if p.scope.covers(line))


def _price(lines: Sequence[CartLine], fee: int, combo: Sequence[Promotion]) -> _Outcome:
    amounts = [line.gross for line in lines]
    seen: dict[Group, list[int]] = {}
    shares: dict[str, list[int]] = {}
    delivery: dict[str, int] = {}
    for group in Group:
        seen[group] = base = list(amounts)
        for p in (p for p in combo if p.group is group):
            idx = in_scope(p, lines)
            discount, weights = benefit(p, [(base[i], lines[i].qty) for i in idx], fee)
            if group is Group.delivery:
                delivery[p.promotion_id] = discount
                continue
            share = [0] * len(lines)
            for i, part in zip(idx, allocate(discount, weights), strict=True):
                share[i] = part
                amounts[i] -= part
            shares[p.promotion_id] = share
    return _Outcome(seen, amounts, shares, delivery)


# --- the exact search ----------------------------------------------------------------------


Key = tuple[int, int, int]  # total discount, priority sum, -count


def _key(combo: Sequence[Promotion], out: _Outcome) -> Key:
    total = sum(out.amount(p.promotion_id) for p in combo)
    return total, sum(p.priority for p in combo), -len(combo)


def _ids(combo: Sequence[Promotion]) -> tuple[str, ...]:
    return tuple(sorted(p.promotion_id for p in combo))


def _better(key: Key, combo: Sequence[Promotion], best: tuple[Key, Sequence[Promotion]]) -> bool:
    return key > best[0] or (key == best[0] and _ids(combo) < _ids(best[1]))


@dataclass
class _Search:
    lines: Sequence[CartLine]
    fee: int
    order: list[Promotion]  # non-exclusive candidates, item then order then delivery
    bound: dict[str, int]  # stand-alone discount: an upper bound in any combination
    best: tuple[Key, list[Promotion]] = ((0, 0, 0), [])

    def consider(self, combo: list[Promotion]) -> None:
        out = _price(self.lines, self.fee, combo)
        if any(out.amount(p.promotion_id) <= 0 for p in combo):
            return  # rule 5: every applied promotion gives something
        key = _key(combo, out)
        if _better(key, combo, self.best):
            self.best = (key, list(combo))

    def run(self, k: int, combo: list[Promotion], used: dict[Group, set[int]], cap: int) -> None:
        """Depth-first over include/exclude of order[k:]; `cap` is the bound so far."""
        rest = sum(self.bound[p.promotion_id] for p in self.order[k:])
        if cap + rest < self.best[0][0]:
            return  # cannot reach the best total (ties are still explored)
        if k == len(self.order):
            self.consider(combo)
            return
        p = self.order[k]
        idx = set(in_scope(p, self.lines)) if p.group is not Group.delivery else {-1}
        if not idx & used[p.group]:
            used[p.group] |= idx
            self.run(k + 1, [*combo, p], used, cap + self.bound[p.promotion_id])
            used[p.group] -= idx
        self.run(k + 1, combo, used, cap)


def _candidates(
    lines: Sequence[CartLine], fee: int, promotions: Sequence[Promotion]
) -> tuple[list[Promotion], dict[str, int]]:
    """Promotions that could be in a legal combination, with their stand-alone discount."""
    standalone = {
        p.promotion_id: _price(lines, fee, [p]).amount(p.promotion_id) for p in promotions
    }
    return [p for p in promotions if standalone[p.promotion_id] > 0], standalone


def _check_ids(lines: Sequence[CartLine], promotions: Sequence[Promotion]) -> None:
    if len({x.line_id for x in lines}) != len(lines):
        raise InvalidPromotion("line_id", "line ids must be unique in a cart")
    if len({p.promotion_id for p in promotions}) != len(promotions):
        raise InvalidPromotion("promotion_id", "promotion ids must be unique")


def best_combination(
    lines: Sequence[CartLine], promotions: Sequence[Promotion], delivery_fee: int = 0
) -> tuple[list[Promotion], bool, set[str]]:
    """The best legal combination (see the module docstring), whether the search was
    exact, and the ids left out by the search limit."""
    _check_ids(lines, promotions)
    if delivery_fee < 0:
        raise InvalidPromotion("delivery_fee", "must not be negative")
    found, bound = _candidates(lines, delivery_fee, promotions)
    found.sort(key=lambda p: (-bound[p.promotion_id], -p.priority, p.promotion_id))
    dropped = {p.promotion_id for p in found[MAX_EXACT:]}
    found = found[:MAX_EXACT]
    groups = list(Group)
    order = sorted((p for p in found if not p.exclusive), key=lambda p: groups.index(p.group))
    search = _Search(lines, delivery_fee, order, bound)
    search.run(0, [], {g: set() for g in Group}, 0)
    for p in found:
        if p.exclusive:
            search.consider([p])  # rule 4: alone
    return search.best[1], not dropped, dropped


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
    need = {Kind.buy_x_get_y: p.buy + p.get, Kind.nth_item: p.nth, Kind.bundle: p.bundle_qty}
    if p.kind in need and units < need[p.kind]:
        return f"add {need[p.kind] - units} more item(s) to qualify"
    return "gives nothing on these prices"


def _why(p: Promotion, lines: Sequence[CartLine], chosen: list[Promotion]) -> NotApplied:
    """Why a promotion that gives something where it stands is not in the combination."""
    if len(chosen) == 1 and chosen[0].exclusive:
        detail = f"excluded by exclusive {chosen[0].promotion_id}"
        return NotApplied(p.promotion_id, Reason.excluded_by_exclusive, detail)
    if p.exclusive:
        detail = "exclusive: the best combination without it saves more"
        return NotApplied(p.promotion_id, Reason.beaten, detail)
    detail = "a combination without it saves more"
    mine = set(in_scope(p, lines))
    for q in chosen:
        if q.group is p.group and (p.group is Group.delivery or mine & set(in_scope(q, lines))):
            detail = f"shares lines with {q.promotion_id} in the {p.group.value} group"
            break
    return NotApplied(p.promotion_id, Reason.beaten, detail)


def _not_applied(
    p: Promotion,
    lines: Sequence[CartLine],
    fee: int,
    chosen: list[Promotion],
    seen: dict[Group, list[int]],
    dropped: set[str],
) -> NotApplied:
    """The reason, checked in order: scope, search limit, condition (on the amounts the
    promotion would see beside the chosen ones; on gross prices if an exclusive one won),
    then what beat it."""
    idx = in_scope(p, lines)
    if not idx:
        return NotApplied(p.promotion_id, Reason.not_in_scope, "no cart line in scope")
    if p.group is Group.delivery and fee == 0:
        return NotApplied(p.promotion_id, Reason.not_in_scope, "no delivery fee to waive")
    if p.promotion_id in dropped:
        return NotApplied(p.promotion_id, Reason.search_limit, f"more than {MAX_EXACT} apply")
    alone = len(chosen) == 1 and chosen[0].exclusive
    base = [x.gross for x in lines] if alone else seen[p.group]
    view = [(base[i], lines[i].qty) for i in idx]
    if benefit(p, view, fee)[0] == 0:
        total, units = sum(a for a, _ in view), sum(q for _, q in view)
        return NotApplied(p.promotion_id, Reason.condition_not_met, _hint(p, total, units))
    return _why(p, lines, chosen)


def _applied(p: Promotion, lines: Sequence[CartLine], out: _Outcome) -> Applied:
    share = out.shares.get(p.promotion_id, [0] * len(lines))
    touched = tuple((x.line_id, s) for x, s in zip(lines, share, strict=True) if s)
    on_fee = out.delivery.get(p.promotion_id, 0)
    return Applied(p.promotion_id, sum(share) + on_fee, touched, on_fee)


def price_cart(
    lines: Sequence[CartLine], promotions: Sequence[Promotion], delivery_fee: int = 0
) -> Pricing:
    """Price a cart: the best combination, its allocation to lines, and the explanation."""
    chosen, exact, dropped = best_combination(lines, promotions, delivery_fee)
    out = _price(lines, delivery_fee, chosen)
    ids = {p.promotion_id for p in chosen}
    priced = tuple(
        LinePrice(x.line_id, x.gross, x.gross - net, net)
        for x, net in zip(lines, out.after, strict=True)
    )
    return Pricing(
        lines=priced,
        applied=tuple(_applied(p, lines, out) for p in chosen),
        not_applied=tuple(
            _not_applied(p, lines, delivery_fee, chosen, out.seen, dropped)
            for p in promotions
            if p.promotion_id not in ids
        ),
        delivery_fee=delivery_fee,
        delivery_discount=sum(out.delivery.values()),
        exact=exact,
    )
