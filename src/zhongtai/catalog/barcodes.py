"""Barcodes (条码): GTIN check digits, GS1 element strings, in-store weighed-goods codes.

Pure functions over text. GTIN and GS1 parsing is done by `biip`; this module only adds
the retail rules on top: what a scan means for a SKU lookup, and the tenant's own format
of weighed-goods labels (prefix 20-29, item digits, then weight or price).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import Literal

from biip.gs1_messages import GS1Message
from biip.gtin import Gtin, GtinFormat

GTIN_KINDS = {
    GtinFormat.GTIN_8: "ean8",
    GtinFormat.GTIN_12: "upca",
    GtinFormat.GTIN_13: "ean13",
    GtinFormat.GTIN_14: "gtin14",
}
WEIGHED_PREFIXES = tuple(str(p) for p in range(20, 30))


class BarcodeError(ValueError):
    """The text is not a barcode we can use; the message says why."""


@dataclass(frozen=True)
class WeighedFormat:
    """A tenant's in-store label: 2-digit prefix, item digits, value digits, check digit."""

    item_digits: int = 5
    value: Literal["weight", "price"] = "weight"
    prefixes: tuple[str, ...] = WEIGHED_PREFIXES

    @property
    def value_digits(self) -> int:
        return 13 - 2 - self.item_digits - 1


@dataclass(frozen=True)
class Barcode:
    """A code registered on a SKU: `key` is what scans are looked up by."""

    code: str
    kind: str  # ean13 | ean8 | upca | gtin14 | weighed_item | internal
    key: str


@dataclass(frozen=True)
class Scan:
    """What one scan says: the key of the SKU's barcode plus any embedded data."""

    key: str
    kind: str
    batch: str | None = None
    expiry: date | None = None
    serial: str | None = None
    weight_g: int | None = None
    price_minor: int | None = None
    gtin: str | None = None


def _gtin(code: str) -> Gtin:
    try:
        return Gtin.parse(code)
    except Exception as exc:  # biip raises its own ParseError subclasses
        raise BarcodeError(str(exc)) from exc


def gtin_key(gtin: Gtin) -> str:
    """All GTIN lengths compare as 14 digits (GTIN-13 0590... == EAN-13 590...)."""
    return gtin.value.zfill(14)


def register(code: str, *, weighed: bool = False) -> Barcode:
    """Validate a code for a SKU: GTINs must carry a valid check digit.

    `weighed=True` registers the item part of an in-store weighed label (e.g. "2012345").
    Codes that are not all digits are internal codes, kept as they are.
    """
    code = code.strip()
    if not code:
        raise BarcodeError("empty barcode")
    if weighed:
        if not (code.isdigit() and code[:2] in WEIGHED_PREFIXES and 4 <= len(code) <= 8):
            raise BarcodeError("a weighed item code is 20-29 followed by its item digits")
        return Barcode(code, "weighed_item", code)
    if not code.isdigit():
        if len(code) > 48:
            raise BarcodeError("internal codes are at most 48 characters")
        return Barcode(code, "internal", code)
    if len(code) not in (8, 12, 13, 14):
        raise BarcodeError(f"a GTIN has 8, 12, 13 or 14 digits, not {len(code)}")
    gtin = _gtin(code)
    return Barcode(code, GTIN_KINDS[gtin.format], gtin_key(gtin))


def _weighed(code: str, fmt: WeighedFormat) -> Scan | None:
    if len(code) != 13 or not code.isdigit() or code[:2] not in fmt.prefixes:
        return None
    _gtin(code)  # the label's own EAN-13 check digit
    item_end = 2 + fmt.item_digits
    value = int(code[item_end : item_end + fmt.value_digits])
    if fmt.value == "weight":
        return Scan(code[:item_end], "weighed", weight_g=value)
    return Scan(code[:item_end], "weighed", price_minor=value)


def _decimal_ai(ai: str, value: str) -> Decimal:
    """310n / 392n: the last digit of the AI is the count of decimals."""
    return Decimal(int(value)).scaleb(-int(ai[3]))


def _gs1(text: str) -> Scan:
    parse = GS1Message.parse_hri if text.startswith("(") else GS1Message.parse
    try:
        message = parse(text)
    except Exception as exc:  # biip's ParseError: unknown AI, bad length, bad date
        raise BarcodeError(str(exc)) from exc
    fields: dict[str, object] = {}
    gtin: Gtin | None = None
    for element in message.element_strings:
        ai = element.ai.ai
        if ai in ("01", "02"):
            if element.gtin is None:
                raise BarcodeError(element.gtin_error or "invalid GTIN in AI 01")
            gtin = element.gtin
        elif ai == "10":
            fields["batch"] = element.value
        elif ai == "17":
            fields["expiry"] = element.date
        elif ai == "21":
            fields["serial"] = element.value
        elif ai.startswith("310"):
            fields["weight_g"] = int(_decimal_ai(ai, element.value) * 1000)
        elif ai.startswith("392"):
            fields["price_minor"] = int(_decimal_ai(ai, element.value) * 100)
    if gtin is None:
        raise BarcodeError("the GS1 string carries no GTIN (AI 01)")
    key = gtin_key(gtin)
    return Scan(key, "gs1", gtin=gtin.value, **fields)  # type: ignore[arg-type]


def scan(text: str, weighed: WeighedFormat | None = None) -> Scan:
    """Read a scanned code: a plain GTIN, a GS1 element string or a weighed-goods label."""
    code = text.strip()
    if code.startswith("]"):  # a symbology identifier such as ]C1 or ]d2 from the scanner
        code = code[3:]
    if not code:
        raise BarcodeError("empty scan")
    if code.isdigit() and len(code) in (8, 12, 13, 14):
        if weighed and (label := _weighed(code, weighed)):
            return label
        gtin = _gtin(code)
        return Scan(gtin_key(gtin), GTIN_KINDS[gtin.format], gtin=gtin.value)
    if code.isdigit() or "\x1d" in code or code.startswith("("):
        return _gs1(code)
    return Scan(code, "internal")


def ean13(payload12: str) -> str:
    """Complete 12 digits with their check digit (for generated demo barcodes)."""
    total = sum(int(d) * (3 if i % 2 else 1) for i, d in enumerate(payload12))
    return payload12 + str((10 - total % 10) % 10)
