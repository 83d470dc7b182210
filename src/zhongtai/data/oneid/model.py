"""Pure identity-resolution rules of OneID (标识中心 / ID-Mapping), without I/O.

Identifiers (member id, phone, e-mail, WeChat ids, device, cookie, MAC) seen together in one
event are linked; a person (自然人) is what stays connected once the guards against
over-merging (防误合并) have been applied:

1. junk values ('undefined', '0', '00000000', ...) never become identifiers;
2. a shared identifier (共享标识: a family iPad, a store's demo phone), linked to more
   distinct identifiers of one strong kind than the guards allow, bridges nothing;
3. two member ids never end in one person: a component holding several is split, each
   identifier going to its nearest member (ties: the older member);
4. an operator may detach (拆分) an identifier: it bridges nothing from then on;
5. a member merge (账号融合) in the member centre makes the merged member id one of the
   survivor's identifiers: linked to it whatever the guards say of either, no longer a
   member of its own in rule 3 (it stands where its survivor does), and counted by the
   shared guard as the member its merges end in.

Nodes are numbered in first-seen order and every id here is such a sequence number: a
component's or person's id is its oldest identifier's number ("oldest wins"). All the rules
depend only on the set of links and of blocked identifiers, never on the order events came
in, except that ties go to the older member.

Edge convention: an observation of n identifiers links every pair (a clique), so the
distinct-neighbour counts behind the shared guard do not depend on the order within it.
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from itertools import combinations
from types import MappingProxyType
from typing import Any

import numpy as np
import numpy.typing as npt
from scipy.sparse import csr_array
from scipy.sparse.csgraph import connected_components

from zhongtai.members.model import IdentityKind, normalise


class IdKind(StrEnum):
    """What an identifier is (标识类型)."""

    member = "member"  # platform member id (会员号)
    phone = "phone"
    email = "email"
    union_id = "union_id"  # WeChat union id: one person across the brand's apps
    open_id = "open_id"  # WeChat open id: one person in one app
    device = "device"
    cookie = "cookie"  # also the web anonymous id
    mac = "mac"


STRONG: frozenset[IdKind] = frozenset({IdKind.member, IdKind.phone, IdKind.email, IdKind.union_id})

Identifier = tuple[IdKind, str]
IntArray = npt.NDArray[np.int64]

# --- normalisation (标识清洗) -------------------------------------------------------------

_JUNK = frozenset(
    {"", "undefined", "null", "none", "nil", "nan", "0", "-1", "[object object]", "unknown"}
)
_SEPARATORS = re.compile(r"[-:. ]")
_MAC_SEPARATORS = re.compile(r"[-:.]")
_MAC = re.compile(r"^[0-9a-f]{12}$")
# phone and e-mail share the member centre's stored forms; the rest are opaque tokens
# (1..128 visible ASCII), the member centre's WeChat-id rule, kept as they are
_RULES = {IdKind.phone: IdentityKind.phone, IdKind.email: IdentityKind.email}
_TOKEN = IdentityKind.wechat_union


def normalize(kind: IdKind, raw: str) -> str | None:
    """The one stored form of an identifier, or None when the value is junk (a client's
    placeholder, all one character) or not of its kind's format."""
    if _is_junk(raw):
        return None
    try:
        value = _mac(raw) if kind is IdKind.mac else normalise(_RULES.get(kind, _TOKEN), raw)
    except ValueError:
        return None
    return None if value != raw and _is_junk(value) else value  # raw is known not junk


def _is_junk(text: str) -> bool:
    """Placeholders SDKs send when they have nothing, and values of one repeated character
    ('00000000', '0000-0000'): thousands of people would share them."""
    text = text.strip()
    return text.lower() in _JUNK or len(set(_SEPARATORS.sub("", text))) <= 1


def _mac(raw: str) -> str:
    digits = _MAC_SEPARATORS.sub("", raw.strip()).lower()
    if not _MAC.match(digits):  # all-zero and broadcast (ff:..:ff) are junk: one character
        raise ValueError("not a MAC address")
    return ":".join(digits[i : i + 2] for i in range(0, 12, 2))


# --- shared identifiers (共享标识) --------------------------------------------------------

