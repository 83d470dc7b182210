"""Webhook signatures, retry back-off and error field names: pure functions."""

from __future__ import annotations

import time

from hypothesis import given
from hypothesis import strategies as st

from zhongtai.platform.errors import _field
from zhongtai.platform.webhooks import MAX_BACKOFF, backoff, sign, verify


@given(st.text(min_size=8, max_size=40), st.binary(max_size=500))
def test_a_signed_body_verifies(secret: str, body: bytes) -> None:
    assert verify(secret, sign(secret, body), body)


@given(st.text(min_size=8, max_size=40), st.binary(min_size=1, max_size=500))
def test_a_changed_body_or_secret_fails(secret: str, body: bytes) -> None:
    header = sign(secret, body)
    assert not verify(secret, header, body + b"x")
    assert not verify(secret + "x", header, body)


def test_an_old_signature_is_refused() -> None:
    header = sign("s3cret-key", b"{}", int(time.time()) - 3600)
    assert not verify("s3cret-key", header, b"{}")
    assert not verify("s3cret-key", "garbage", b"{}")


@given(st.integers(1, 60))
def test_backoff_grows_and_is_capped(attempts: int) -> None:
    assert backoff(attempts, 2.0) <= backoff(attempts + 1, 2.0) <= MAX_BACKOFF


def test_field_names_read_like_paths() -> None:
    assert _field(("body", "lines", 0, "qty")) == "lines[0].qty"
    assert _field(("query", "limit")) == "query.limit"
    assert _field(("body",)) == "body"
    assert _field(("header", "Idempotency-Key")) == "header.Idempotency-Key"
