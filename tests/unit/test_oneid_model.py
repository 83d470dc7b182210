"""OneID (标识中心) rules without a database: normalisation and junk, the shared-identifier
guard, member ids never merging, detach (拆分), oldest id wins, and the incremental graph
agreeing with a rebuild from scratch whatever the order of events."""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhongtai.data.oneid import model
from zhongtai.data.oneid.model import STRONG, Graph, Guards, Identifier, IdKind, rebuild

M, PH, EM, UN, OP, DV, CK, MC = (
    IdKind.member,
    IdKind.phone,
    IdKind.email,
    IdKind.union_id,
    IdKind.open_id,
    IdKind.device,
    IdKind.cookie,
    IdKind.mac,
)
PLACEHOLDERS = ["", "  ", "undefined", "NULL", "None", "nil", "NaN", "0", "-1", "[object Object]"]
JUNK = [*PLACEHOLDERS, "unknown", "00000000", "11111111111", "aaaaaa", "0000-0000"]


def phone(i: int) -> str:
    return f"1390000000{i}"


def partition(persons: Mapping[Identifier, int]) -> frozenset[frozenset[Identifier]]:
    groups: dict[int, set[Identifier]] = {}
    for identifier, person in persons.items():
        groups.setdefault(person, set()).add(identifier)
    return frozenset(frozenset(group) for group in groups.values())


def graph_of(observations: Iterable[Sequence[Identifier]], guards: Guards = Guards()) -> Graph:
    graph = Graph(guards)
    for observation in observations:
        graph.observe(observation)
    return graph


def by_identifier(graph: Graph, ids: Mapping[int, int]) -> dict[Identifier, int]:
    return {graph.nodes[node]: value for node, value in ids.items()}


# --- normalisation and junk ---------------------------------------------------------------


def test_each_kind_has_one_stored_form() -> None:
    assert model.normalize(PH, "+86 139-0000-0001") == "13900000001"
    assert model.normalize(EM, " Wang@Example.COM ") == "wang@example.com"
    for spelling in ("AA:BB:CC:00:11:22", "aa-bb-cc-00-11-22", "aabb.cc00.1122", "aabbcc001122"):
        assert model.normalize(MC, spelling) == "aa:bb:cc:00:11:22"
    assert model.normalize(M, " M0042 ") == "M0042"  # member ids kept as they are
    assert model.normalize(OP, "oAbC_123") == "oAbC_123"
    assert model.normalize(CK, "ab" * 64) == "ab" * 64
    assert model.normalize(CK, "ab" * 64 + "c") is None  # 129 characters
    assert {M, PH, EM, UN} == STRONG


@pytest.mark.parametrize("raw", JUNK)
@pytest.mark.parametrize("kind", list(IdKind))
def test_junk_is_never_an_identifier(kind: IdKind, raw: str) -> None:
    assert model.normalize(kind, raw) is None


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        (PH, "call me"),
        (PH, "12345"),  # too short
        (EM, "no-at-sign"),
        (EM, "a@b"),
        (MC, "aa:bb:cc:dd:ee"),  # 10 hex digits
        (MC, "gg:bb:cc:dd:ee:ff"),
        (MC, "ff:ff:ff:ff:ff:ff"),  # broadcast
        (MC, "00-00-00-00-00-00"),
        (DV, "has space"),
        (UN, "é-not-ascii"),
    ],
)
def test_a_value_of_the_wrong_format_is_not_an_identifier(kind: IdKind, raw: str) -> None:
    assert model.normalize(kind, raw) is None


@pytest.mark.parametrize("raw", JUNK)
def test_a_junk_value_never_links_two_persons(raw: str) -> None:
    # two phones (limit 3) would be bridged by a real shared device
    persons = rebuild([[(PH, phone(1)), (DV, raw)], [(PH, phone(2)), (DV, raw)]])
    assert persons == {(PH, phone(1)): 0, (PH, phone(2)): 1}
    assert rebuild([[(PH, phone(1)), (DV, "d-42")], [(PH, phone(2)), (DV, "d-42")]]) == {
        (PH, phone(1)): 0,
        (DV, "d-42"): 0,
        (PH, phone(2)): 0,
    }