_DEFAULT_LIMITS: Mapping[IdKind, int] = MappingProxyType(
    {IdKind.member: 1, IdKind.phone: 3, IdKind.email: 3, IdKind.union_id: 3}
)
_KINDS = list(IdKind)
_CODE = {kind: code for code, kind in enumerate(_KINDS)}


@dataclass(frozen=True)
class Guards:
    """How many distinct identifiers of each strong kind one identifier may be linked to
    before it counts as shared; kinds not listed are unlimited."""

    limits: Mapping[IdKind, int] = field(default_factory=lambda: _DEFAULT_LIMITS)

    def __post_init__(self) -> None:
        for kind, limit in self.limits.items():
            if kind not in STRONG or limit < 0:
                raise ValueError(f"a limit is a count >= 0 on a strong kind, not {kind}={limit}")

    def limit(self, kind: IdKind) -> int | None:
        return self.limits.get(kind)


def shared_nodes(
    kinds: Sequence[IdKind],
    edges: npt.ArrayLike,
    guards: Guards,
    merged: Mapping[int, int] | None = None,
) -> set[int]:
    """The nodes linked to more distinct nodes of some strong kind than `guards` allow,
    from the full edge set; `kinds[node]` is the node's kind, and a `merged` member node
    (-> its survivor's) counts as the member its merges end in."""
    pairs = _pairs(edges)
    pairs = pairs[pairs[:, 0] != pairs[:, 1]]
    src = np.concatenate([pairs[:, 0], pairs[:, 1]])
    dst = np.concatenate([pairs[:, 1], pairs[:, 0]])
    code = np.fromiter((_CODE[kind] for kind in kinds), dtype=np.int64, count=len(kinds))
    limits = np.array([_limit_code(guards, kind) for kind in _KINDS], dtype=np.int64)
    counted = limits[code[dst]] >= 0
    size = max(len(kinds), 1)
    same = np.arange(size, dtype=np.int64)
    for node, last in lasts(merged or {}).items():
        same[node] = last
    links = _distinct(src[counted] * size + same[dst[counted]])  # distinct neighbours
    owner, neighbour_code = links // size, code[links % size]
    keys, counts = np.unique(owner * len(_KINDS) + neighbour_code, return_counts=True)
    over = counts > limits[keys % len(_KINDS)]
    return set((keys[over] // len(_KINDS)).tolist())


def _distinct(values: IntArray) -> IntArray:
    """Sorted distinct values. Sort-and-compare: numpy 2's hash-based `unique` was about 20x
    slower on millions of int64 here (the benchmark's profile)."""
    ordered = np.sort(values)
    if ordered.size == 0:
        return ordered
    return ordered[np.concatenate(([True], ordered[1:] != ordered[:-1]))]


def _limit_code(guards: Guards, kind: IdKind) -> int:
    limit = guards.limit(kind)
    return -1 if limit is None else limit  # -1: not counted


def _pairs(edges: npt.ArrayLike) -> IntArray:
    return np.asarray(edges, dtype=np.int64).reshape(-1, 2)


# --- resolution (身份归并) ----------------------------------------------------------------


@dataclass(frozen=True)
class Resolution:
    """For each node given: its component (连通分量) id and its person (自然人) id."""

    component: dict[int, int]
    person: dict[int, int]


def resolve(
    nodes: Sequence[int],
    kinds: Mapping[int, IdKind] | Sequence[IdKind],
    edges: Sequence[tuple[int, int]],
    blocked: set[int],
    merged: Mapping[int, int] | None = None,
) -> Resolution:
    """Partition `nodes` (global sequence numbers; `kinds[node]` is a node's kind) into
    components and persons over the `edges` among them, `blocked` (shared or detached)
    nodes standing alone, each `merged` member node (-> its survivor's) linked to its
    survivor and a member no more."""
    merged = merged or {}
    members = [node for node in nodes if kinds[node] is IdKind.member and node not in merged]
    aliases = list(merged.items())
    small = _resolve_small(nodes, members, edges, blocked, aliases) if len(nodes) <= SMALL else None
    if small is not None:
        return small
    component, person = resolve_arrays(nodes, members, edges, sorted(blocked), aliases)
    order = list(nodes)
    return Resolution(
        dict(zip(order, component.tolist(), strict=True)),
        dict(zip(order, person.tolist(), strict=True)),
    )


SMALL = 64  # nodes up to which plain Python beats building a sparse matrix


def _resolve_small(
    nodes: Sequence[int],
    members: Sequence[int],
    edges: Sequence[tuple[int, int]],
    blocked: set[int],
    aliases: Sequence[tuple[int, int]],
) -> Resolution | None:
    """`resolve` for the few nodes an event usually touches, by union-find: the oldest
    node of each group is its component and its person. None where a group holds two
    members or more: the nearest-member split is `resolve_arrays`'s alone."""
    parent = {node: node for node in nodes}

    def root(node: int) -> int:
        while parent[node] != node:
            parent[node] = node = parent[parent[node]]
        return node

    def join(a: int, b: int) -> None:
        if a in parent and b in parent:
            ra, rb = root(a), root(b)
            parent[max(ra, rb)] = min(ra, rb)  # roots stay the oldest of their group

    for a, b in edges:
        if a not in blocked and b not in blocked:
            join(a, b)
    for a, b in aliases:
        join(a, b)
    roots = {node: root(node) for node in nodes}
    groups_with_member = [roots[m] for m in members]
    if len(groups_with_member) != len(set(groups_with_member)):
        return None
    return Resolution(roots, dict(roots))


def resolve_arrays(
    nodes: npt.ArrayLike,
    members: npt.ArrayLike,
    edges: npt.ArrayLike,
    blocked: npt.ArrayLike,
    aliases: npt.ArrayLike = (),
) -> tuple[IntArray, IntArray]:
    """`resolve` on arrays, for millions of nodes: `nodes` are distinct global sequence
    numbers, `members` and `blocked` global numbers (those not among `nodes` are ignored),
    `edges` an (m, 2) array of global numbers (edges leaving `nodes` are ignored; loops and
    duplicates are harmless), `aliases` pairs linked even when blocked (merged members and
    their survivors). Returns the component and person ids aligned with `nodes`."""
    seq = np.asarray(nodes, dtype=np.int64).ravel()
    size = seq.size
    graph = _adjacency(seq, _pairs(edges), _mask(seq, blocked), _pairs(aliases))
    count, labels = connected_components(graph, directed=False)
    component = _group_min(labels, seq, count)
    person = component.copy()
    is_member = _mask(seq, members)
    crowded = np.bincount(labels[is_member], minlength=count)[labels] >= 2  # 2+ member ids
    if crowded.any():
        sources = np.flatnonzero(is_member & crowded)
        seeds = _merged_seeds(seq, _pairs(aliases))
        owner = _nearest_member(graph.indptr, graph.indices, sources, seq[sources], size, seeds)
        inside = np.flatnonzero(crowded)
        person[inside] = _group_min(owner[inside], seq[inside], sources.size)
    return component, person


def _local(seq: IntArray, ids: IntArray) -> IntArray:
    """Position in `seq` of each global id, -1 for ids not among them."""
    out = np.full(ids.shape, -1, dtype=np.int64)
    if seq.size == 0:
        return out
    top = int(seq.max())
    if int(seq.min()) >= 0 and top < 4 * seq.size + 1024:  # dense numbering: a lookup table
        table = np.full(top + 1, -1, dtype=np.int64)
        table[seq] = np.arange(seq.size)
        if not np.array_equal(table[seq], np.arange(seq.size)):
            raise ValueError("nodes must be distinct")
        inside = (ids >= 0) & (ids <= top)
        out[inside] = table[ids[inside]]
        return out
    order = np.argsort(seq, kind="stable")
    ranked = seq[order]
    if np.any(ranked[1:] == ranked[:-1]):
        raise ValueError("nodes must be distinct")
    at = np.minimum(np.searchsorted(ranked, ids), seq.size - 1)
    return np.where(ranked[at] == ids, order[at], out)


def _mask(seq: IntArray, ids: npt.ArrayLike) -> npt.NDArray[np.bool_]:
    local = _local(seq, np.asarray(ids, dtype=np.int64).ravel())
    mask = np.zeros(seq.size, dtype=bool)
    mask[local[local >= 0]] = True
    return mask


def _adjacency(
    seq: IntArray, pairs: IntArray, blocked: npt.NDArray[np.bool_], always: IntArray
) -> Any:
    """The symmetric adjacency (CSR) over the edges whose ends are both among the nodes
    and neither is blocked (a blocked node bridges nothing and stands alone), and over the
    `always` pairs among the nodes whatever is blocked."""
    local = _local(seq, pairs)
    local = local[(local >= 0).all(axis=1)]
    local = local[~(blocked[local[:, 0]] | blocked[local[:, 1]])]
    kept = _local(seq, always)
    local = np.concatenate([local, kept[(kept >= 0).all(axis=1)]])
    rows = np.concatenate([local[:, 0], local[:, 1]])
    cols = np.concatenate([local[:, 1], local[:, 0]])
    ones = np.ones(rows.size, dtype=np.float64)  # summed duplicates stay non-zero
    return csr_array((ones, (rows, cols)), shape=(seq.size, seq.size))


def _group_min(groups: IntArray, values: IntArray, count: int) -> IntArray:
    """For each element, the smallest value in its group: "oldest wins"."""
    smallest = np.full(count, np.iinfo(np.int64).max, dtype=np.int64)
    np.minimum.at(smallest, groups, values)
    return smallest[groups]


def lasts(merged: Mapping[int, int]) -> dict[int, int]:
    """Each merged member -> the member its merges end in (a survivor merged in turn
    passes it on)."""
    out = {}
    for node in merged:
        last, seen = merged[node], {node}
        while last in merged and last not in seen:
            seen.add(last)
            last = merged[last]
        out[node] = last
    return out


def _merged_seeds(seq: IntArray, aliases: IntArray) -> IntArray:
    """(merged member, its last survivor) as positions in `seq`, for the aliases among
    the nodes."""
    local = _local(seq, aliases)
    ends = lasts(dict(local[(local >= 0).all(axis=1)].tolist()))
    return np.array(list(ends.items()), dtype=np.int64).reshape(-1, 2)


def _nearest_member(
    indptr: IntArray,
    indices: IntArray,
    sources: IntArray,
    source_seq: IntArray,
    size: int,
    seeds: IntArray,
) -> IntArray:
    """Multi-source BFS, one level at a time on arrays: each node reached gets the index
    (into `sources`) of its nearest member node, ties going to the smallest sequence number.
    A node at distance d takes the smallest owner among its neighbours at distance d-1: the
    members at distance d from it are those at distance d-1 from these neighbours. A merged
    member (`seeds`: it, its survivor) starts where its survivor does, at distance 0."""
    # Parts stay connected: a node's owner is the owner of a neighbour one step closer to
    # it, so following such neighbours leads to the owner without leaving the part.
    unreached = np.iinfo(np.int64).max
    by_rank = np.argsort(source_seq, kind="stable")  # rank (age) -> index into sources
    rank = np.empty(sources.size, dtype=np.int64)
    rank[by_rank] = np.arange(sources.size)
    owner = np.full(size, unreached, dtype=np.int64)
    owner[sources] = rank
    owner[seeds[:, 0]] = owner[seeds[:, 1]]
    slot = np.empty(size, dtype=np.int64)  # scratch: de-duplicates a level without sorting
    frontier = np.concatenate([sources, seeds[owner[seeds[:, 0]] != unreached, 0]])
    while frontier.size:
        starts = indptr[frontier]
        counts = indptr[frontier + 1] - starts
        total = int(counts.sum())
        shift = np.repeat(starts - (np.cumsum(counts) - counts), counts)
        neighbours = indices[np.arange(total) + shift]
        claims = np.repeat(owner[frontier], counts)
        fresh = owner[neighbours] == unreached
        neighbours, claims = neighbours[fresh], claims[fresh]
        np.minimum.at(owner, neighbours, claims)
        places = np.arange(neighbours.size)
        slot[neighbours] = places  # one of a repeated node's places stays: that one is kept
        frontier = neighbours[slot[neighbours] == places]
    reached = owner != unreached
    out = np.full(size, -1, dtype=np.int64)
    out[reached] = by_rank[owner[reached]]
    return out


# --- incremental state (增量归并) ---------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What one operation did to persons: merges (合并: surviving person, absorbed
    persons), splits (拆分: old person, new persons), and every already known node whose
    person changed (new nodes are not listed)."""

    merged: list[tuple[int, list[int]]] = field(default_factory=list)
    split: list[tuple[int, list[int]]] = field(default_factory=list)
    moved: dict[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class NodeState:
    """One identifier as stored: its number, component, person and guard flags."""

    seq: int
    identifier: Identifier
    component: int
    person: int
    shared: bool = False
    detached: bool = False


class Graph:
    """The identity graph kept up to date one observation at a time, giving the same
    persons as `rebuild` of the same observations. It may hold all of a graph (the pure
    reference) or a restored part of a stored one (what the database-backed service does)."""

    def __init__(self, guards: Guards = Guards(), next_seq: int = 0) -> None:
        self.guards = guards
        self._next = next_seq
        self._index: dict[Identifier, int] = {}
        self._nodes: dict[int, Identifier] = {}
        self._neighbours: dict[int, set[int]] = {}
        self._strong: dict[int, dict[IdKind, int]] = {}  # distinct neighbours per strong kind
        self._shared: set[int] = set()
        self._detached: set[int] = set()
        self._detached_ids: set[Identifier] = set()
        self._component: dict[int, int] = {}
        self._person: dict[int, int] = {}
        self._members: dict[int, set[int]] = {}  # component -> its nodes
        self._merged: dict[int, int] = {}  # merged member node -> its survivor's
        self._observations: list[tuple[Identifier, ...]] = []

    @classmethod
    def restore(
        cls,
        states: Iterable[NodeState],
        edges: Iterable[tuple[int, int]],
        next_seq: int,
        guards: Guards = Guards(),
        merged: Mapping[int, int] | None = None,
    ) -> Graph:
        """A part of a stored graph: whole components, every link touching them, and the
        far ends of those links as stored, with the member merges inside the components.
        Far ends are never observed here (they belong to other components), so their
        partial neighbour counts never decide anything."""
        graph = cls(guards, next_seq)
        graph._merged.update(merged or {})
        for state in states:
            graph._add(state.seq, state.identifier, state.component, state.person)
            if state.shared:
                graph._shared.add(state.seq)
            if state.detached:
                graph._detached.add(state.seq)
                graph._detached_ids.add(state.identifier)
        for a, b in edges:
            graph._link(a, b)
        return graph

    @property
    def nodes(self) -> dict[int, Identifier]:
        """Identifiers by sequence number."""
        return dict(self._nodes)

    @property
    def edges(self) -> list[tuple[int, int]]:
        pairs = ((a, b) for a, near in self._neighbours.items() for b in near if a < b)
        return sorted(pairs)

    @property
    def observations(self) -> list[tuple[Identifier, ...]]:
        """Each observation's valid identifiers, normalised, in the order seen."""
        return list(self._observations)

    @property
    def merged(self) -> dict[int, int]:
        """Merged member nodes -> their survivors' (账号融合)."""
        return dict(self._merged)

    @property
    def blocked(self) -> set[int]:
        """Shared or detached nodes: each its own person."""
        return self._shared | self._detached

    @property
    def next_seq(self) -> int:
        return self._next

    def state(self, seq: int) -> NodeState:
        return NodeState(
            seq,
            self._nodes[seq],
            self._component[seq],
            self._person[seq],
            seq in self._shared,
            seq in self._detached,
        )

    def observe(self, identifiers: Sequence[tuple[IdKind, str]]) -> Change:
        """Link the identifiers one event carried together."""
        seen = _clean(identifiers)
        self._observations.append(seen)
        known = self._next
        nodes = [self._register(identifier) for identifier in seen]
        for a, b in combinations(nodes, 2):
            self._link(a, b)
        # Exact: the new edges only join the components touched, and a node turning shared
        # (one of these) only removes bridges inside its own old component; every other
        # component keeps its nodes, edges and blocked set, hence its partition.
        return self._recompute({self._component[node] for node in nodes}, known)

    def detach(self, kind: IdKind, value: str) -> Change:
        """拆分: the identifier bridges nothing from now on, also if seen again."""
        identifier = _valid(kind, value)
        self._detached_ids.add(identifier)
        node = self._index.get(identifier)
        if node is None or node in self._detached:
            return Change()
        self._detached.add(node)
        return self._recompute({self._component[node]}, self._next)  # cuts inside it

    def merge_members(self, survivor: str, merged: str) -> Change:
        """账号融合: the member centre folded member `merged` into `survivor`. Repeating a
        merge changes nothing; a survivor merged since (the events can come out of order)
        passes it on to its own survivor; a member merged into another survivor, or one
        merged into `merged` itself, is refused."""
        keep, gone = _valid(IdKind.member, survivor), _valid(IdKind.member, merged)
        a, b = self._last(self._index.get(keep)), self._index.get(gone)
        if keep == gone or (b is not None and a == b):
            raise ValueError(f"member {merged} cannot be merged into itself")
        if b is not None and b in self._merged:
            if self._last(b) != a:
                raise ValueError(f"member {merged} was merged into another")
            return Change()
        known = self._next  # a refused merge registers nothing
        a = self._register(keep) if a is None else a
        b = self._register(gone)
        chain = self.merged_into(b)  # b and the members merged into it before
        self._merged[b] = a
        # Who saw a member of the chain may now count one member less, and bridge again.
        freed = {n for m in chain for n in self._neighbours[m] if self._recount(n)}
        around = {b, *freed, *(m for n in freed for m in self._neighbours[n])}
        return self._recompute({self._component[a], *(self._component[m] for m in around)}, known)

    def node_of(self, kind: IdKind, value: str) -> int | None:
        """The node of an identifier (in its stored form), if seen."""
        return self._index.get((kind, value))

    def neighbours(self, node: int) -> set[int]:
        return set(self._neighbours[node])

    def merged_into(self, node: int) -> set[int]:
        """The member node and every member node whose merges pass through it."""
        return {m for m in self._nodes if m == node or self._passes(m, node)}

    def _passes(self, node: int, through: int) -> bool:
        seen = set()
        while node in self._merged and node not in seen:
            seen.add(node)
            node = self._merged[node]
            if node == through:
                return True
        return False

    def _last(self, node: int | None) -> int | None:
        """The member a node's merges end in (itself if never merged)."""
        while node in self._merged:
            node = self._merged[node]
        return node

    def person_of(self, kind: IdKind, value: str) -> int | None:
        text = normalize(kind, value)
        node = None if text is None else self._index.get((kind, text))
        return None if node is None else self._person[node]

    def persons(self) -> dict[int, int]:
        """Node -> person."""
        return dict(self._person)

    def components(self) -> dict[int, int]:
        """Node -> component."""
        return dict(self._component)

    def _add(self, node: int, identifier: Identifier, component: int, person: int) -> None:
        self._index[identifier] = node
        self._nodes[node] = identifier
        self._neighbours[node] = set()
        self._strong[node] = {}
        self._component[node] = component
        self._person[node] = person
        self._members.setdefault(component, set()).add(node)

    def _register(self, identifier: Identifier) -> int:
        node = self._index.get(identifier)
        if node is not None:
            return node
        node = self._next
        self._next += 1
        self._add(node, identifier, node, node)
        if identifier in self._detached_ids:
            self._detached.add(node)
        return node

    def _link(self, a: int, b: int) -> None:
        if b in self._neighbours[a]:
            return
        self._neighbours[a].add(b)
        self._neighbours[b].add(a)
        self._count(a, b)
        self._count(b, a)

    def _count(self, node: int, other: int) -> None:
        """`other` is a new neighbour of `node`: one more of its kind, unless it is a
        member id whose merges end in a member `node` already counted."""
        kind = self._nodes[other][0]
        limit = self.guards.limit(kind)  # only strong kinds have one
        if limit is None:
            return
        if kind is IdKind.member:
            last = self._last(other)
            if any(self._last(m) == last for m in self._member_neighbours(node) if m != other):
                return
        self._strong[node][kind] = self._strong[node].get(kind, 0) + 1
        if self._strong[node][kind] > limit:
            self._shared.add(node)

    def _member_neighbours(self, node: int) -> Iterator[int]:
        return (m for m in self._neighbours[node] if self._nodes[m][0] is IdKind.member)

    def _recount(self, node: int) -> bool:
        """Count `node`'s distinct members again after a merge; True if that freed it (it
        is shared no more)."""
        ends = {self._last(m) for m in self._member_neighbours(node)}
        self._strong[node][IdKind.member] = len(ends)
        over = any(
            count > limit
            for kind, count in self._strong[node].items()
            if (limit := self.guards.limit(kind)) is not None
        )
        if node in self._shared and not over:
            self._shared.discard(node)
            return True
        return False

    def _recompute(self, components: set[int], known: int) -> Change:
        """Resolve the nodes of `components` again; nodes numbered from `known` on are new
        (they had no person before, so their arrival is neither a merge nor a move)."""
        nodes = sorted(node for component in components for node in self._members.pop(component))
        inside = set(nodes)
        edges = [(a, b) for a in nodes for b in self._neighbours[a] if a < b and b in inside]
        kinds = {node: self._nodes[node][0] for node in nodes}
        merged = {node: self._merged[node] for node in nodes if node in self._merged}
        result = resolve(nodes, kinds, edges, self.blocked & inside, merged)
        before = {node: self._person[node] for node in nodes if node < known}
        for node in nodes:
            self._component[node] = result.component[node]
            self._person[node] = result.person[node]
            self._members.setdefault(result.component[node], set()).add(node)
        return _change(before, result.person)


def _valid(kind: IdKind, value: str) -> Identifier:
    text = normalize(kind, value)
    if text is None:
        raise ValueError(f"not a {kind} identifier: {value!r}")
    return kind, text


def _clean(identifiers: Sequence[tuple[IdKind, str]]) -> tuple[Identifier, ...]:
    """The valid identifiers, normalised, each once, in the order given."""
    out: dict[Identifier, None] = {}
    for kind, raw in identifiers:
        value = normalize(kind, raw)
        if value is not None:
            out.setdefault((kind, value), None)
    return tuple(out)


def _change(before: Mapping[int, int], after: Mapping[int, int]) -> Change:
    """Merges, splits and moves of the nodes in `before` (node -> old person)."""
    olds: dict[int, set[int]] = defaultdict(set)
    news: dict[int, set[int]] = defaultdict(set)
    for node, old in before.items():
        olds[after[node]].add(old)
        news[old].add(after[node])
    return Change(
        merged=[(p, sorted(o - {p})) for p, o in sorted(olds.items()) if len(o) > 1],
        split=[(p, sorted(n)) for p, n in sorted(news.items()) if len(n) > 1],
        moved={node: after[node] for node, old in sorted(before.items()) if after[node] != old},
    )


def rebuild(
    observations: Iterable[Sequence[tuple[IdKind, str]]],
    guards: Guards = Guards(),
    detached: Iterable[tuple[IdKind, str]] = (),
    merges: Iterable[tuple[str, str]] = (),
) -> dict[Identifier, int]:
    """From scratch (全量重算): each valid identifier -> its person; `merges` are member
    merges (survivor, merged), numbered after the observations."""
    index: dict[Identifier, int] = {}
    edges: list[tuple[int, int]] = []
    for observation in observations:
        nodes = [index.setdefault(identifier, len(index)) for identifier in _clean(observation)]
        edges.extend(combinations(nodes, 2))
    merged: dict[int, int] = {}
    for survivor, member in merges:
        keep, gone = _valid(IdKind.member, survivor), _valid(IdKind.member, member)
        a, b = index.setdefault(keep, len(index)), index.setdefault(gone, len(index))
        merged[b] = a
    kinds = [kind for kind, _ in index]
    cut = {index[i] for i in _clean(list(detached)) if i in index}
    blocked = shared_nodes(kinds, edges, guards, merged) | cut
    result = resolve(range(len(kinds)), kinds, edges, blocked, merged)
    return {identifier: result.person[node] for identifier, node in index.items()}
