"""OneID on the real databases: linking in batches, each loading only its part of the
stored graph, gives the persons a full rebuild gives (both from the stored links and from
the pure rules over the same events); concurrent linkers take turns and lose nothing."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from hypothesis import HealthCheck, given, note, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from zhongtai.data.oneid import model, service
from zhongtai.data.oneid.model import IdKind
from zhongtai.data.oneid.store import IdentityNode, MemberAlias
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ValidationFailed
from zhongtai.platform.uow import UnitOfWork

Identifier = tuple[IdKind, str]
VALUES = {
    IdKind.member: ["M1", "M2", "M3"],
    IdKind.phone: ["13900000001", "13900000002", "13900000003", "13900000004", "13900000005"],
    IdKind.device: ["d1", "d2"],
    IdKind.cookie: ["c1", "c2", "c3", "c4"],
}
identifier = st.sampled_from(list(VALUES)).flatmap(
    lambda kind: st.sampled_from(VALUES[kind]).map(lambda value: (kind, value))
)
observations = st.lists(st.lists(identifier, min_size=1, max_size=3), min_size=1, max_size=14)


def _link(db: Database, tenant_id: str, batch: Sequence[Sequence[Identifier]]) -> None:
    with UnitOfWork(db, tenant_id) as uow:
        service.link(uow, batch, "test")
        uow.commit()


def _by_identifier(db: Database, tenant_id: str) -> dict[Identifier, int]:
    with UnitOfWork(db, tenant_id, write=False) as uow:
        rows = uow.session.query(IdentityNode).all()
        return {(IdKind(n.kind), n.value): n.person for n in rows}


def _partition(persons: dict[Identifier, int]) -> set[frozenset[Identifier]]:
    groups: dict[int, set[Identifier]] = {}
    for ident, person in persons.items():
        groups.setdefault(person, set()).add(ident)
    return {frozenset(g) for g in groups.values()}


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=observations, cut=st.integers(min_value=1, max_value=5))
def test_batches_give_what_a_rebuild_gives(
    db: Database, events: list[list[Identifier]], cut: int
) -> None:
    tenant_id = uuid.uuid4().hex[:26]
    for start in range(0, len(events), cut):
        _link(db, tenant_id, events[start : start + cut])
    with UnitOfWork(db, tenant_id, write=False) as uow:
        assert service.persons(uow) == service.rebuilt(uow)
    stored = _by_identifier(db, tenant_id)
    reference = model.rebuild(events)
    assert _partition(stored) == _partition(reference)


merges = st.lists(
    st.tuples(st.integers(0, 14), st.permutations(VALUES[IdKind.member]).map(lambda m: m[:2])),
    max_size=3,
)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(events=observations, merged=merges)
def test_member_merges_between_batches_give_what_a_rebuild_gives(
    db: Database, events: list[list[Identifier]], merged: list[tuple[int, list[str]]]
) -> None:
    tenant_id = uuid.uuid4().hex[:26]
    made: list[tuple[str, str]] = []
    for at, event in enumerate(events):
        _link(db, tenant_id, [event])
        for _, (survivor, member) in (m for m in merged if m[0] == at):
            with UnitOfWork(db, tenant_id) as uow:
                # Members seen already: a rebuild numbers the others after every event.
                if None in (service.find_person(uow, IdKind.member, v) for v in (survivor, member)):
                    continue
                aliases = len(uow.session.scalars(select(MemberAlias)).all())
                try:
                    service.merge_members(uow, survivor, member)
                except ValidationFailed:  # one of them merged into another before
                    continue
                if len(uow.session.scalars(select(MemberAlias)).all()) == aliases:
                    continue  # a repeat, by another road
                uow.commit()
            made.append((survivor, member))
    note(f"events {events} merges {made}")
    with UnitOfWork(db, tenant_id, write=False) as uow:
        assert service.persons(uow) == service.rebuilt(uow)
    expected = _partition(model.rebuild(events, merges=made))
    assert _partition(_by_identifier(db, tenant_id)) == expected, (events, made)


def test_a_split_identifier_leaves_its_person_and_bridges_nothing_after(db: Database) -> None:
    tenant_id = uuid.uuid4().hex[:26]
    shared_tablet = (IdKind.device, "ipad-1")
    _link(db, tenant_id, [[(IdKind.phone, "13900000001"), shared_tablet]])
    _link(db, tenant_id, [[(IdKind.cookie, "c-9"), shared_tablet]])
    with UnitOfWork(db, tenant_id) as uow:
        person = service.person_of(uow, IdKind.cookie, "c-9")
        assert person == service.person_of(uow, IdKind.phone, "13900000001")
        out = service.detach(uow, person, IdKind.device, "ipad-1", "a family tablet")
        uow.commit()
    assert [h.kind for h in out.history][-1] == "detached"
    _link(db, tenant_id, [[(IdKind.phone, "13900000002"), shared_tablet]])
    with UnitOfWork(db, tenant_id, write=False) as uow:
        phones = {service.person_of(uow, IdKind.phone, p) for p in ("13900000001", "13900000002")}
        assert len(phones) == 2
        assert service.person_of(uow, IdKind.cookie, "c-9") != service.person_of(
            uow, IdKind.phone, "13900000001"
        )
        assert service.persons(uow) == service.rebuilt(uow)


def test_concurrent_linkers_take_turns_and_lose_no_link(db: Database) -> None:
    tenant_id = uuid.uuid4().hex[:26]
    chain = [[(IdKind.cookie, f"c{i}"), (IdKind.cookie, f"c{i + 1}")] for i in range(40)]

    def work(observation: list[Identifier]) -> None:
        for _ in range(50):
            try:
                return _link(db, tenant_id, [observation])
            except OperationalError:
                continue  # SQLite busy beyond its timeout, or a PostgreSQL deadlock: retry
        raise AssertionError("could not link")

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, chain))
    persons = _by_identifier(db, tenant_id)
    assert len(persons) == 41 and set(persons.values()) == {min(persons.values())}
    with UnitOfWork(db, tenant_id, write=False) as uow:
        assert service.persons(uow) == service.rebuilt(uow)
