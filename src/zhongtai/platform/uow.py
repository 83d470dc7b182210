"""Unit of work: one transaction, scoped to one tenant and data scope (工作单元)."""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import Any, TypeVar

from sqlalchemy import Select, select
from sqlalchemy.orm import Session

from zhongtai.platform import outbox
from zhongtai.platform.db import Database
from zhongtai.platform.errors import NotFound, ProblemError
from zhongtai.platform.security import Principal
from zhongtai.platform.tenancy import scope_session

T = TypeVar("T")


class UnitOfWork:
    """`with UnitOfWork(db, principal) as uow: ...; uow.commit()`; no commit, no change."""

    def __init__(
        self,
        db: Database,
        tenant_id: str,
        *,
        scope: frozenset[str] | None = None,
        principal: Principal | None = None,
        write: bool = True,
    ) -> None:
        self.db = db
        self.tenant_id = tenant_id
        self.scope = scope
        self.principal = principal
        self.write = write
        self._session: Session | None = None

    @classmethod
    def for_principal(cls, db: Database, principal: Principal, *, write: bool) -> UnitOfWork:
        return cls(db, principal.tenant_id, scope=principal.scope, principal=principal, write=write)

    @property
    def session(self) -> Session:
        if self._session is None:
            raise RuntimeError("unit of work used outside its `with` block")
        return self._session

    def __enter__(self) -> UnitOfWork:
        self._session = scope_session(self.db.session(write=self.write), self.tenant_id, self.scope)
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.session.rollback()
        self.session.close()
        self._session = None

    @property
    def actor_id(self) -> str:
        """Who is acting, for ledgers and documents: the caller, or "system"."""
        return self.principal.actor_id if self.principal else "system"

    def one(self, query: Select[T], what: str) -> T:
        """The first row of `query`, or 404. Queries are tenant-scoped, so another
        tenant's row is simply not found."""
        row = self.session.scalars(query).first()
        if row is None:
            raise NotFound(f"{what} not found")
        return row

    def get(self, cls: type[T], id_: str, what: str) -> T:
        """A row by id within the caller's tenant and data scope, or 404."""
        id_column: Any = cls.id  # type: ignore[attr-defined]
        return self.one(select(cls).where(id_column == id_), f"{what} {id_}")

    def put(self, cls: type[T], key: dict[str, Any], **values: Any) -> T:
        """The row of `cls` with these key columns, made if missing, with `values` set
        (a setting kept per category, location, ...)."""
        row = self.session.scalars(select(cls).filter_by(**key)).first()
        if row is None:
            row = cls(**key, **values)
            self.session.add(row)
        for name, value in values.items():
            setattr(row, name, value)
        self.session.flush()
        return row

    def emit(
        self, type_: str, payload: dict[str, Any], version: int = 1, subject: str | None = None
    ) -> None:
        """Record a business event in this transaction (see platform.outbox); `subject`
        names the document whose timeline it belongs to."""
        outbox.record(self.session, type_, payload, version, subject)

    def commit(self) -> None:
        self.session.commit()


def for_each(db: Database, due: Select[str, str], work: Callable[[UnitOfWork, str], Any]) -> int:
    """A relay job's pass: the (row id, tenant id) pairs `due` across tenants, then `work`
    on each in a transaction of its own; one refused (raced, or moved on meanwhile) is
    left for the next pass."""
    with db.session(write=False) as session:
        scope_session(session, None)
        rows = session.execute(due).all()
    for row_id, tenant_id in rows:
        with UnitOfWork(db, tenant_id) as uow:
            try:
                work(uow, row_id)
            except ProblemError:
                continue
            uow.commit()
    return len(rows)
