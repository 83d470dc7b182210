"""Pure rules of the user centre: permissions, org tree, data scope, coding rules."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from enum import StrEnum

PERMISSIONS: dict[str, str] = {
    "org:read": "See the organisation tree",
    "org:write": "Create and change org units",
    "staff:read": "See staff accounts",
    "staff:write": "Create and change staff accounts and their roles",
    "role:read": "See roles and permissions",
    "role:write": "Create and change roles",
    "apikey:write": "Issue and revoke API keys for integrations",
    "dictionary:read": "Read the base dictionary",
    "dictionary:write": "Change the base dictionary",
    "coding:read": "See coding rules",
    "coding:write": "Change coding rules",
    "coding:allocate": "Take the next number of a coding rule",
    "webhook:read": "See webhooks and deliveries",
    "webhook:write": "Register webhooks and retry deliveries",
    "event:read": "Read the event feed",
    "audit:read": "Read the audit log",
    "catalog:read": "See products, SKUs, categories and barcodes",
    "catalog:write": "Create and change products, SKUs, categories, barcodes; import",
    "listing:write": "List and delist SKUs on channels and stores",
    "price:read": "See prices and their history",
    "price:write": "Set prices",
    "location:write": "Create and change stores' and warehouses' locations",
    "stock:read": "See stock, availability and the stock ledger",
    "stock:write": "Receive and adjust stock; release anyone's reservation",
    "stock:reserve": "Reserve stock, confirm and release one's own reservations",
    "order:read": "See orders and their timelines",
    "order:write": "Place, pay and cancel orders",
    "member:read": "See members, their points, tiers and customer-service tickets",
    "member:write": "Register, change, merge and forget members; tiers and points policy",
    "ticket:write": "Open customer-service tickets, add notes and move them along",
    "promotion:read": "See promotions, coupons and their effect",
    "promotion:write": "Create and end promotions; create and issue coupons",
    "data:collect": "Send behaviour events to the collector",
    "data:read": "See events, persons, tags, audiences and analyses",
    "data:write": "Define tags and audiences; split persons apart",
}

# Built-in roles made for every new tenant; tenants may add their own.
BUILTIN_ROLES: dict[str, tuple[str, frozenset[str]]] = {
    "admin": ("Administrator: every permission", frozenset(PERMISSIONS)),
    "store_manager": (
        "Store manager (店长): runs their stores and their staff",
        frozenset(
            {
                "org:read",
                "staff:read",
                "staff:write",
                "role:read",
                "dictionary:read",
                "coding:read",
                "coding:allocate",
                "catalog:read",
                "price:read",
                "listing:write",
                "stock:read",
                "stock:write",
                "stock:reserve",
                "order:read",
                "order:write",
                "promotion:read",
                "member:read",
                "member:write",
                "ticket:write",
            }
        ),
    ),
    "auditor": (
        "Auditor: reads everything, changes nothing",
        frozenset(p for p in PERMISSIONS if p.endswith(":read")),
    ),
}


class UnitKind(StrEnum):
    """Kinds of org unit (组织架构)."""

    company = "company"
    region = "region"
    store = "store"
    warehouse = "warehouse"
    front_warehouse = "front_warehouse"
    department = "department"


_SITES = {UnitKind.store, UnitKind.warehouse, UnitKind.front_warehouse}
ALLOWED_CHILDREN: dict[UnitKind, frozenset[UnitKind]] = {
    UnitKind.company: frozenset({UnitKind.region, UnitKind.department, *_SITES}),
    UnitKind.region: frozenset({UnitKind.region, UnitKind.department, *_SITES}),
    UnitKind.store: frozenset({UnitKind.department}),
    UnitKind.warehouse: frozenset({UnitKind.department}),
    UnitKind.front_warehouse: frozenset(),
    UnitKind.department: frozenset({UnitKind.department}),
}


def can_hold(parent: UnitKind, child: UnitKind) -> bool:
    """Company > region > store / warehouse; a company is only ever the root."""
    return child in ALLOWED_CHILDREN[parent]


def child_path(parent_path: str, unit_id: str) -> str:
    """Materialised path: ancestors' ids then the unit's own, each followed by '/'."""
    return f"{parent_path}{unit_id}/"


def scope_of(assigned: Iterable[str], paths: Mapping[str, str]) -> frozenset[str] | None:
    """The units a person may see: the subtrees under each assigned unit.

    None means everything (assigned to a root unit, i.e. HQ).
    """
    roots = [paths[u] for u in assigned if u in paths]
    if any(p.count("/") == 1 for p in roots):
        return None
    return frozenset(u for u, p in paths.items() if any(p.startswith(r) for r in roots))


class Reset(StrEnum):
    never = "never"
    yearly = "yearly"
    monthly = "monthly"
    daily = "daily"


DATE_FORMATS = {"": "", "YYYYMMDD": "%Y%m%d", "YYMMDD": "%y%m%d", "YYYYMM": "%Y%m", "YYYY": "%Y"}
_PREFIX = re.compile(r"^[A-Z0-9-]{0,12}$")


@dataclass(frozen=True)
class CodingRule:
    """编码规则: prefix + business date + zero-padded sequence, e.g. SO20261125000042."""

    kind: str
    prefix: str
    date_format: str = "YYYYMMDD"
    width: int = 6
    reset: Reset = Reset.daily
    timezone: str = "Asia/Shanghai"

    def problems(self) -> list[tuple[str, str]]:
        out: list[tuple[str, str]] = []
        if not _PREFIX.match(self.prefix):
            out.append(("prefix", "up to 12 of A-Z, 0-9 and '-'"))
        if self.date_format not in DATE_FORMATS:
            out.append(("date_format", f"one of {sorted(DATE_FORMATS)}"))
        if not 1 <= self.width <= 12:
            out.append(("width", "between 1 and 12"))
        if self.reset is not Reset.never and not self._date_covers_reset():
            out.append(("reset", "the date format must show the reset period, or codes repeat"))
        return out

    def _date_covers_reset(self) -> bool:
        fmt = DATE_FORMATS.get(self.date_format, "")
        needed = {Reset.yearly: "y", Reset.monthly: "m", Reset.daily: "d"}[self.reset]
        return needed in fmt.lower()

    def period(self, day: date) -> str:
        """The sequence counter this day draws from."""
        return {
            Reset.never: "all",
            Reset.yearly: day.strftime("%Y"),
            Reset.monthly: day.strftime("%Y%m"),
            Reset.daily: day.strftime("%Y%m%d"),
        }[self.reset]

    def format(self, day: date, seq: int) -> str:
        if seq < 1:
            raise ValueError("sequence starts at 1")
        digits = str(seq).zfill(self.width)
        return f"{self.prefix}{day.strftime(DATE_FORMATS[self.date_format])}{digits}"


DEFAULT_RULES: dict[str, CodingRule] = {
    "order": CodingRule("order", "SO"),
    "return": CodingRule("return", "RT"),
    "transfer": CodingRule("transfer", "TR"),
    "purchase_order": CodingRule("purchase_order", "PO"),
    "stock_count": CodingRule("stock_count", "SC"),
    "receipt": CodingRule("receipt", "GR"),
    "adjustment": CodingRule("adjustment", "ADJ"),
    "sku": CodingRule("sku", "SKU", date_format="", width=8, reset=Reset.never),
    "member": CodingRule("member", "M", date_format="", width=10, reset=Reset.never),
    "ticket": CodingRule("ticket", "CS"),
}


def role_permissions(name: str, builtin: bool, stored: Iterable[str]) -> frozenset[str]:
    """The built-in admin always holds every permission, including ones added later."""
    return frozenset(PERMISSIONS) if builtin and name == "admin" else frozenset(stored)


def default_rule(kind: str) -> CodingRule:
    return DEFAULT_RULES.get(kind) or CodingRule(kind, "DOC")


def password_problem(password: str) -> str | None:
    if len(password) < 8:
        return "at least 8 characters"
    if password.isdigit() or password.isalpha():
        return "mix letters with digits or symbols"
    return None


DEFAULT_DICTIONARY: dict[str, list[tuple[str, str]]] = {
    "channel": [
        ("pos", "门店收银 Store POS"),
        ("mall", "线上商城 Online mall"),
        ("o2o", "即时配送 Same-hour delivery"),
        ("community", "社区团购 Community group buying"),
        ("live", "直播 Live-stream selling"),
    ],
    "return_reason": [
        ("damaged", "商品破损 Damaged"),
        ("wrong_item", "发错货 Wrong item"),
        ("not_as_described", "与描述不符 Not as described"),
        ("changed_mind", "不想要了 Changed mind"),
        ("expired", "临期或过期 Near or past expiry"),
    ],
    "adjustment_reason": [
        ("damage", "报损 Damage"),
        ("count_surplus", "盘盈 Count surplus"),
        ("count_deficit", "盘亏 Count deficit"),
        ("theft", "失窃 Theft"),
        ("sample", "试吃试用 Sample"),
    ],
}
