"""Benchmark runner behind `zhongtai bench NAME`: loads bench/NAME.py and prints its result.

A benchmark module defines `run(quick: bool, say: Callable[[str], None]) -> dict[str, float]`
and `summary(metrics) -> str`. The last line printed is one JSON object.
"""

from __future__ import annotations

import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

from rich.console import Console


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
