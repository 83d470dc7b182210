"""Text goes to the warehouse and comes back as given: in a query parameter a tab or a
line break once cut the value short (a 500 on a funnel step's name) and a backslash
started an escape; in a result a line separator (U+2028) split the row's line."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from zhongtai.data.warehouse import Chdb

TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=30)


@pytest.fixture(scope="module")
def wh(tmp_path_factory: pytest.TempPathFactory) -> Chdb:
    return Chdb(tmp_path_factory.mktemp("chdb"), "zt_params")


def test_text_and_arrays_of_text_come_back_unchanged(wh: Chdb) -> None:
    @settings(max_examples=150, deadline=None)
    @given(TEXT, st.lists(TEXT, max_size=4))
    def round_trip(text: str, texts: list[str]) -> None:
        [got] = wh.rows("SELECT {s:String} AS s, {a:Array(String)} AS a", {"s": text, "a": texts})
        assert (got["s"], got["a"]) == (text, texts)

    round_trip()
    fixed = ["a\tb", "line\nbreak", "back\\slash", "it's", "\\n", "nul\0", "o1ý\t?»y"]
    [got] = wh.rows("SELECT {a:Array(String)} AS a", {"a": fixed})
    assert got["a"] == fixed