@pytest.mark.parametrize(
    ("kind", "raw"),
    [(PH, "11111111111"), (CK, "[object Object]"), (PH, "call me"), (EM, "@"), (MC, "f" * 12)],
)
def test_junk_or_malformed_values_do_not_bridge_cookies(kind: IdKind, raw: str) -> None:
    persons = rebuild([[(CK, "c-1"), (kind, raw)], [(CK, "c-2"), (kind, raw)]])
    assert persons == {(CK, "c-1"): 0, (CK, "c-2"): 1}


# --- the shared-identifier guard -----------------------------------------------------------


def test_guards_limit_strong_kinds_only() -> None:
    guards = Guards()
    assert [guards.limit(kind) for kind in (M, PH, EM, UN, DV)] == [1, 3, 3, 3, None]
    with pytest.raises(ValueError):
        Guards({DV: 2})
    with pytest.raises(ValueError):
        Guards({PH: -1})


@pytest.mark.parametrize(("phones", "shared"), [(3, False), (4, True)])
def test_a_device_seen_with_more_than_three_phones_is_shared(phones: int, shared: bool) -> None:
    observations = [[(PH, phone(i)), (CK, f"c-{i}")] for i in range(phones)]
    observations += [[(DV, "ipad"), (PH, phone(i))] for i in range(phones)]
    persons = rebuild(observations)
    device = persons[(DV, "ipad")]
    if shared:  # the family iPad stands alone and bridges nothing
        assert device == 2 * phones
        assert len(set(persons.values())) == phones + 1
        assert all(persons[(CK, f"c-{i}")] == persons[(PH, phone(i))] for i in range(phones))
    else:
        assert set(persons.values()) == {0}


def test_shared_nodes_counts_distinct_neighbours_of_each_strong_kind() -> None:
    kinds = [DV, PH, PH, PH, PH, M, M, CK]
    edges = [(0, 1), (1, 0), (0, 2), (0, 3), (7, 5), (7, 6), (7, 7), (0, 5), (0, 7)]
    assert model.shared_nodes(kinds, edges, Guards()) == {7}  # 3 phones are allowed
    assert model.shared_nodes(kinds, [*edges, (4, 0)], Guards()) == {0, 7}
    assert model.shared_nodes(kinds, np.array(edges), Guards({PH: 1})) == {0}
    assert model.shared_nodes(kinds, [], Guards()) == set()


def test_a_cookie_seen_with_two_member_ids_does_not_bridge_them() -> None:
    persons = rebuild([[(M, "m-1"), (CK, "c-1")], [(CK, "c-1"), (M, "m-2"), (DV, "d-2")]])
    assert persons == {(M, "m-1"): 0, (CK, "c-1"): 1, (M, "m-2"): 2, (DV, "d-2"): 2}


# --- member ids never merge ----------------------------------------------------------------


def chain(first: str, second: str) -> list[list[Identifier]]:
    return [
        [(M, first), (DV, "d-1")],
        [(DV, "d-1"), (CK, "c-mid")],
        [(CK, "c-mid"), (DV, "d-2")],
        [(DV, "d-2"), (M, second)],
    ]


def test_a_weak_chain_between_two_members_splits_at_the_nearest_member() -> None:
    persons = rebuild(chain("m-a", "m-b"))
    a, b = persons[(M, "m-a")], persons[(M, "m-b")]
    assert (a, b) == (0, 3)  # m-b's part is led by d-2 (seq 3), older than m-b (seq 4)
    assert persons[(DV, "d-1")] == a and persons[(DV, "d-2")] == b
    assert persons[(CK, "c-mid")] == a  # two steps from each: the older member wins


def test_the_tie_goes_to_the_member_seen_first() -> None:
    later_first = [observation[::-1] for observation in reversed(chain("m-a", "m-b"))]
    persons = rebuild(later_first)
    assert persons[(M, "m-b")] == 0
    assert persons[(CK, "c-mid")] == persons[(M, "m-b")] != persons[(M, "m-a")]


def test_without_a_tie_each_identifier_goes_to_its_nearest_member() -> None:
    walk = [(M, "m-a"), (DV, "d-1"), (CK, "c-1"), (CK, "c-2"), (DV, "d-2"), (M, "m-b")]
    persons = rebuild([list(pair) for pair in pairwise(walk)])
    assert [persons[identifier] for identifier in walk] == [0, 0, 0, 3, 3, 3]


