"""Tags (标签) and audiences (人群) as plain rules.

A tag gives each person zero or more values ("yes"; "active"; "4"; a store code). The tag
centre keeps, per tag, day and value, the set of persons as a roaring bitmap over OneID's
person numbers, so an audience, a boolean expression over tags, is bitmap algebra.
Numeric tags (RFM scores, model deciles) have integer values, so "4 to 5" is the union of
the bitmaps of the values in range.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pyroaring import BitMap

Code = Annotated[str, Field(min_length=1, max_length=40, pattern=r"^[a-z][a-z0-9_]*$")]
EVERYONE = "_everyone"  # the tag centre's own tag: every person known on a day


class TagKind(StrEnum):
    rule = "rule"  # 规则标签: did something N times in a window
    lifecycle = "lifecycle"  # 生命周期: new / active / dormant / lost / prospect
    rfm = "rfm"  # RFM 分值 and segments
    preference = "preference"  # 偏好: the store or channel bought from most
    price_sensitivity = "price_sensitivity"  # 价格敏感度: share of orders with a promotion
    model = "model"  # 模型标签: chance to buy again / expected value (BG/NBD, Gamma-Gamma)


class RuleParams(BaseModel):
    """ "Bought in 'dairy' 3+ times in 30 days": events of these types (in these
    categories, channels, stores), counted or summed per person over the window."""

    model_config = ConfigDict(extra="forbid")
    event_types: list[Annotated[str, Field(min_length=1, max_length=64)]] = Field(min_length=1)
    categories: list[str] = Field(default_factory=list, max_length=50)
    channels: list[str] = Field(default_factory=list, max_length=50)
    stores: list[str] = Field(default_factory=list, max_length=200)
    window_days: int = Field(30, ge=1, le=3650)
    measure: Literal["count", "amount"] = "count"
    min: int = Field(1, ge=1, description="Least count, or amount in fen")
    max: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _range(self) -> RuleParams:
        if self.max is not None and self.max < self.min:
            raise ValueError("max must not be below min")
        return self


class LifecycleParams(BaseModel):
    """new: first purchase within `new_days`; active: last purchase within
    `active_days`; dormant: within `lost_days`; lost: before; prospect: seen, never bought."""

    model_config = ConfigDict(extra="forbid")
    new_days: int = Field(30, ge=1, le=3650)
    active_days: int = Field(30, ge=1, le=3650)
    lost_days: int = Field(90, ge=1, le=3650)

    @model_validator(mode="after")
    def _order(self) -> LifecycleParams:
        if self.lost_days <= self.active_days:
            raise ValueError("lost_days must be more than active_days")
        return self


class RfmParams(BaseModel):
    """Quintile scores 1–5 over buyers in the window: recency (5 = most recent),
    frequency (orders), monetary (amount); or the segment from recency and frequency."""

    model_config = ConfigDict(extra="forbid")
    score: Literal["r", "f", "m", "segment"]
    window_days: int = Field(365, ge=1, le=3650)


class PreferenceParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    of: Literal["store", "channel"]
    window_days: int = Field(365, ge=1, le=3650)


class PriceSensitivityParams(BaseModel):
    """high: at least `high_share` of orders used a promotion; medium: `medium_share`."""

    model_config = ConfigDict(extra="forbid")
    window_days: int = Field(365, ge=1, le=3650)
    high_share: float = Field(0.6, gt=0, le=1)
    medium_share: float = Field(0.2, gt=0, le=1)


class ModelParams(BaseModel):
    """Buy-till-you-die over each buyer's purchase days in the window: BG/NBD for the
    chance the customer is still active (`alive`) and the purchases expected within
    `horizon_days`; Gamma-Gamma for the value of a purchase; `expected_value` is their
    product. Values are deciles 1–10 among buyers (10 = highest)."""

    model_config = ConfigDict(extra="forbid")
    measure: Literal["alive", "expected_value"]
    horizon_days: int = Field(90, ge=1, le=730)
    window_days: int = Field(730, ge=30, le=3650)


PARAMS: dict[TagKind, type[BaseModel]] = {
    TagKind.rule: RuleParams,
    TagKind.lifecycle: LifecycleParams,
    TagKind.rfm: RfmParams,
    TagKind.preference: PreferenceParams,
    TagKind.price_sensitivity: PriceSensitivityParams,
    TagKind.model: ModelParams,
}


def deciles(scores: Sequence[float]) -> list[int]:
    """1–10 by rank (10 = the highest tenth). Equal scores share the decile of the last of
    them, so "10" always holds the best, even when many tie at the top."""
    order = sorted(range(len(scores)), key=scores.__getitem__)
    out, n = [0] * len(scores), len(scores)
    end = n
    for position in range(n - 1, -1, -1):
        i = order[position]
        if position < n - 1 and scores[i] != scores[order[position + 1]]:
            end = position + 1
        out[i] = -((-10 * end) // n)  # ceil(10 · share of buyers at or below)
    return out


# RFM segments (客户分群) from the recency and frequency scores, the usual grid.
def segment(recency: int, frequency: int) -> str:
    if recency >= 4 and frequency >= 4:
        return "champions"
    if recency >= 3 and frequency >= 3:
        return "loyal"
    if recency >= 4:
        return "new" if frequency == 1 else "promising"
    if recency == 3:
        return "need_attention"
    if frequency >= 3:
        return "at_risk" if recency == 2 else "cannot_lose"
    return "hibernating" if recency == 2 else "lost"


SEGMENTS = sorted({segment(r, f) for r in range(1, 6) for f in range(1, 6)})


# --- audiences (标签圈选) --------------------------------------------------------------------


class Expr(BaseModel):
    """One node of an audience expression: a tag test, `and` / `or` of others, `not`,
    or another saved audience."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    tag: Code | None = None
    value: str | None = Field(None, max_length=200)
    values: list[str] | None = Field(None, min_length=1, max_length=200)
    min: int | None = Field(None, description="Numeric tags: least value (inclusive)")
    max: int | None = Field(None, description="Numeric tags: greatest value (inclusive)")
    all_: list[Expr] | None = Field(None, alias="and", min_length=1, max_length=50)
    any_: list[Expr] | None = Field(None, alias="or", min_length=1, max_length=50)
    not_: Expr | None = Field(None, alias="not")
    audience: Code | None = None

    @model_validator(mode="after")
    def _one_form(self) -> Expr:
        forms = [
            self.tag is not None,
            self.all_ is not None,
            self.any_ is not None,
            self.not_ is not None,
            self.audience is not None,
        ]
        if sum(forms) != 1:
            raise ValueError("give exactly one of tag, and, or, not, audience")
        tests = [self.value is not None, self.values is not None, self.ranged]
        if (self.tag is None and any(tests)) or sum(tests) > 1:
            raise ValueError("value, values or min/max go with one tag, one of them")
        if self.min is not None and self.max is not None and self.max < self.min:
            raise ValueError("max must not be below min")
        return self

    @property
    def ranged(self) -> bool:
        return self.min is not None or self.max is not None


