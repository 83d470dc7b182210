"""Benchmark runner behind `zhongtai bench NAME`: loads bench/NAME.py and prints its result.

A benchmark module defines `run(quick: bool, say: Callable[[str], None]) -> dict[str, float]`
and `summary(metrics) -> str`. The last line printed is one JSON object.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
from rich.console import Console

from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database, scratch_schema
from zhongtai.platform.migrate import upgrade


def machine() -> dict[str, Any]:
    return {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "database": "postgresql" if os.environ.get("ZT_DATABASE_URL") else "sqlite",
    }


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 3)


def timed(fn: Callable[[], Any], repeat: int) -> list[float]:
    """Wall-clock seconds of each of `repeat` calls."""
    out = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        out.append(time.perf_counter() - start)
    return out


PG_URL = os.environ.get(
    "ZT_BENCH_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


@contextmanager
def fresh_database(kind: str) -> Iterator[Database]:
    """A migrated, empty database for one benchmark arm: a SQLite file in a temporary
    folder, or a schema of its own on the PostgreSQL server (dropped after)."""
    with tempfile.TemporaryDirectory() as tmp:
        if kind == "sqlite":
            db = Database(Settings(data_dir=Path(tmp), secret_key="bench"))
            upgrade(db.engine)
            yield db
            db.dispose()
            return
        with scratch_schema(PG_URL, "zt_bench") as url:
            db = Database(Settings(data_dir=Path(tmp), database_url=url, secret_key="bench"))
            try:
                upgrade(db.engine)
                yield db
            finally:
                db.dispose()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def server(env: dict[str, str], args: Sequence[str] = ()) -> Iterator[str]:
    """A real server (uvicorn, one worker unless `args` say more) in a child process;
    yields its base URL."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "zhongtai", "serve", "--port", str(port), *args],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while not _ready(base):
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("server did not become ready")
            time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@contextmanager
def served(
    db: Database,
    data_dir: str,
    login: tuple[str, str, str],
    env: dict[str, str] | None = None,
    args: Sequence[str] = (),
) -> Iterator[tuple[str, str]]:
    """A real server over `db` (relay off; `env` and the command's `args` added) and a
    token for `login` (tenant, user, password): yields (base URL, token)."""
    with server(
        {
            "ZT_DATABASE_URL": db.url,
            "ZT_DATA_DIR": data_dir,
            "ZT_RUN_RELAY": "0",
            "ZT_SECRET_KEY": "bench-http",
            **(env or {}),
        },
        args,
    ) as base:
        tenant, username, password = login
        form = {"tenant": tenant, "username": username, "password": password}
        yield base, httpx.post(f"{base}/v1/auth/token", data=form).json()["access_token"]


def _ready(base: str) -> bool:
    try:
        return httpx.get(f"{base}/readyz", timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def _load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"bench_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise FileNotFoundError(path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def run_named(name: str, *, quick: bool, bench_dir: Path, console: Console) -> dict[str, Any]:
    path = bench_dir / f"{name}.py"
    if not path.is_file():
        known = sorted(p.stem for p in bench_dir.glob("*.py") if not p.stem.startswith("_"))
        console.print(f"[red]no benchmark {name!r}[/]; known: {', '.join(known)}")
        raise SystemExit(2)
    module = _load(path)
    with console.status(f"bench {name}{' (quick)' if quick else ''}") as status:
        metrics = module.run(quick=quick, say=lambda msg: status.update(f"{name}: {msg}"))
    result = {"bench": name, "quick": quick, "metrics": metrics, "machine": machine()}
    results = bench_dir / "results"
    results.mkdir(exist_ok=True)
    (results / f"{name}.json").write_text(json.dumps(result, indent=2))
    console.print(f"[bold]{name}[/]: {module.summary(metrics)}")
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return result