def test_members_in_one_observation_stay_two_persons() -> None:
    persons = rebuild([[(M, "m-a"), (M, "m-b"), (CK, "c-1")]])
    # each member has one member neighbour (allowed); the cookie has two: shared
    assert persons == {(M, "m-a"): 0, (M, "m-b"): 1, (CK, "c-1"): 2}


# --- oldest wins, detach, what changed -----------------------------------------------------


def test_a_merge_keeps_the_oldest_person_id_and_reports_it() -> None:
    graph = graph_of([[(CK, "c-1"), (DV, "d-1")], [(CK, "c-2"), (DV, "d-2")]])
    assert graph.persons() == {0: 0, 1: 0, 2: 2, 3: 2}
    change = graph.observe([(DV, "d-2"), (PH, phone(1)), (DV, "d-1")])
    assert change.merged == [(0, [2])]
    assert change.split == []
    assert change.moved == {2: 0, 3: 0}  # the new phone (node 4) is not a move
    assert graph.persons() == {0: 0, 1: 0, 2: 0, 3: 0, 4: 0}
    assert graph.observe([(CK, "c-3")]) == model.Change()


def test_detach_splits_and_the_detached_identifier_never_bridges_again() -> None:
    graph = graph_of([[(M, "m-1"), (DV, "d-1")], [(DV, "d-1"), (CK, "c-1")]])
    assert graph.person_of(CK, "c-1") == 0
    change = graph.detach(DV, "d-1")
    assert change.split == [(0, [0, 1, 2])]
    assert change.moved == {1: 1, 2: 2}
    assert graph.observe([(DV, "d-1"), (CK, "c-2")]) == model.Change()
    assert [graph.person_of(*identifier) for identifier in graph.nodes.values()] == [0, 1, 2, 3]
    assert graph.detach(DV, "d-1") == model.Change()
    assert graph.person_of(DV, "undefined") is None and graph.person_of(DV, "d-9") is None
    with pytest.raises(ValueError):
        graph.detach(DV, "undefined")


def test_a_member_merge_brings_the_merged_members_identifiers_to_the_survivor() -> None:
    graph = graph_of(
        [
            [(M, "m-a"), (CK, "c-a"), (PH, phone(1))],
            [(M, "m-b"), (CK, "c-b"), (PH, phone(2))],
            [(CK, "c-b"), (DV, "d-b")],
        ]
    )
    assert graph.person_of(M, "m-b") == 3 != graph.person_of(M, "m-a")
    change = graph.merge_members("m-a", "m-b")
    assert change.merged == [(0, [3])] and change.split == []
    assert {graph.person_of(*i) for i in graph.nodes.values()} == {0}
    assert graph.merged == {3: 0}
    graph.observe([(M, "m-b"), (CK, "c-new")])  # the old id seen again: still the survivor's
    assert graph.person_of(CK, "c-new") == 0
    assert graph.merge_members("m-a", "m-b") == model.Change()  # a repeat changes nothing


def test_members_a_merge_cannot_make() -> None:
    graph = graph_of([[(M, "m-a")], [(M, "m-b")], [(M, "m-c")]])
    graph.merge_members("m-a", "m-b")
    with pytest.raises(ValueError, match="itself"):
        graph.merge_members("m-a", "m-a")
    with pytest.raises(ValueError, match="itself"):
        graph.merge_members("m-b", "m-a")  # m-b is m-a now
    with pytest.raises(ValueError, match="m-b was merged"):
        graph.merge_members("m-c", "m-b")  # already the survivor's
    with pytest.raises(ValueError, match="not a member"):
        graph.merge_members("m-a", "undefined")
    graph.merge_members("m-c", "m-a")  # a survivor may itself be merged later: a chain
    assert {graph.person_of(M, v) for v in ("m-a", "m-b", "m-c")} == {0}


def test_merges_that_arrive_out_of_order_end_in_the_same_person() -> None:
    seen = [[(M, "m-a"), (CK, "c-a")], [(M, "m-b"), (CK, "c-b")], [(M, "m-c"), (CK, "c-c")]]
    in_order, reordered = graph_of(seen), graph_of(seen)
    in_order.merge_members("m-b", "m-c")  # the member centre: c into b, then b into a
    in_order.merge_members("m-a", "m-b")
    reordered.merge_members("m-a", "m-b")  # OneID hears of the second merge first
    reordered.merge_members("m-b", "m-c")  # m-b is m-a's now: c goes on to m-a
    for graph in (in_order, reordered):
        assert {graph.person_of(*i) for i in graph.nodes.values()} == {0}


