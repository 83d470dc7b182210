"""OneID (标识中心) over the database: link the identifiers events carry, split persons
apart on request, and tell the warehouse which person each actor now is.

Each call loads only the components its identifiers belong to (with every link touching
them), runs the pure `Graph` on that part, and writes back what changed. That is exact:
links only join the components they touch and a guard only cuts inside one."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from zhongtai.data import warehouse
from zhongtai.data.oneid.model import (
    Change,
    Graph,
    Guards,
    IdKind,
    NodeState,
    normalize,
    resolve_arrays,
    shared_nodes,
)
from zhongtai.data.oneid.store import (
    IdentityCounter,
    IdentityEdge,
    IdentityNode,
    MemberAlias,
    PendingMapping,
    PersonChange,
)
from zhongtai.platform.db import Database, dialect_insert
from zhongtai.platform.errors import NotFound, ValidationFailed
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork

GUARDS = Guards()
ACTOR_KINDS = frozenset({IdKind.member, IdKind.cookie, IdKind.device})  # events' actor keys
CHUNK = 900  # values per IN list: inside SQLite's and PostgreSQL's parameter limits
Identifier = tuple[IdKind, str]
T = TypeVar("T")


def _chunks(items: Sequence[T]) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), CHUNK):
        yield items[start : start + CHUNK]


def actor_key(identifier: Identifier) -> str:
    return f"{identifier[0].value}:{identifier[1]}"


# --- loading and saving a part of the graph ---------------------------------------------


@dataclass
class _Part:
    graph: Graph
    rows: dict[int, IdentityNode]
    edges: set[tuple[int, int]]
    merged: dict[int, int]
    counter: IdentityCounter


def _counter(uow: UnitOfWork) -> IdentityCounter:
    """The tenant's numbering, its row locked so OneID's writers take turns."""
    uow.session.execute(
        dialect_insert(uow.db.dialect)(IdentityCounter)
        .values(tenant_id=uow.tenant_id, next_seq=1)
        .on_conflict_do_nothing(index_elements=["tenant_id"])
    )
    return uow.session.scalars(select(IdentityCounter).with_for_update()).one()


def _where_in(session: Session, column: Any, values: Sequence[Any]) -> list[IdentityNode]:
    found: list[IdentityNode] = []
    for part in _chunks(values):
        found += session.scalars(select(IdentityNode).where(column.in_(part))).all()
    return found


def _identified(session: Session, pairs: Sequence[tuple[str, str]]) -> list[IdentityNode]:
    """Nodes by (kind, value), one kind at a time, so the unique index serves the lookup
    (SQLite reads the whole table for a row-value `IN`)."""
    by_kind: dict[str, list[str]] = {}
    for kind, value in pairs:
        by_kind.setdefault(kind, []).append(value)
    found: list[IdentityNode] = []
    for kind, values in by_kind.items():
        for part in _chunks(values):
            query = select(IdentityNode).where(
                IdentityNode.kind == kind, IdentityNode.value.in_(part)
            )
            found += session.scalars(query).all()
    return found


def _load(uow: UnitOfWork, identifiers: Sequence[Identifier]) -> _Part:
    """The part of the graph these identifiers can affect: their whole components, every
    link touching them, and the far ends of those links as stored."""
    counter = _counter(uow)
    pairs = sorted({(k.value, v) for k, v in identifiers})
    found = _identified(uow.session, pairs)
    core = _where_in(uow.session, IdentityNode.component, sorted({n.component for n in found}))
    edges: set[tuple[int, int]] = set()
    for part in _chunks([n.seq for n in core]):
        # One indexed read per end: SQLite scans every link for `a IN .. OR b IN ..`.
        for end in (IdentityEdge.a, IdentityEdge.b):
            query = select(IdentityEdge.a, IdentityEdge.b).where(end.in_(part))
            edges.update((a, b) for a, b in uow.session.execute(query))
    rows = {n.seq: n for n in core}
    far = sorted({s for edge in edges for s in edge} - set(rows))
    rows.update((n.seq, n) for n in _where_in(uow.session, IdentityNode.seq, far))
    merged = _merges(uow.session, list(rows))
    states = [_state(n) for n in rows.values()]
    graph = Graph.restore(states, edges, counter.next_seq, GUARDS, merged)
    return _Part(graph, rows, edges, merged, counter)


def _merges(session: Session, seqs: list[int]) -> dict[int, int]:
    """The member merges of these nodes, and of their survivors in turn (the guards count
    a merged member id as the member its merges end in)."""
    merged: dict[int, int] = {}
    while seqs:
        found: dict[int, int] = {}
        for part in _chunks(seqs):
            query = select(MemberAlias.seq, MemberAlias.survivor).where(MemberAlias.seq.in_(part))
            found.update((int(seq), int(survivor)) for seq, survivor in session.execute(query))
        merged.update(found)
        seqs = [survivor for survivor in found.values() if survivor not in merged]
    return merged


def _state(node: IdentityNode) -> NodeState:
    identifier = (IdKind(node.kind), node.value)
    return NodeState(node.seq, identifier, node.component, node.person, node.shared, node.detached)


def _node(state: NodeState) -> IdentityNode:
    kind, value = state.identifier
    return IdentityNode(
        seq=state.seq,
        kind=kind.value,
        value=value,
        component=state.component,
        person=state.person,
        shared=state.shared,
        detached=state.detached,
    )


def _save(uow: UnitOfWork, part: _Part) -> None:
    """Write back what the graph changed, and queue the actors whose person moved."""
    graph = part.graph
    for seq, identifier in graph.nodes.items():
        now, row = graph.state(seq), part.rows.get(seq)
        if row is not None and now == _state(row):
            continue
        if identifier[0] in ACTOR_KINDS and (row is None or row.person != now.person):
            uow.session.add(PendingMapping(actor=actor_key(identifier), person=now.person))
        if row is None:
            uow.session.add(_node(now))
        else:
            row.component, row.person = now.component, now.person
            row.shared, row.detached = now.shared, now.detached
    for seq, survivor in graph.merged.items():
        if seq not in part.merged:
            uow.session.add(MemberAlias(seq=seq, survivor=survivor))
    fresh = set(graph.edges) - part.edges
    if fresh:
        rows = [{"tenant_id": uow.tenant_id, "a": a, "b": b} for a, b in sorted(fresh)]
        uow.session.execute(insert(IdentityEdge), rows)
    part.counter.next_seq = graph.next_seq


def _note(uow: UnitOfWork, kind: str, person: int, others: list[int], detail: Any) -> None:
    uow.session.add(PersonChange(kind=kind, person=person, others=others, detail=detail))


def _history(uow: UnitOfWork, change: Change, detail: dict[str, Any]) -> None:
    """合并/拆分 history, one row per person involved, so each person's story is one read."""
    for survivor, absorbed in change.merged:
        _note(uow, "merged", survivor, absorbed, detail)
        for old in absorbed:
            _note(uow, "merged_into", old, [survivor], detail)
    for old, parts in change.split:
        _note(uow, "split", old, parts, detail)
        for new in (p for p in parts if p != old):
            _note(uow, "split_from", new, [old], detail)


