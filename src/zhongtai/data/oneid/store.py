"""OneID's identity graph in the transactional database: identifiers, links, the history
of merges and splits, and each tenant's numbering."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Boolean, Index, PrimaryKeyConstraint, String
from sqlalchemy.orm import Mapped, mapped_column

from zhongtai.platform.db import Base, id_column
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.tenancy import TenantScoped


class IdentityNode(TenantScoped, Base):
    """标识: one identifier, numbered in first-seen order; its component and person are
    sequence numbers too (the oldest identifier's), so "oldest wins" is stable."""

    __tablename__ = "oneid_node"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "seq"),
        Index("ux_oneid_node_identifier", "tenant_id", "kind", "value", unique=True),
        Index("ix_oneid_node_component", "tenant_id", "component"),
        Index("ix_oneid_node_person", "tenant_id", "person"),
    )
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(12))
    value: Mapped[str] = mapped_column(String(200))
    component: Mapped[int] = mapped_column(BigInteger)
    person: Mapped[int] = mapped_column(BigInteger)
    shared: Mapped[bool] = mapped_column(Boolean, default=False)
    detached: Mapped[bool] = mapped_column(Boolean, default=False)
    first_seen: Mapped[datetime] = mapped_column(default=utcnow)


class IdentityEdge(TenantScoped, Base):
    """Two identifiers seen together in one event (`a` < `b`)."""

    __tablename__ = "oneid_edge"
    __table_args__ = (
        PrimaryKeyConstraint("tenant_id", "a", "b"),
        Index("ix_oneid_edge_b", "tenant_id", "b"),
    )
    a: Mapped[int] = mapped_column(BigInteger)
    b: Mapped[int] = mapped_column(BigInteger)


class MemberAlias(TenantScoped, Base):
    """账号融合: a merged member's identifier (`seq`) and its survivor's (`survivor`)."""

    __tablename__ = "oneid_member_alias"
    __table_args__ = (PrimaryKeyConstraint("tenant_id", "seq"),)
    seq: Mapped[int] = mapped_column(BigInteger)
    survivor: Mapped[int] = mapped_column(BigInteger)


class IdentityCounter(TenantScoped, Base):
    """The next sequence number; its row lock also makes OneID's writers take turns."""

    __tablename__ = "oneid_counter"
    __table_args__ = (PrimaryKeyConstraint("tenant_id"),)
    next_seq: Mapped[int] = mapped_column(BigInteger, default=1)


class PersonChange(TenantScoped, Base):
    """合并/拆分 history: what happened to which persons, and why."""

    __tablename__ = "oneid_change"
    __table_args__ = (Index("ix_oneid_change_person", "tenant_id", "person", "id"),)
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    kind: Mapped[str] = mapped_column(String(12))  # merged, split, detached
    person: Mapped[int] = mapped_column(BigInteger)
    others: Mapped[list[int]] = mapped_column(JSON)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)
    at: Mapped[datetime] = mapped_column(default=utcnow)


class PendingMapping(TenantScoped, Base):
    """An actor whose person changed, waiting to be told to the warehouse; written in the
    same transaction as the change, so the warehouse never misses one."""

    __tablename__ = "oneid_pending_map"
    id: Mapped[str] = id_column(primary_key=True, default=new_id)
    actor: Mapped[str] = mapped_column(String(220))
    person: Mapped[int] = mapped_column(BigInteger)
