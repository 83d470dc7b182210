"""Server-made ids: a batch's ids are ULIDs, ascending, unique, and derived ones repeat."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from ulid import ULID

from zhongtai.platform.ids import new_ids


@given(st.integers(min_value=1, max_value=2000), st.text(max_size=40) | st.none())
def test_a_batch_of_ids_is_ascending_unique_and_each_a_ulid(n: int, seed: str | None) -> None:
    ids = new_ids(n, seed)
    assert len(ids) == n and len(set(ids)) == n and ids == sorted(ids)
    assert [str(ULID.from_str(i)) for i in ids] == ids  # each parses back to itself
    if seed is not None:
        assert new_ids(n, seed) == ids  # a retried request's ids are the first try's


def test_batches_made_at_the_same_moment_do_not_collide() -> None:
    made = [i for _ in range(200) for i in new_ids(500)]
    assert len(set(made)) == len(made)
    assert new_ids(3, "key-1") != new_ids(3, "key-2")
