"""Payment rules: card numbers, change, and refunds that never exceed what was taken."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from zhongtai.payments import model


def test_card_numbers_are_luhn_checked() -> None:
    assert model.luhn_ok("4242424242424242") and model.luhn_ok("4000000000000002")
    for bad in ("4242424242424241", "4242", "42424242424242a2", ""):
        assert not model.luhn_ok(bad)


def test_cash_gives_change_and_refuses_too_little() -> None:
    assert model.Cash().authorise(1_550, {"tendered": 2_000}).change == 450
    assert model.Cash().authorise(1_550, {}).change == 0
    with pytest.raises(model.PaymentError):
        model.Cash().authorise(1_550, {"tendered": 1_000})


def test_the_test_gateway_declines_its_declining_cards() -> None:
    card = model.TestCard()
    assert card.authorise(100, {"card_number": "4242424242424242"}).approved
    answer = card.authorise(100, {"card_number": "4000000000009995"})
    assert not answer.approved and answer.message == "insufficient funds"


@given(st.integers(0, 10**6), st.lists(st.integers(-5, 10**6), max_size=20))
def test_refunds_never_exceed_what_was_captured(captured: int, asks: list[int]) -> None:
    refunded = 0
    for amount in asks:
        try:
            model.refundable(captured, refunded, amount)
        except model.PaymentError:
            assert amount <= 0 or amount > captured - refunded
            continue
        refunded += amount
        assert refunded <= captured