# --- use cases ---------------------------------------------------------------------------


def link(uow: UnitOfWork, observations: Sequence[Sequence[Identifier]], source: str) -> int:
    """Link the identifiers each event carried together (增量归并); returns how many
    persons merged or split."""
    seen = [o for o in observations if o]
    if not seen:
        return 0
    part = _load(uow, [i for o in seen for i in o])
    changes = [part.graph.observe(o) for o in seen]
    _save(uow, part)
    for change in changes:
        _history(uow, change, {"source": source})
    return sum(len(c.merged) + len(c.split) for c in changes)


def merge_members(uow: UnitOfWork, survivor: str, merged: str) -> int:
    """账号融合 as the member centre made it: the merged member id, and with it what it
    was seen with, joins the survivor's person; returns how many persons merged (0 for a
    repeat). A merge OneID cannot make (one of them merged into another) is a 422."""
    identifiers = [
        _identifier(IdKind.member, survivor, "target"),
        _identifier(IdKind.member, merged, "source"),
    ]
    part = _load(uow, _merge_reach(uow, identifiers))
    try:
        change = part.graph.merge_members(survivor, merged)
    except ValueError as exc:
        raise ValidationFailed("source", str(exc)) from exc
    _save(uow, part)
    _history(uow, change, {"source": "member.merged", "target": survivor, "merged": merged})
    return len(change.merged)