def test_a_device_seen_with_both_ids_of_a_merged_member_counts_one_member() -> None:
    seen = [[(M, "m-a"), (DV, "d-1")], [(M, "m-b"), (DV, "d-1")], [(M, "m-b"), (CK, "c-b")]]
    graph = graph_of(seen)
    assert graph.blocked == {1}  # two member ids: a shared device, for now
    change = graph.merge_members("m-a", "m-b")
    assert graph.blocked == set() and change.merged == [(0, [1, 2])]
    assert {graph.person_of(*i) for i in graph.nodes.values()} == {0}
    graph.observe([(M, "m-a"), (DV, "d-2")])
    graph.observe([(M, "m-b"), (DV, "d-2")])  # the old id on one app, the new on another
    assert graph.blocked == set() and graph.person_of(DV, "d-2") == 0
    graph.observe([(M, "m-c"), (DV, "d-2")])  # a second member for real: shared
    assert graph.blocked == {seq for seq, i in graph.nodes.items() if i == (DV, "d-2")}
    expected = rebuild(graph.observations, merges=[("m-a", "m-b")])
    assert by_identifier(graph, graph.persons()) == expected


def test_a_detached_member_id_merged_joins_the_survivor_and_still_bridges_nothing() -> None:
    graph = graph_of([[(M, "m-a")], [(M, "m-b"), (CK, "c-b")]])
    graph.detach(M, "m-b")
    graph.merge_members("m-a", "m-b")
    assert graph.person_of(M, "m-b") == graph.person_of(M, "m-a") == 0
    assert graph.person_of(CK, "c-b") == 2


def test_a_merged_member_id_goes_with_its_survivor_even_beside_an_older_member() -> None:
    graph = graph_of([[(M, "m-old")], [(M, "m-keep")], [(M, "m-gone")]])
    graph.merge_members("m-keep", "m-gone")
    graph.observe([(M, "m-old"), (M, "m-gone")])  # one step from the older member
    assert graph.person_of(M, "m-gone") == graph.person_of(M, "m-keep") == 1
    assert graph.person_of(M, "m-old") == 0


def test_a_merge_of_members_not_seen_yet_holds_when_they_are() -> None:
    graph = Graph()
    graph.merge_members("m-a", "m-b")
    graph.observe([(M, "m-b"), (PH, phone(3))])
    graph.observe([(M, "m-a"), (CK, "c-a")])
    assert {graph.person_of(*i) for i in graph.nodes.values()} == {0}


def test_an_identifier_detached_before_it_is_seen_bridges_nothing() -> None:
    graph = Graph()
    assert graph.detach(CK, "c-1") == model.Change()
    graph.observe([(PH, phone(1)), (CK, "c-1"), (PH, phone(2))])
    assert graph.persons() == {0: 0, 1: 1, 2: 0}  # the phones are linked directly
    assert graph.blocked == {1}
    observations = [[(PH, phone(1)), (CK, "c-1")], [(CK, "c-1"), (PH, phone(2))]]
    assert set(rebuild(observations, detached=[(CK, "c-1")]).values()) == {0, 1, 2}


# --- resolve against plain references ------------------------------------------------------


def components_by_union_find(size: int, edges: Iterable[tuple[int, int]]) -> list[int]:
    parent = list(range(size))

    def root(node: int) -> int:
        while parent[node] != node:
            node = parent[node]
        return node

    for a, b in edges:
        parent[max(root(a), root(b))] = min(root(a), root(b))
    return [root(node) for node in range(size)]  # the root is the smallest in its set


def shared_by_sets(kinds: Sequence[IdKind], edges: Iterable[tuple[int, int]]) -> set[int]:
    near: dict[tuple[int, IdKind], set[int]] = {}
    for a, b in edges:
        if a != b:
            near.setdefault((a, kinds[b]), set()).add(b)
            near.setdefault((b, kinds[a]), set()).add(a)
    limits = Guards()
    return {
        node
        for (node, kind), others in near.items()
        if (limit := limits.limit(kind)) is not None and len(others) > limit
    }


