"""The payment service's rules (支付): what a payment may do next, and the providers.

A provider is anything with `authorise`, `capture`, `void` and `refund` over amounts in
minor units; wallets (WeChat Pay, Alipay) with signed callbacks plug in the same way.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any, Protocol

from ulid import ULID


class PaymentStatus(StrEnum):
    authorised = "authorised"  # money held, not taken
    captured = "captured"  # money taken (some of it may be refunded later)
    voided = "voided"  # hold released before capture


class PaymentError(ValueError):
    """A payment the rules or the provider refuse; `field` names the input at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class Answer:
    approved: bool
    reference: str
    message: str = ""
    change: int = 0  # cash handed back


class Provider(Protocol):
    name: str

    def authorise(self, amount: int, details: dict[str, Any]) -> Answer: ...
    def capture(self, reference: str, amount: int) -> Answer: ...
    def void(self, reference: str) -> Answer: ...
    def refund(self, reference: str, amount: int) -> Answer: ...


def _reference(prefix: str) -> str:
    return f"{prefix}_{ULID()}"


class Cash:
    """现金: the tendered amount covers the payment; the rest is change."""

    name = "cash"

    def authorise(self, amount: int, details: dict[str, Any]) -> Answer:
        tendered = int(details.get("tendered") or amount)
        if tendered < amount:
            raise PaymentError("tendered", f"{tendered} tendered for {amount}")
        return Answer(True, _reference("cash"), change=tendered - amount)

    def capture(self, reference: str, amount: int) -> Answer:
        return Answer(True, reference)

    def void(self, reference: str) -> Answer:
        return Answer(True, reference)

    def refund(self, reference: str, amount: int) -> Answer:
        return Answer(True, _reference("cashback"))


# The test gateway's cards: any Luhn-valid number is approved except these.
DECLINED = {"4000000000000002": "card declined", "4000000000009995": "insufficient funds"}


def luhn_ok(number: str) -> bool:
    if not number.isdigit() or not 12 <= len(number) <= 19:
        return False
    digits = [int(d) for d in reversed(number)]
    odd = sum(digits[0::2])
    even = sum(sum(divmod(2 * d, 10)) for d in digits[1::2])
    return (odd + even) % 10 == 0


class TestCard:
    """A card gateway for tests and demos: authorise, then capture, void or refund."""

    name = "test_card"
    __test__ = False  # not a pytest class

    def authorise(self, amount: int, details: dict[str, Any]) -> Answer:
        number = str(details.get("card_number") or "")
        if not luhn_ok(number):
            raise PaymentError("card_number", "not a valid card number")
        if reason := DECLINED.get(number):
            return Answer(False, _reference("tc"), reason)
        return Answer(True, _reference("tc"))

    def capture(self, reference: str, amount: int) -> Answer:
        return Answer(True, reference)

    def void(self, reference: str) -> Answer:
        return Answer(True, reference)

    def refund(self, reference: str, amount: int) -> Answer:
        return Answer(True, _reference("tcr"))


class ExchangeCredit:
    """换货抵扣: a received return's refund spent on its exchange order. Internal: no
    caller may tender it; given back (the exchange order cancelled), it is paid out at
    the service desk as the store's credit note."""

    name = "exchange_credit"

    def authorise(self, amount: int, details: dict[str, Any]) -> Answer:
        return Answer(True, _reference(f"xc_{details.get('return', '')}"))

    def capture(self, reference: str, amount: int) -> Answer:
        return Answer(True, reference)

    def void(self, reference: str) -> Answer:
        return Answer(True, reference)

    def refund(self, reference: str, amount: int) -> Answer:
        return Answer(True, _reference("xcr"))


class Points:
    """积分抵现: the member's points as a tender. The points ledger is the member centre's:
    the order centre spends the points when this tender is taken and gives them back when
    money is refunded to it, in the same transaction (members.service.pay_with_points,
    refund_points); the provider itself only approves."""

    name = "points"

    def authorise(self, amount: int, details: dict[str, Any]) -> Answer:
        return Answer(True, _reference("pts"))

    def capture(self, reference: str, amount: int) -> Answer:
        return Answer(True, reference)

    def void(self, reference: str) -> Answer:
        return Answer(True, reference)

    def refund(self, reference: str, amount: int) -> Answer:
        return Answer(True, _reference("ptsr"))


POINTS = Points.name
# Callers' tenders:
PROVIDERS: dict[str, Provider] = {p.name: p for p in (Cash(), TestCard(), Points())}
INTERNAL: dict[str, Provider] = {p.name: p for p in (ExchangeCredit(),)}


def refundable(captured: int, refunded: int, amount: int) -> None:
    """A refund takes back at most what was captured and not yet refunded."""
    if amount <= 0:
        raise PaymentError("amount", "must be positive")
    if amount > captured - refunded:
        raise PaymentError("amount", f"only {captured - refunded} can still be refunded")