def _merge_reach(uow: UnitOfWork, members: list[Identifier]) -> list[Identifier]:
    """What a merge must load whole: the two members' components, every identifier seen
    with the merged member (its count of members may drop: it is counted again), and
    everything seen with those (one freed from the shared guard bridges them again)."""
    graph = _load(uow, members).graph
    merged = graph.node_of(*members[1])
    if merged is None:
        return members
    seen_with = {n for m in graph.merged_into(merged) for n in graph.neighbours(m)}
    nodes = graph.nodes
    wider = _load(uow, members + [nodes[n] for n in seen_with]).graph
    around = seen_with | {m for n in seen_with for m in wider.neighbours(n)}
    nodes = wider.nodes
    return members + [nodes[n] for n in around]


def _identifier(kind: IdKind, value: str, field: str) -> Identifier:
    text = normalize(kind, value)
    if text is None:
        raise ValidationFailed(field, f"not a usable {kind.value} identifier")
    return kind, text


def detach(uow: UnitOfWork, person: int, kind: IdKind, value: str, why: str) -> PersonOut:
    """拆分: take an identifier out of its person; it bridges nothing from now on."""
    identifier = _identifier(kind, value, "value")
    part = _load(uow, [identifier])
    if part.graph.person_of(*identifier) != person:
        raise NotFound(f"person {person} has no {kind.value} {value}")
    change = part.graph.detach(*identifier)
    _save(uow, part)
    _history(uow, change, {"source": "operator", "identifier": actor_key(identifier), "why": why})
    actor = uow.principal.actor_id if uow.principal else "system"
    _note(
        uow, "detached", person, [], {"identifier": actor_key(identifier), "why": why, "by": actor}
    )
    uow.session.flush()
    return describe(uow, person)


class IdentityOut(BaseModel):
    kind: str
    value: str
    shared: bool
    detached: bool
    first_seen: datetime


class ChangeOut(BaseModel):
    kind: str
    others: list[int]
    detail: dict[str, Any]
    at: datetime


class PersonOut(BaseModel):
    """自然人: one OneID person, its identifiers and what happened to it."""

    person: int
    identities: list[IdentityOut]
    history: list[ChangeOut]


def describe(uow: UnitOfWork, person: int) -> PersonOut:
    nodes = uow.session.scalars(
        select(IdentityNode).where(IdentityNode.person == person).order_by(IdentityNode.seq)
    ).all()
    if not nodes:
        raise NotFound(f"no person {person}")
    changes = uow.session.scalars(
        select(PersonChange).where(PersonChange.person == person).order_by(PersonChange.id)
    ).all()
    return PersonOut(
        person=person,
        identities=[
            IdentityOut(
                kind=n.kind,
                value=n.value,
                shared=n.shared,
                detached=n.detached,
                first_seen=n.first_seen,
            )
            for n in nodes
        ],
        history=[
            ChangeOut(kind=c.kind, others=c.others, detail=c.detail, at=c.at) for c in changes
        ],
    )


def find_person(uow: UnitOfWork, kind: IdKind, value: str) -> int | None:
    """The person an identifier belongs to now, if OneID has seen it."""
    k, text = _identifier(kind, value, "value")
    query = select(IdentityNode.person).where(
        IdentityNode.kind == k.value, IdentityNode.value == text
    )
    person = uow.session.scalar(query)
    return None if person is None else int(person)


def person_of(uow: UnitOfWork, kind: IdKind, value: str) -> int:
    person = find_person(uow, kind, value)
    if person is None:
        raise NotFound(f"no {kind.value} {value} has been seen")
    return person


def latest_persons(uow: UnitOfWork, limit: int) -> list[int]:
    """The persons of the identifiers seen last."""
    query = select(IdentityNode.person).order_by(IdentityNode.seq.desc()).limit(limit * 4)
    return list(dict.fromkeys(int(p) for p in uow.session.scalars(query)))[:limit]


def actors_of(uow: UnitOfWork, person: int) -> list[str]:
    """The actor keys whose events are this person's (for timelines and profiles)."""
    query = select(IdentityNode.kind, IdentityNode.value).where(
        IdentityNode.person == person, IdentityNode.kind.in_([k.value for k in ACTOR_KINDS])
    )
    return [f"{kind}:{value}" for kind, value in uow.session.execute(query)]


def _keyed(actors: Sequence[str]) -> list[tuple[str, str]]:
    pairs = (a.split(":", 1) for a in actors if ":" in a)
    return [(kind, value) for kind, value in pairs if kind in {k.value for k in ACTOR_KINDS}]


def persons_of_actors(uow: UnitOfWork, actors: Sequence[str]) -> dict[str, int]:
    """Each actor key's person now, for those OneID has seen."""
    nodes = _identified(uow.session, _keyed(actors))
    return {f"{n.kind}:{n.value}": n.person for n in nodes}


