"""Barcode and GS1 parsing against real decoded barcodes and published GS1 examples."""

from __future__ import annotations

import csv
from datetime import date
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhongtai.catalog.barcodes import BarcodeError, WeighedFormat, ean13, register, scan

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases" / "gs1"


def _zxing_codes() -> list[str]:
    with (CASES / "zxing_ean_upc_decoded.tsv").open() as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    # UPC-E (6-8 digits from upce folders) only checks after expansion: keep full GTINs.
    return [
        r["decoded_text"]
        for r in rows
        if "upce" not in r["source_path"]
        and len(r["decoded_text"]) in (8, 12, 13, 14)
        and r["decoded_text"].isdigit()
    ]


def test_every_real_ean_and_upc_from_zxing_validates() -> None:
    codes = _zxing_codes()
    assert len(codes) > 300
    for code in codes:
        barcode = register(code)
        assert barcode.kind in {"ean13", "ean8", "upca", "gtin14"}
        assert len(barcode.key) == 14 and barcode.key.endswith(code)
        assert scan(code).key == barcode.key


def test_a_changed_digit_in_a_real_code_is_refused() -> None:
    for code in _zxing_codes()[:100]:
        wrong = code[:-1] + str((int(code[-1]) + 1) % 10)
        with pytest.raises(BarcodeError, match="check digit"):
            register(wrong)


@pytest.mark.parametrize(
    ("code", "kind"),
    [
        ("5901234123457", "ean13"),
        ("96385074", "ean8"),
        ("036000291452", "upca"),
        ("10614141000415", "gtin14"),
    ],
)
def test_published_gtin_examples(code: str, kind: str) -> None:
    assert register(code).kind == kind


def test_the_same_item_in_any_gtin_length_looks_up_alike() -> None:
    assert register("036000291452").key == register("0036000291452").key
    assert register("0036000291452").key == register("00036000291452").key


def test_gs1_element_string_from_the_general_specifications() -> None:
    # GS1 General Specifications example: GTIN, expiry, batch, net weight in kg (3 decimals).
    s = scan("(01)09501101530003(17)141120(10)AB-123(3103)001250(21)SN-9")
    assert s.kind == "gs1" and s.key == "09501101530003"
    assert s.expiry == date(2014, 11, 20)
    assert s.batch == "AB-123" and s.serial == "SN-9"
    assert s.weight_g == 1250


def test_gs1_with_fnc1_separators_and_symbology_prefix() -> None:
    s = scan("]C1010950110153000317141100\x1d3922001299")
    assert s.key == "09501101530003"
    assert s.expiry == date(2014, 11, 30)  # day 00 means the last day of the month
    assert s.price_minor == 1299  # 392n: amount with n decimals


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("(23)12345", "Unknown GS1 Application Identifier"),
        ("(01)09501101530004", "check digit"),
        ("(10)ABC", "no GTIN"),
        ("(01)09501101530003(17)141399", "pattern"),
    ],
)
def test_bad_gs1_strings_say_why(text: str, why: str) -> None:
    with pytest.raises(BarcodeError, match=why):
        scan(text)


@given(st.integers(0, 99_999), st.integers(0, 99_999), st.sampled_from(range(20, 30)))
def test_weighed_labels_carry_item_and_weight(item: int, grams: int, prefix: int) -> None:
    code = ean13(f"{prefix}{item:05d}{grams:05d}")
    s = scan(code, WeighedFormat())
    assert s.kind == "weighed" and s.key == f"{prefix}{item:05d}" and s.weight_g == grams
    priced = scan(code, WeighedFormat(item_digits=4, value="price"))
    assert priced.key == f"{prefix}{item:05d}"[:6] and priced.price_minor is not None


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_generated_ean13_always_validates(payload: str) -> None:
    code = ean13(payload)
    barcode = register(code)
    assert barcode.key == code.zfill(14)
    # Leading zeros make the same item a shorter GTIN: 0036000291452 is UPC-A 036000291452.
    assert barcode.kind == "ean13" or code.startswith("0")


def test_internal_and_bad_registrations() -> None:
    assert register("SKU-ABC").kind == "internal"
    assert register("2012345", weighed=True).key == "2012345"
    with pytest.raises(BarcodeError):
        register("1234567")  # 7 digits: not a GTIN length
    with pytest.raises(BarcodeError):
        register("9912345", weighed=True)
    with pytest.raises(BarcodeError):
        register("  ")
