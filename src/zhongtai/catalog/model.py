"""Pure rules of the product centre: category trees, attribute templates, SKU matrices,
industry packs (行业包), units of measure and listing decisions (上下架)."""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any


class Status(StrEnum):
    draft = "draft"
    active = "active"
    discontinued = "discontinued"


class Pack(StrEnum):
    """Industry packs: attribute sets plus rules, enabled per tenant."""

    general = "general"
    pharmacy = "pharmacy"
    fmcg = "fmcg"
    apparel = "apparel"
    electronics = "electronics"
    home = "home"


@dataclass(frozen=True)
class PackRules:
    """What a pack asks of its SKUs and of the operations on them."""

    attributes: tuple[str, ...] = ()  # pack attributes every product of the pack carries
    batch_and_expiry_required: bool = False  # on stock receipt
    serial_required: bool = False  # one serial number per unit
    prescription_flag: bool = False  # prescription_only=true needs a pharmacist at sale


PACKS: dict[Pack, PackRules] = {
    Pack.general: PackRules(),
    Pack.pharmacy: PackRules(
        ("approval_number", "dosage_form"), batch_and_expiry_required=True, prescription_flag=True
    ),
    Pack.fmcg: PackRules(("shelf_life_days", "case_size")),
    Pack.apparel: PackRules(("season",)),
    Pack.electronics: PackRules(("warranty_months",), serial_required=True),
    Pack.home: PackRules(),
}


@dataclass(frozen=True)
class AttributeSpec:
    """One attribute of a category template; `variant` ones span the SKU matrix."""

    name: str
    required: bool = False
    variant: bool = False
    values: tuple[str, ...] = ()


def path_of(parent_path: str, category_id: str) -> str:
    return f"{parent_path}{category_id}/"


def would_cycle(moving_path: str, new_parent_path: str) -> bool:
    """Moving a category under itself or one of its descendants makes a cycle."""
    return new_parent_path.startswith(moving_path)


def effective_template(
    chain: Sequence[Sequence[AttributeSpec]],
) -> list[AttributeSpec]:
    """Attributes inherited root first; a child redefining a name overrides its parent."""
    merged: dict[str, AttributeSpec] = {}
    for level in chain:
        for spec in level:
            merged[spec.name] = spec
    return list(merged.values())


def matrix(axes: Mapping[str, Sequence[str]]) -> list[dict[str, str]]:
    """Every combination of the variant axes: colour x size -> one attribute set per SKU."""
    names = list(axes)
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes.values())]


def matrix_code(product_code: str, attrs: Mapping[str, str]) -> str:
    parts = [product_code, *(str(v).upper().replace(" ", "") for v in attrs.values())]
    return "-".join(parts)[:64]


def missing_attributes(
    template: Iterable[AttributeSpec], attrs: Mapping[str, Any], *, variant: bool
) -> list[str]:
    """Required (or, for SKUs, variant) attributes absent from `attrs`."""
    wanted = [s for s in template if (s.variant if variant else s.required and not s.variant)]
    return [s.name for s in wanted if attrs.get(s.name) in (None, "")]


def bad_values(template: Iterable[AttributeSpec], attrs: Mapping[str, Any]) -> list[str]:
    specs = {s.name: s for s in template}
    return [
        k for k, v in attrs.items() if k in specs and specs[k].values and v not in specs[k].values
    ]


@dataclass(frozen=True)
class Unit:
    """A unit of measure of a SKU as a multiple of its base unit (each, or gram)."""

    name: str
    factor: int


def to_base(quantity: int, unit: str, units: Iterable[Unit]) -> int:
    """Quantity in the SKU's base unit: 2 cases of 12 -> 24 each."""
    for u in units:
        if u.name == unit:
            return quantity * u.factor
    raise KeyError(unit)


@dataclass(frozen=True)
class ListingDecision:
    """List or delist a SKU on a channel, for one store or all, from a moment on."""

    id: str
    channel: str
    store_id: str | None
    listed: bool
    effective_at: datetime


@dataclass(frozen=True)
class ListingState:
    listed: bool
    decided_by: str | None = None
    next_change: ListingDecision | None = field(default=None)


def listing_state(
    decisions: Iterable[ListingDecision], channel: str, store_id: str | None, at: datetime
) -> ListingState:
    """Whether the SKU is on sale there at `at`: the latest effective decision wins, a
    store's own decision over the channel-wide one. With no decision a SKU is listed:
    delisting is the exception that a retailer decides."""
    relevant = [d for d in decisions if d.channel == channel and d.store_id in (None, store_id)]
    past = [d for d in relevant if d.effective_at <= at]
    future = sorted((d for d in relevant if d.effective_at > at), key=lambda d: d.effective_at)
    upcoming = future[0] if future else None
    if not past:
        return ListingState(True, None, upcoming)
    winner = max(past, key=lambda d: (d.store_id is not None, d.effective_at, d.id))
    return ListingState(winner.listed, winner.id, upcoming)
