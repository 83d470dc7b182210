"""Tenancy is enforced by the session itself, for every ORM query and write."""

from __future__ import annotations

import pytest
from sqlalchemy import delete, select, update

from tests.conftest import Tenant
from zhongtai.org.store import DictionaryEntry, OrgUnit, Staff
from zhongtai.platform.db import Database
from zhongtai.platform.errors import Forbidden
from zhongtai.platform.tenancy import TenancyViolation, scope_session
from zhongtai.platform.uow import UnitOfWork


def test_queries_see_only_their_own_tenant(db: Database, make_tenant) -> None:
    a: Tenant = make_tenant()
    b: Tenant = make_tenant()
    with UnitOfWork(db, a.id, write=False) as uow:
        units = uow.session.scalars(select(OrgUnit)).all()
        assert {u.tenant_id for u in units} == {a.id}
        assert uow.session.scalar(select(OrgUnit).where(OrgUnit.id == b.units["SH01"])) is None


def test_bulk_update_and_delete_cannot_reach_another_tenant(db: Database, make_tenant) -> None:
    a: Tenant = make_tenant()
    b: Tenant = make_tenant()
    with UnitOfWork(db, b.id) as uow:
        uow.session.execute(update(OrgUnit).values(name="hijacked"))
        uow.session.execute(delete(DictionaryEntry))
        uow.commit()
    with UnitOfWork(db, a.id, write=False) as uow:
        names = uow.session.scalars(select(OrgUnit.name)).all()
        assert "hijacked" not in names
        assert uow.session.scalars(select(DictionaryEntry)).all()


def test_writing_a_row_of_another_tenant_is_refused(db: Database, make_tenant) -> None:
    a: Tenant = make_tenant()
    b: Tenant = make_tenant()
    with UnitOfWork(db, b.id) as uow:
        uow.session.add(DictionaryEntry(tenant_id=a.id, dict_type="x", code="y", label="z"))
        with pytest.raises(TenancyViolation):
            uow.session.flush()


def test_new_rows_take_the_session_tenant(db: Database, tenant: Tenant) -> None:
    with UnitOfWork(db, tenant.id) as uow:
        entry = DictionaryEntry(dict_type="x", code="y", label="z")
        uow.session.add(entry)
        uow.session.flush()
        assert entry.tenant_id == tenant.id


def test_a_session_without_tenant_cannot_query_business_tables(db: Database) -> None:
    with db.session(write=False) as session:
        session.info.clear()
        with pytest.raises(TenancyViolation):
            session.scalars(select(Staff)).all()


def test_data_scope_filters_and_guards_writes(db: Database, tenant: Tenant) -> None:
    sh01 = frozenset({tenant.units["SH01"]})
    with UnitOfWork(db, tenant.id, scope=sh01) as uow:
        visible = uow.session.scalars(select(OrgUnit.code)).all()
        assert visible == ["SH01"]
        staff = uow.session.scalars(select(Staff)).all()
        assert {s.org_unit_id for s in staff} == set(sh01)
        moved = staff[0]
        moved.org_unit_id = tenant.units["SH02"]
        with pytest.raises(Forbidden):
            uow.session.flush()


def test_system_sessions_span_tenants_on_purpose(db: Database, make_tenant) -> None:
    a: Tenant = make_tenant()
    b: Tenant = make_tenant()
    with db.session(write=False) as session:
        scope_session(session, None)
        tenants = set(session.scalars(select(OrgUnit.tenant_id)).all())
    assert {a.id, b.id} <= tenants