@st.composite
def random_graphs(
    draw: st.DrawFn, members: bool
) -> tuple[list[int], list[IdKind], list[tuple[int, int]]]:
    """(global ids in input order, kinds by local index, local edges)."""
    kinds = draw(st.lists(st.sampled_from([k for k in IdKind if members or k != M]), max_size=14))
    if not members and kinds and draw(st.booleans()):
        kinds[draw(st.integers(0, len(kinds) - 1))] = M  # at most one member id
    local = st.integers(0, max(len(kinds) - 1, 0))
    edges = draw(st.lists(st.tuples(local, local), max_size=30)) if kinds else []
    spread = draw(st.sampled_from([1, 7, 10**12]))  # dense ids, sparse ids
    ids = draw(st.lists(st.integers(0, spread * 40), min_size=len(kinds), unique=True))
    return draw(st.permutations(ids[: len(kinds)])), kinds, edges


@settings(max_examples=200, deadline=None)
@given(graph=random_graphs(members=False), data=st.data())
def test_resolve_is_plain_connectivity_with_blocked_nodes_alone(
    graph: tuple[list[int], list[IdKind], list[tuple[int, int]]], data: st.DataObject
) -> None:
    ids, kinds, edges = graph
    assert model.shared_nodes(kinds, edges, Guards()) == shared_by_sets(kinds, edges)
    detached = data.draw(st.sets(st.integers(0, max(len(ids) - 1, 0)))) if ids else set()
    blocked = shared_by_sets(kinds, edges) | detached
    roots = components_by_union_find(
        len(ids), [(a, b) for a, b in edges if a not in blocked and b not in blocked]
    )
    smallest: dict[int, int] = {}
    for node, root in enumerate(roots):
        smallest[root] = min(smallest.get(root, ids[node]), ids[node])
    expected = {ids[node]: smallest[roots[node]] for node in range(len(ids))}
    result = model.resolve(
        ids,
        {ids[node]: kind for node, kind in enumerate(kinds)},
        [(ids[a], ids[b]) for a, b in edges],
        {ids[node] for node in blocked},
    )
    assert result.component == expected
    assert result.person == expected


@st.composite
def merged_graphs(
    draw: st.DrawFn,
) -> tuple[list[int], list[int], list[tuple[int, int]], set[int], list[tuple[int, int]]]:
    """(nodes, members, edges, blocked, aliases) as `resolve` hands them on: member ids
    common (so groups often hold two), merges chained without cycles, and some edges,
    aliases and blocked ids naming nodes that are not there."""
    kinds = draw(st.lists(st.sampled_from([M, M, PH, CK, DV]), max_size=12))
    ids = draw(st.lists(st.integers(0, 10**6), min_size=len(kinds) + 1, unique=True))
    nodes, absent = ids[: len(kinds)], ids[len(kinds)]
    anywhere = st.sampled_from([*nodes, absent])
    edges = draw(st.lists(st.tuples(anywhere, anywhere), max_size=20))
    blocked = draw(st.sets(anywhere, max_size=3))
    member_at = [n for n, kind in enumerate(kinds) if kind is M]
    merges: dict[int, int] = {}
    if len(member_at) >= 2:  # a merged member points to one drawn after it: no cycles
        picks = st.sampled_from(member_at)
        merges = {a: b for a, b in draw(st.dictionaries(picks, picks, max_size=3)).items() if a < b}
    aliases = [(nodes[a], nodes[b]) for a, b in merges.items()]
    aliases += draw(
        st.lists(st.tuples(st.just(absent), st.sampled_from(nodes)), max_size=1)
        if nodes
        else st.just([])
    )
    members = [nodes[n] for n in member_at if n not in merges]
    return nodes, members, edges, blocked, aliases


@settings(max_examples=400, deadline=None)
@given(graph=merged_graphs())
def test_the_small_path_agrees_with_the_arrays_wherever_it_answers(
    graph: tuple[list[int], list[int], list[tuple[int, int]], set[int], list[tuple[int, int]]],
) -> None:
    nodes, members, edges, blocked, aliases = graph
    small = model._resolve_small(nodes, members, edges, blocked, aliases)
    component, person = model.resolve_arrays(nodes, members, edges, sorted(blocked), aliases)
    crowded = len(set(person.tolist())) > len(set(component.tolist()))
    if small is None:  # left to the arrays: a group holds two members or more
        groups: dict[int, set[int]] = {}
        for node, c in zip(nodes, component.tolist(), strict=True):
            groups.setdefault(c, set()).add(node)
        assert any(len(g & set(members)) >= 2 for g in groups.values())
    else:
        assert not crowded
        assert small.component == dict(zip(nodes, component.tolist(), strict=True))
        assert small.person == dict(zip(nodes, person.tolist(), strict=True))


