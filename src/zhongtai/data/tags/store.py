"""The tag centre's tables: definitions, each day's bitmaps per value, saved audiences."""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar

from sqlalchemy import JSON, BigInteger, Boolean, LargeBinary, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped


class TagDefinition(TenantScoped, Base):
    """标签定义: what a tag means (kind and parameters) and when it was last computed."""

    __tablename__ = "tag_definition"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "code"),)
    code: Mapped[str] = mapped_column(String(40))
    id: Mapped[str] = id_column(default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    realtime: Mapped[bool] = mapped_column(Boolean, default=False)
    computed_day: Mapped[str | None] = mapped_column(String(10))
    fitted: Mapped[dict[str, Any] | None] = mapped_column(JSON)  # a model tag's parameters
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TagBitmap(TenantScoped, Base):
    """The persons holding one value of a tag on one day, as a portable roaring bitmap;
    earlier days stay, so a tag's history can be read back (版本)."""

    __tablename__ = "tag_bitmap"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "tag", "day", "value"),)
    audit_exclude: ClassVar[frozenset[str]] = frozenset({"bitmap"})  # the count is kept
    tag: Mapped[str] = mapped_column(String(40))
    day: Mapped[str] = mapped_column(String(10))
    value: Mapped[str] = mapped_column(String(200))
    persons: Mapped[int] = mapped_column(BigInteger)
    bitmap: Mapped[bytes] = mapped_column(LargeBinary)


class Audience(TenantScoped, Base):
    """人群: a saved boolean expression over tags; its size follows its tags."""

    __tablename__ = "audience"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "code"),)
    code: Mapped[str] = mapped_column(String(40))
    id: Mapped[str] = id_column(default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    expression: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
