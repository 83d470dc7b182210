"""Server-made sortable ids and UTC time."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from ulid import ULID


def new_id() -> str:
    """A 26-character, time-sortable id (ULID)."""
    return str(ULID())


def derived_id(seed: str) -> str:
    """An id of the same shape made from `seed`: the same seed gives the same id (for a
    retried request's records); its time part means nothing."""
    return str(ULID.from_bytes(hashlib.blake2b(seed.encode(), digest_size=16).digest()))


def utcnow() -> datetime:
    return datetime.now(UTC)
