"""Tables of the user centre."""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar

from sqlalchemy import Boolean, ForeignKey, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import DataScoped, TenantScoped


class Tenant(Base):
    """A retailer using the platform (租户)."""

    __tablename__ = "tenant"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrgUnit(DataScoped, Base):
    """A node of the organisation tree (组织架构): company, region, store, warehouse."""

    __tablename__ = "org_unit"
    __table_args__ = (UniqueConstraint("tenant_id", "code"),)
    scope_attribute: ClassVar[str] = "id"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    code: Mapped[str] = mapped_column(String(40))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))
    parent_id: Mapped[str | None] = mapped_column(ForeignKey("org_unit.id"), index=True)
    path: Mapped[str] = mapped_column(String(1000), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Role(TenantScoped, Base):
    """用户角色: a named set of permissions."""

    __tablename__ = "role"
    __table_args__ = (UniqueConstraint("tenant_id", "name"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str] = mapped_column(String(400), default="")
    permissions: Mapped[list[str]] = mapped_column(default=list)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)


class Staff(DataScoped, Base):
    """A staff account (员工); belongs to its home org unit."""

    __tablename__ = "staff"
    __table_args__ = (UniqueConstraint("tenant_id", "username"),)
    audit_exclude: ClassVar[frozenset[str]] = frozenset({"password_hash"})
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    username: Mapped[str] = mapped_column(String(64))
    display_name: Mapped[str] = mapped_column(String(200))
    password_hash: Mapped[str] = mapped_column(String(200))
    org_unit_id: Mapped[str] = mapped_column(ForeignKey("org_unit.id"), index=True)
    role_ids: Mapped[list[str]] = mapped_column(default=list)
    scope_unit_ids: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    credentials_version: Mapped[int] = mapped_column(Integer, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(TenantScoped, Base):
    """Client credentials for a partner integration (开放平台)."""

    __tablename__ = "api_key"
    audit_exclude: ClassVar[frozenset[str]] = frozenset({"secret_hash"})
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    name: Mapped[str] = mapped_column(String(200))
    client_id: Mapped[str] = mapped_column(String(40), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(200))
    role_ids: Mapped[list[str]] = mapped_column(default=list)
    scope_unit_ids: Mapped[list[str]] = mapped_column(default=list)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    expires_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DictionaryEntry(TenantScoped, Base):
    """基础字典: one value of a configurable list such as return reasons."""

    __tablename__ = "dictionary_entry"
    __table_args__ = (UniqueConstraint("tenant_id", "dict_type", "code"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    dict_type: Mapped[str] = mapped_column(String(64))
    code: Mapped[str] = mapped_column(String(64))
    label: Mapped[str] = mapped_column(String(200))
    sort_order: Mapped[int] = mapped_column(Integer, default=0)
    active: Mapped[bool] = mapped_column(Boolean, default=True)


class CodingRuleRow(TenantScoped, Base):
    """A tenant's own number format for one kind of document (编码规则)."""

    __tablename__ = "coding_rule"
    __table_args__ = (UniqueConstraint("tenant_id", "kind"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(40))
    prefix: Mapped[str] = mapped_column(String(12))
    date_format: Mapped[str] = mapped_column(String(12))
    width: Mapped[int] = mapped_column(Integer)
    reset: Mapped[str] = mapped_column(String(10))
    timezone: Mapped[str] = mapped_column(String(64))


class CodingSequence(TenantScoped, Base):
    """The last number handed out per (kind, period); advanced inside the caller's transaction."""

    __tablename__ = "coding_sequence"
    tenant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(16), primary_key=True)
    last_value: Mapped[int] = mapped_column(Integer)


class LoginThrottle(Base):
    """Failed sign-ins per account, to slow down password guessing."""

    __tablename__ = "login_throttle"
    tenant_id: Mapped[str] = mapped_column(String(26), primary_key=True)
    username: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    locked_until: Mapped[datetime | None] = mapped_column()
