"""Price resolution (价格解析): the most specific valid price wins.

Documented order, most specific first, compared one dimension at a time:
1. a member-tier price (会员价) beats one for everybody;
2. a store price (门店价) beats one for every store;
3. a channel price (渠道价) beats one for every channel;
4. a time-bound price (from/to, e.g. a weekend price) beats an open-ended one;
5. between equals, the one set last wins.
A price applies when each dimension it names matches the query and `at` is inside
[valid_from, valid_to). The base price names no dimension and no time.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class PriceRule:
    id: str  # sortable: a later id was set later
    amount: int  # minor units (分)
    currency: str
    channel: str | None = None
    store_id: str | None = None
    member_tier: str | None = None
    valid_from: datetime | None = None
    valid_to: datetime | None = None

    @property
    def time_bound(self) -> bool:
        return self.valid_from is not None or self.valid_to is not None


@dataclass(frozen=True)
class PriceQuery:
    at: datetime
    channel: str | None = None
    store_id: str | None = None
    member_tier: str | None = None


def applies(rule: PriceRule, q: PriceQuery) -> bool:
    return (
        (rule.member_tier is None or rule.member_tier == q.member_tier)
        and (rule.store_id is None or rule.store_id == q.store_id)
        and (rule.channel is None or rule.channel == q.channel)
        and (rule.valid_from is None or rule.valid_from <= q.at)
        and (rule.valid_to is None or q.at < rule.valid_to)
    )


def precedence(rule: PriceRule) -> tuple[bool, bool, bool, bool, str]:
    """Sort key: a larger key is more specific (see the module docstring)."""
    return (
        rule.member_tier is not None,
        rule.store_id is not None,
        rule.channel is not None,
        rule.time_bound,
        rule.id,
    )


def resolve(rules: Iterable[PriceRule], q: PriceQuery) -> PriceRule | None:
    """The price to charge for this query, or None when no price applies."""
    return max((r for r in rules if applies(r, q)), key=precedence, default=None)


def problems(rule: PriceRule) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    if rule.amount < 0:
        out.append(("amount", "must not be negative"))
    if rule.valid_from and rule.valid_to and rule.valid_to <= rule.valid_from:
        out.append(("valid_to", "must be after valid_from"))
    return out