def test_the_small_path_leaves_two_members_in_one_group_to_the_arrays() -> None:
    edges = [(1, 2), (2, 3)]  # member 1 - phone 2 - member 3
    assert model._resolve_small([1, 2, 3], [1, 3], edges, set(), []) is None
    merged = model._resolve_small([1, 2, 3], [3], edges, {2}, [(1, 3)])  # 1 merged into 3
    assert merged is not None
    assert merged.person == {1: 1, 2: 2, 3: 1}  # the blocked phone alone, the alias joined


def nearest_member_parts(
    size: int, kinds: Sequence[IdKind], edges: Sequence[tuple[int, int]], ids: Sequence[int]
) -> list[int]:
    """Reference: a plain BFS from each member; a node goes to the member at the smallest
    (distance, id); components with fewer than two members stay whole."""
    near: list[set[int]] = [set() for _ in range(size)]
    for a, b in edges:
        near[a].add(b)
        near[b].add(a)
    roots = components_by_union_find(size, edges)
    members = [node for node in range(size) if kinds[node] is M]
    distance: dict[int, list[float]] = {}
    for member in members:
        far = [float("inf")] * size
        far[member], queue = 0, deque([member])
        while queue:
            node = queue.popleft()
            for other in near[node]:
                if far[other] == float("inf"):
                    far[other] = far[node] + 1
                    queue.append(other)
        distance[member] = far
    part = list(roots)
    for node in range(size):
        rivals = [member for member in members if roots[member] == roots[node]]
        if len(rivals) >= 2:
            part[node] = min(rivals, key=lambda member: (distance[member][node], ids[member]))
    return part


@settings(max_examples=200, deadline=None)
@given(graph=random_graphs(members=True))
def test_a_component_with_several_members_splits_by_nearest_member(
    graph: tuple[list[int], list[IdKind], list[tuple[int, int]]],
) -> None:
    ids, kinds, edges = graph
    part = nearest_member_parts(len(ids), kinds, edges, ids)
    roots = components_by_union_find(len(ids), edges)
    oldest: dict[tuple[str, int], int] = {}
    for node in range(len(ids)):
        for key in (("part", part[node]), ("component", roots[node])):
            oldest[key] = min(oldest.get(key, ids[node]), ids[node])
    component, person = model.resolve_arrays(
        ids,
        [ids[n] for n, kind in enumerate(kinds) if kind is M],
        np.array(ids, dtype=np.int64)[np.array(edges, dtype=np.int64).reshape(-1, 2)],
        [],
    )
    assert component.tolist() == [oldest[("component", root)] for root in roots]
    assert person.tolist() == [oldest[("part", owner)] for owner in part]
    for owner in set(part):  # each part is connected: it is a person, not a fragment
        inside = {node for node in range(len(ids)) if part[node] == owner}
        kept = [(a, b) for a, b in edges if a in inside and b in inside]
        assert len({components_by_union_find(len(ids), kept)[node] for node in inside}) == 1


def test_resolve_arrays_ignores_edges_and_ids_outside_the_nodes() -> None:
    component, person = model.resolve_arrays([30, 10, 20], [10, 99], [(10, 30), (30, 77)], [5])
    assert component.tolist() == [10, 10, 20] and person.tolist() == [10, 10, 20]
    with pytest.raises(ValueError):
        model.resolve_arrays([1, 1], [], [], [])
    with pytest.raises(ValueError):
        model.resolve_arrays([10**12, 1, 1], [], [], [])


# --- the incremental graph agrees with a rebuild ------------------------------------------