def members_of_persons(uow: UnitOfWork, persons: Sequence[int]) -> list[tuple[int, list[str]]]:
    """Each person with the member ids among its identifiers (none for a visitor)."""
    held: dict[int, list[str]] = {p: [] for p in persons}
    for part in _chunks(list(persons)):
        query = select(IdentityNode.person, IdentityNode.value).where(
            IdentityNode.person.in_(part), IdentityNode.kind == IdKind.member.value
        )
        for person, value in uow.session.execute(query.order_by(IdentityNode.seq)):
            held[int(person)].append(value)
    return list(held.items())


def rebuilt(uow: UnitOfWork) -> dict[int, int]:
    """全量重算: every identifier's person computed from scratch from the stored links and
    detachments (an audit of the incremental result: the two must agree)."""
    nodes = uow.session.execute(
        select(IdentityNode.seq, IdentityNode.kind, IdentityNode.detached).order_by(
            IdentityNode.seq
        )
    ).all()
    edges = np.array(uow.session.execute(select(IdentityEdge.a, IdentityEdge.b)).all())
    seqs = np.array([n.seq for n in nodes], dtype=np.int64)
    kinds = {n.seq: IdKind(n.kind) for n in nodes}
    dense = [kinds[int(s)] for s in seqs]  # shared_nodes counts by position
    position = {int(s): i for i, s in enumerate(seqs)}
    local = np.vectorize(position.__getitem__)(edges) if len(edges) else edges
    aliased = uow.session.execute(select(MemberAlias.seq, MemberAlias.survivor))
    merged = {int(seq): int(survivor) for seq, survivor in aliased}
    by_position = {position[s]: position[v] for s, v in merged.items()}
    shared = {int(seqs[i]) for i in shared_nodes(dense, local, GUARDS, by_position)}
    blocked = shared | {n.seq for n in nodes if n.detached}
    members = [s for s, k in kinds.items() if k is IdKind.member and s not in merged]
    aliases = list(merged.items())
    _component, person = resolve_arrays(seqs, members, edges, sorted(blocked), aliases)
    return dict(zip(seqs.tolist(), person.tolist(), strict=True))


def persons(uow: UnitOfWork) -> dict[int, int]:
    """Every identifier's person as kept incrementally."""
    rows = uow.session.execute(select(IdentityNode.seq, IdentityNode.person)).all()
    return {int(seq): int(person) for seq, person in rows}


# --- the right to be forgotten (被遗忘权) ---------------------------------------------------

PERSONAL = frozenset({IdKind.phone, IdKind.email, IdKind.union_id, IdKind.open_id, IdKind.mac})


def forget(session: Session, member_id: str) -> int:
    """A forgotten member's personal identifiers lose their values everywhere in OneID;
    the links stay (as numbers), so analyses keep counting the person, anonymously."""
    query = select(IdentityNode.person).where(
        IdentityNode.kind == IdKind.member.value, IdentityNode.value == member_id
    )
    person = session.scalar(query)
    if person is None:
        return 0
    nodes = session.scalars(
        select(IdentityNode).where(
            IdentityNode.person == person, IdentityNode.kind.in_([k.value for k in PERSONAL])
        )
    ).all()
    for node in nodes:
        node.value = f"forgotten:{node.seq}"
    session.add(
        PersonChange(kind="forgotten", person=person, others=[], detail={"erased": len(nodes)})
    )
    return len(nodes)


# --- telling the warehouse ---------------------------------------------------------------


def flush_mappings(db: Database, limit: int = 20_000) -> int:
    """Relay job: send queued actor -> person changes to the warehouse, then drop them. A
    crash between the two sends them again, which the warehouse's latest-wins table
    absorbs."""
    with db.session(write=True) as session:
        scope_session(session, None)
        rows = session.scalars(
            select(PendingMapping).order_by(PendingMapping.id).limit(limit)
        ).all()
        if not rows:
            return 0
        latest = {(r.tenant_id, r.actor): r for r in rows}  # a later change of an actor wins
        version = int(datetime.now().timestamp() * 1_000_000)
        warehouse.of(db.settings).insert(
            "person_map",
            [
                {"tenant_id": t, "actor": a, "person": r.person, "version": version}
                for (t, a), r in latest.items()
            ],
        )
        session.execute(delete(PendingMapping).where(PendingMapping.id.in_([r.id for r in rows])))
        session.commit()
    return len(rows)
