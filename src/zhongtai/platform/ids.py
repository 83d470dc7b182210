"""Server-made sortable ids and UTC time."""

from __future__ import annotations

from datetime import UTC, datetime

from ulid import ULID


def new_id() -> str:
    """A 26-character, time-sortable id (ULID)."""
    return str(ULID())


def utcnow() -> datetime:
    return datetime.now(UTC)
