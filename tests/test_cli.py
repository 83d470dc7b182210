"""The `zhongtai` command, run as a user would, against each backend."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from pathlib import Path

import httpx
from fastapi.testclient import TestClient

from tests.api.test_events import drain, event, stored
from tests.conftest import SECRET, Tenant, token_for
from zhongtai.benchrun import server
from zhongtai.platform.db import Database


def _cli(args: list[str], database_url: str, data_dir: Path) -> subprocess.CompletedProcess[str]:
    env = {
        **os.environ,
        "ZT_DATABASE_URL": database_url,
        "ZT_DATA_DIR": str(data_dir),
        "ZT_SECRET_KEY": SECRET,
    }
    return subprocess.run(
        [sys.executable, "-m", "zhongtai", *args], env=env, capture_output=True, text=True
    )


def test_migrate_and_tenant_create(database_url: str, tmp_path: Path, client: TestClient) -> None:
    assert _cli(["migrate"], database_url, tmp_path).returncode == 0
    name = f"cli{uuid.uuid4().hex[:8]}"
    args = ["tenant", "create", name, "--admin", "boss", "--password", "boss-pass-1"]
    made = _cli(args, database_url, tmp_path)
    assert made.returncode == 0, made.stderr
    assert f"tenant {name} created" in made.stdout
    headers = token_for(client, name, "boss", "boss-pass-1")
    assert client.get("/v1/me", headers=headers).json()["name"] == "boss"
    again = _cli(args, database_url, tmp_path)
    assert again.returncode == 1 and "already exists" in again.stdout
    weak = _cli(
        ["tenant", "create", "weak1", "--admin", "a", "--password", "short"], database_url, tmp_path
    )
    assert weak.returncode == 1 and "password" in weak.stdout


def test_demo_loads_once_on_the_embedded_default(tmp_path: Path) -> None:
    env = {**os.environ, "ZT_DATA_DIR": str(tmp_path), "ZT_DATABASE_URL": ""}
    cmd = [sys.executable, "-m", "zhongtai", "demo", "--no-serve-after"]
    first = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert "demo login: tenant=demo username=admin" in first.stdout
    assert (tmp_path / "zhongtai.db").exists()
    second = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr


def test_bench_names_unknown_benchmarks(tmp_path: Path, repo_root: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "zhongtai",
            "bench",
            "nope",
            "--bench-dir",
            str(repo_root / "bench"),
        ],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 2
    assert "foundation" in result.stdout


def test_a_purchase_log_is_imported_from_the_command_line(
    database_url: str, tmp_path: Path, client: TestClient
) -> None:
    name = f"cli{uuid.uuid4().hex[:8]}"
    args = ["tenant", "create", name, "--admin", "boss", "--password", "boss-pass-1"]
    assert _cli(args, database_url, tmp_path).returncode == 0
    log = tmp_path / "log.txt"
    log.write_text(" id date cds value\n 00001 19970101 1 11.77\n 00002 19970112 5 77.00\n")
    done = _cli(["data", "import", str(log), "--tenant", name], database_url, tmp_path)
    assert done.returncode == 0, done.stderr
    assert '"purchases": 2' in done.stdout and '"new_members": 2' in done.stdout
    log.write_text(" id date cds value\n 00001 1997-01-01 1 11.77\n")
    bad = _cli(["data", "import", str(log), "--tenant", name], database_url, tmp_path)
    assert bad.returncode == 1 and "line 2" in bad.stdout


def test_several_workers_need_a_clickhouse_server(tmp_path: Path, database_url: str) -> None:
    result = _cli(["serve", "--workers", "2"], database_url, tmp_path)
    assert result.returncode == 2 and "ZT_CLICKHOUSE_URL" in result.stdout


def test_a_collector_tier_runs_several_workers_and_serves_events_only(
    tmp_path: Path, database_url: str, db: Database, tenant: Tenant
) -> None:
    env = {"ZT_DATABASE_URL": database_url, "ZT_DATA_DIR": str(tmp_path), "ZT_SECRET_KEY": SECRET}
    with server(env, ["--collector-only", "--workers", "2"]) as base:
        sent = [event(anonymous_id=f"c-tier-{i}") for i in range(40)]
        for start in range(0, 40, 5):  # several requests: both workers take some
            got = httpx.post(
                f"{base}/v1/events", headers=tenant.admin, json={"events": sent[start : start + 5]}
            )
            assert got.status_code == 200 and got.json()["accepted"] == 5, got.text
        assert httpx.get(f"{base}/v1/skus", headers=tenant.admin).status_code == 404
        assert httpx.get(f"{base}/healthz").status_code == 200
    drain(db)  # the full server's ingester takes what the tier accepted
    stored_actors = {r["actor"] for r in stored(db.settings, tenant.id)}
    assert {f"cookie:c-tier-{i}" for i in range(40)} <= stored_actors
