"""The analytics warehouse (数据仓库): embedded chDB by default, a ClickHouse server by URL.

Both speak the same SQL with the same `{name:Type}` query parameters, so every query in the
data platform is written once. chDB lets one process own its folder (see DESIGN.md), so
the embedded warehouse is one session per process, behind a lock.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import httpx
import msgspec
import pyarrow as pa

from zhongtai.platform.config import Settings

Params = Mapping[str, Any]
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")


class Warehouse(Protocol):
    database: str

    def command(self, sql: str, params: Params | None = None) -> None: ...

    def rows(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]: ...

    def arrow(self, sql: str, params: Params | None = None) -> pa.Table: ...

    def insert(
        self, table: str, rows: Sequence[Mapping[str, Any]], token: str | None = None
    ) -> None: ...


def _insert_sql(database: str, table: str, token: str | None) -> str:
    # The token makes a retried batch a no-op: the tables keep a deduplication window.
    # History (imports, offline tills catching up) spans many day partitions in one batch.
    settings = " SETTINGS max_partitions_per_insert_block = 10000"
    if token:
        settings += ", insert_deduplication_token = {zt_token:String}"
    return f"INSERT INTO {database}.{table}{settings} FORMAT JSONEachRow"


# ClickHouse reads a parameter's text with backslash escapes: a raw tab or line break
# ends the value early, and a lone backslash starts an escape.
_ESCAPES = str.maketrans(
    {"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r", "\0": "\\0", "\b": "\\b", "\f": "\\f"}
)


def _quoted(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ",".join(_quoted(v) for v in value) + "]"
    if isinstance(value, str):
        return "'" + value.translate(_ESCAPES).replace("'", "\\'") + "'"
    return str(value)


def encode(params: Params | None) -> dict[str, str]:
    """Query parameters as ClickHouse reads them: escaped text, arrays as quoted literals."""
    return {
        k: v.translate(_ESCAPES) if isinstance(v, str) else _quoted(v)
        for k, v in (params or {}).items()
    }


_LINES = msgspec.json.Encoder()


def _json_lines(rows: Iterable[Mapping[str, Any]]) -> str:
    """JSONEachRow, one compiled pass over the rows (the ingester's bulk of work once
    OneID is done)."""
    return _LINES.encode_lines(list(rows)).decode()


def _parse_lines(text: str) -> list[dict[str, Any]]:
    # Lines end in "\n" only: splitlines() would also cut at U+2028 and the like, which a
    # JSON string holds unescaped.
    return [json.loads(line) for line in text.split("\n") if line]


def _table(stream: bytes) -> pa.Table:
    return pa.ipc.open_stream(stream).read_all()


class Chdb:
    """Embedded ClickHouse in `path`; one per process, reopened if a new path is asked."""

    _lock = threading.RLock()
    _open: tuple[Path, Any] | None = None

    def __init__(self, path: Path, database: str) -> None:
        self.path, self.database = path, database

    def _session(self) -> Any:
        from chdb import session  # a large native library: loaded when analytics first runs

        current = Chdb._open
        if current is not None and current[0] == self.path:
            return current[1]
        if current is not None:
            current[1].close()
        self.path.mkdir(parents=True, exist_ok=True)
        Chdb._open = (self.path, session.Session(str(self.path)))  # type: ignore[no-untyped-call]
        return Chdb._open[1]

    def _result(self, sql: str, fmt: str, params: Params | None) -> Any:
        with Chdb._lock:
            return self._session().query(sql, fmt, params=encode(params))

    def _query(self, sql: str, fmt: str, params: Params | None) -> str:
        result = self._result(sql, fmt, params)
        return str(result.data()) if fmt != "Null" else ""

    def arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        """Large results (millions of person numbers) as columns, not JSON lines."""
        return _table(self._result(sql, "ArrowStream", params).bytes())

    def command(self, sql: str, params: Params | None = None) -> None:
        self._query(sql, "Null", params)

    def rows(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        return _parse_lines(self._query(sql, "JSONEachRow", params))

    def insert(
        self, table: str, rows: Sequence[Mapping[str, Any]], token: str | None = None
    ) -> None:
        if rows:
            sql = f"{_insert_sql(self.database, table, token)}\n{_json_lines(rows)}"
            self._query(sql, "Null", {"zt_token": token} if token else None)

    def insert_arrow(self, table: str, select: str, data: pa.Table) -> None:
        """Embedded only, for bulk loads straight from numpy: INSERT INTO `table` SELECT
        `select` FROM the Arrow table `data` (chDB's Python() reads it by its name here)."""
        with Chdb._lock:
            self._session().query(
                f"INSERT INTO {self.database}.{table} SELECT {select} FROM Python(data)"
            )


class ClickHouseServer:
    """A ClickHouse server or cluster over its HTTP interface (`ZT_CLICKHOUSE_URL`)."""

    def __init__(self, url: str, database: str) -> None:
        self.database = database
        self.http = httpx.Client(base_url=url, timeout=300)

    def _send(self, sql: str, params: Params | None, body: str = "") -> httpx.Response:
        query = {f"param_{k}": v for k, v in encode(params).items()}
        if body:
            query["query"] = sql
        response = self.http.post("/", params=query, content=body or sql)
        if response.status_code != 200:
            raise RuntimeError(f"ClickHouse: {response.text.strip()[:500]}")
        return response

    def _post(self, sql: str, params: Params | None, body: str = "") -> str:
        return self._send(sql, params, body).text

    def arrow(self, sql: str, params: Params | None = None) -> pa.Table:
        return _table(self._send(f"{sql}\nFORMAT ArrowStream", params).content)

    def command(self, sql: str, params: Params | None = None) -> None:
        self._post(sql, params)

    def rows(self, sql: str, params: Params | None = None) -> list[dict[str, Any]]:
        return _parse_lines(self._post(f"{sql}\nFORMAT JSONEachRow", params))

    def insert(
        self, table: str, rows: Sequence[Mapping[str, Any]], token: str | None = None
    ) -> None:
        if rows:
            params = {"zt_token": token} if token else None
            self._post(_insert_sql(self.database, table, token), params, _json_lines(rows))


_cache: dict[tuple[str, str, str], Warehouse] = {}
_cache_lock = threading.Lock()


def of(settings: Settings) -> Warehouse:
    """The configured warehouse, its schema made on first use."""
    key = (settings.clickhouse_url, str(settings.data_dir), settings.clickhouse_database)
    with _cache_lock:
        if key not in _cache:
            if not _NAME.match(settings.clickhouse_database):
                raise ValueError("ZT_CLICKHOUSE_DATABASE must be a plain identifier")
            _cache[key] = _connect(settings)
            from zhongtai.data import schema

            schema.ensure(_cache[key])
        return _cache[key]


def _connect(settings: Settings) -> Warehouse:
    if settings.clickhouse_url:
        return ClickHouseServer(settings.clickhouse_url, settings.clickhouse_database)
    return Chdb(settings.data_dir / "chdb", settings.clickhouse_database)