VALUES: dict[IdKind, list[str]] = {
    M: ["m-1", "m-2", "m-3"],
    PH: [phone(i) for i in range(1, 6)] + ["+86 139-0000-0001"],
    EM: ["a@x.cn", "B@X.CN"],
    UN: ["u-1", "u-2"],
    OP: ["o-1"],
    DV: ["d-1", "d-2"],
    CK: ["c-1", "c-2"],
    MC: ["aa:bb:cc:00:00:01", "AA-BB-CC-00-00-01"],
}
VALID = [(kind, value) for kind, values in VALUES.items() for value in values]
WEAK = [(kind, value) for kind, value in VALID if kind not in STRONG]
JUNKY = [(kind, raw) for kind in (PH, DV, CK) for raw in ("undefined", "0", "", "1111")]
MEMBERS = [(M, value) for value in VALUES[M]]
identifiers = st.one_of(*(st.sampled_from(pool) for pool in (VALID, WEAK, WEAK, MEMBERS, JUNKY)))
observations = st.integers(1, 4).flatmap(
    lambda size: st.lists(identifiers, min_size=size, max_size=size)
)
guards = st.builds(
    lambda m, p, e, u: Guards({M: m, PH: p, EM: e, UN: u}),
    *(st.integers(0, 3) for _ in range(4)),
)
Operation = tuple[str, list[Identifier]]
observe = st.tuples(st.just("observe"), observations)
detach = st.tuples(st.just("detach"), st.lists(st.sampled_from(VALID), min_size=1, max_size=1))
merge = st.tuples(st.just("merge"), st.lists(st.sampled_from(MEMBERS), min_size=2, max_size=2))
operations = st.lists(st.one_of(observe, observe, observe, detach, merge), min_size=4, max_size=30)


def apply(graph: Graph, operation: str, identifiers: list[Identifier]) -> model.Change | None:
    """One step; None for a merge the graph refuses, or one of members not seen yet (a
    rebuild numbers those after every observation, the graph when merged)."""
    if operation == "observe":
        return graph.observe(identifiers)
    if operation == "detach":
        return graph.detach(*identifiers[0])
    (_, survivor), (_, merged) = identifiers
    if graph.person_of(M, survivor) is None or graph.person_of(M, merged) is None:
        return None
    try:
        return graph.merge_members(survivor, merged)
    except ValueError:
        return None


@settings(max_examples=200, deadline=None)
@given(steps=operations, limits=st.one_of(st.just(Guards()), guards))
def test_the_incremental_graph_gives_the_same_persons_as_a_rebuild(
    steps: list[Operation], limits: Guards
) -> None:
    graph, seen, detached, merges = Graph(limits), [], [], []
    for operation, identifiers in steps:
        merged_before = graph.merged
        apply(graph, operation, identifiers)
        if operation == "observe":
            seen.append(identifiers)
        elif operation == "detach":
            detached.append(identifiers[0])
        elif graph.merged != merged_before:  # not a repeat, not refused
            merges.append((identifiers[0][1], identifiers[1][1]))
    expected = rebuild(seen, limits, detached, merges)
    assert by_identifier(graph, graph.persons()) == expected
    assert all(graph.person_of(*identifier) == expected[identifier] for identifier in expected)


@settings(max_examples=200, deadline=None)
@given(steps=operations, limits=guards)
def test_changes_replayed_give_the_persons(steps: list[Operation], limits: Guards) -> None:
    graph, persons = Graph(limits), {}
    for operation, identifiers in steps:
        known = len(graph.nodes)
        change = apply(graph, operation, identifiers) or model.Change()
        persons.update(change.moved)
        current = graph.persons()
        persons.update({node: current[node] for node in range(known, len(graph.nodes))})
        for survivor, absorbed in change.merged:  # a person's id is its oldest node
            assert absorbed and survivor not in absorbed and current[survivor] == survivor
        for _, parts in change.split:
            assert len(parts) >= 2 and all(current[part] == part for part in parts)
        assert persons == current


@settings(max_examples=200, deadline=None)
@given(seen=st.lists(observations, max_size=20), data=st.data(), limits=guards)
def test_the_partition_does_not_depend_on_the_order_of_events(
    seen: list[list[Identifier]], data: st.DataObject, limits: Guards
) -> None:
    shuffled = data.draw(st.permutations(seen))
    graphs = graph_of(seen, limits), graph_of(shuffled, limits)
    components = [partition(by_identifier(g, g.components())) for g in graphs]
    assert components[0] == components[1]
    # ties go to the older member: with the members' ages pinned the persons are equal too
    ages = [[(M, value)] for value in VALUES[M]]
    assert partition(rebuild(ages + seen, limits)) == partition(rebuild(ages + shuffled, limits))
    for graph in graphs:
        persons = by_identifier(graph, graph.persons())
        for person in partition(persons):
            assert sum(kind is M for kind, _ in person) <= 1