class TagValues:
    """What an evaluation may ask of the tag centre: a tag's persons per value."""

    def __init__(
        self,
        values: Callable[[str], Mapping[str, BitMap]],
        audience: Callable[[str], Expr],
        everyone: BitMap,
    ) -> None:
        self.values, self.audience, self.everyone = values, audience, everyone


def in_range(value: str, low: int | None, high: int | None) -> bool:
    try:
        number = int(value)
    except ValueError:
        return False
    return (low is None or number >= low) and (high is None or number <= high)


def _tag(expr: Expr, source: TagValues) -> BitMap:
    assert expr.tag is not None
    by_value = source.values(expr.tag)
    if expr.value is not None:
        wanted = [expr.value]
    elif expr.values is not None:
        wanted = expr.values
    elif expr.ranged:
        wanted = [v for v in by_value if in_range(v, expr.min, expr.max)]
    else:
        wanted = list(by_value)  # has the tag at all
    return BitMap.union(BitMap(), *(by_value[v] for v in wanted if v in by_value))


def evaluate(expr: Expr, source: TagValues, seen: tuple[str, ...] = ()) -> BitMap:
    """The persons an expression selects; `not` is relative to everyone the tag centre
    knows. A saved audience is expanded in place, and may not refer back to itself."""
    if expr.tag is not None:
        return _tag(expr, source)
    if expr.all_ is not None:
        return BitMap.intersection(*(evaluate(e, source, seen) for e in expr.all_))
    if expr.any_ is not None:
        return BitMap.union(BitMap(), *(evaluate(e, source, seen) for e in expr.any_))
    if expr.not_ is not None:
        return source.everyone - evaluate(expr.not_, source, seen)
    assert expr.audience is not None
    if expr.audience in seen:
        raise ValueError(f"audience {expr.audience} refers to itself")
    return evaluate(source.audience(expr.audience), source, (*seen, expr.audience))


def tags_of(expr: Expr) -> set[str]:
    """Every tag an expression reads directly (not through saved audiences)."""
    if expr.tag is not None:
        return {expr.tag}
    children = expr.all_ or expr.any_ or ([expr.not_] if expr.not_ else [])
    return set().union(*(tags_of(e) for e in children)) if children else set()


def dump(expr: Expr) -> dict[str, Any]:
    return expr.model_dump(by_alias=True, exclude_none=True)
