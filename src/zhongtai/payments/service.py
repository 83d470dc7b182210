"""Use cases of the payment service; each runs inside the caller's unit of work, so a
payment and what it pays for commit together."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from zhongtai.payments import model
from zhongtai.payments.store import Payment, PaymentRefund
from zhongtai.platform.errors import Conflict, ProblemError, ValidationFailed
from zhongtai.platform.uow import UnitOfWork


class PaymentDeclined(ProblemError):
    status, type, title = 402, "payment-declined", "Payment declined"


def _provider(name: str, *, internal: bool = True) -> model.Provider:
    """The provider of that name; callers' new tenders (`internal=False`) may only name
    the offered ones."""
    found = model.PROVIDERS.get(name) or (model.INTERNAL.get(name) if internal else None)
    if found is None:
        raise ValidationFailed(
            "provider", f"unknown provider {name}; one of {sorted(model.PROVIDERS)}"
        )
    return found


def _event(uow: UnitOfWork, payment: Payment, what: str, **extra: Any) -> None:
    uow.emit(
        f"payment.{what}",
        {
            "id": payment.id,
            "order_id": payment.order_id,
            "provider": payment.provider,
            "amount": payment.amount,
            "captured": payment.captured,
            "refunded": payment.refunded,
            **extra,
        },
        subject=payment.order_id,
    )


def take(
    uow: UnitOfWork,
    order_id: str,
    provider: str,
    amount: int,
    details: dict[str, Any],
    *,
    capture: bool,
    internal: bool = False,
) -> Payment:
    """Authorise `amount` on a tender, and capture it at once unless asked not to. A
    declined authorisation raises 402 and stores nothing (the audit log keeps the
    attempt). Only the platform itself tenders `internal` providers."""
    p = _provider(provider, internal=internal)
    try:
        answer = p.authorise(amount, details)
    except model.PaymentError as exc:
        raise ValidationFailed(exc.field, str(exc)) from exc
    if not answer.approved:
        raise PaymentDeclined(answer.message, field="provider")
    payment = Payment(
        order_id=order_id,
        provider=provider,
        status=model.PaymentStatus.authorised.value,
        amount=amount,
        captured=0,
        refunded=0,
        change=answer.change,
        reference=answer.reference,
        message=answer.message,
    )
    uow.session.add(payment)
    uow.session.flush()
    _event(uow, payment, "authorised")
    if capture:
        capture_payment(uow, payment)
    return payment


def of_order(uow: UnitOfWork, order_id: str) -> list[Payment]:
    query = select(Payment).where(Payment.order_id == order_id).order_by(Payment.id)
    return list(uow.session.scalars(query).all())


def get(uow: UnitOfWork, payment_id: str) -> Payment:
    return uow.get(Payment, payment_id, "payment")


def capture_payment(uow: UnitOfWork, payment: Payment) -> Payment:
    if payment.status != model.PaymentStatus.authorised:
        raise Conflict(f"payment is {payment.status}", field="status")
    _provider(payment.provider).capture(payment.reference, payment.amount)
    payment.status, payment.captured = model.PaymentStatus.captured.value, payment.amount
    _event(uow, payment, "captured")
    return payment


def void(uow: UnitOfWork, payment: Payment) -> Payment:
    """Release an authorisation that was never captured."""
    if payment.status != model.PaymentStatus.authorised:
        raise Conflict(f"payment is {payment.status}", field="status")
    _provider(payment.provider).void(payment.reference)
    payment.status = model.PaymentStatus.voided.value
    _event(uow, payment, "voided")
    return payment


def refund(uow: UnitOfWork, payment: Payment, amount: int, reason: str) -> PaymentRefund:
    """Give money back to the tender it came from; several partial refunds may follow
    one another, never more in total than was captured."""
    try:
        model.refundable(payment.captured, payment.refunded, amount)
    except model.PaymentError as exc:
        raise Conflict(str(exc), field=exc.field) from exc
    answer = _provider(payment.provider).refund(payment.reference, amount)
    payment.refunded += amount
    row = PaymentRefund(
        payment_id=payment.id, amount=amount, reason=reason, reference=answer.reference
    )
    uow.session.add(row)
    _event(uow, payment, "refunded", refund=amount, reason=reason)
    return row
