"""Bulk import and export: all or nothing, row-by-row errors, idempotent re-import."""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
from pathlib import Path

from fastapi.testclient import TestClient
from openpyxl import load_workbook

from tests.conftest import SECRET, Tenant
from zhongtai.catalog.barcodes import ean13
from zhongtai.catalog.importer import COLUMNS


def _csv(rows: list[dict[str, str]]) -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS)
    writer.writeheader()
    writer.writerows([{c: r.get(c, "") for c in COLUMNS} for r in rows])
    return out.getvalue().encode()


def _rows(prefix: str, n: int) -> list[dict[str, str]]:
    return [
        {
            "product_code": f"{prefix}P{i // 2}",
            "product_name": f"导入商品 Imported {i // 2}",
            "category": "imported",
            "sku_code": f"{prefix}S{i}",
            "sku_name": f"规格 {i}",
            "barcodes": ean13(f"6977{abs(hash(prefix)) % 10**4:04d}{i:04d}"),
            "price": str(100 + i),
            "tags": "导入|import",
            "sku_attributes": f"size={i}",
        }
        for i in range(n)
    ]


def _post(client: TestClient, t: Tenant, data: bytes, name: str = "c.csv", **form: str):
    return client.post(
        "/v1/catalog/imports", headers=t.admin, files={"file": (name, data)}, data=form
    )


def _events(client: TestClient, t: Tenant, type_: str) -> int:
    return len(
        client.get("/v1/events", headers=t.admin, params={"type": type_, "limit": 500}).json()
    )


def test_a_bad_row_rejects_the_whole_file_with_a_report(client: TestClient, tenant: Tenant) -> None:
    rows = _rows("X", 6)
    rows[2]["price"] = "12.50"
    rows[4]["barcodes"] = rows[4]["barcodes"][:-1] + str((int(rows[4]["barcodes"][-1]) + 1) % 10)
    rows[5]["sku_code"] = rows[0]["sku_code"]
    resp = _post(client, tenant, _csv(rows))
    assert resp.status_code == 422
    errors = {(e["row"], e["field"]) for e in resp.json()["errors"]}
    assert errors == {(4, "price"), (6, "barcodes"), (7, "sku_code")}
    assert client.get("/v1/skus", headers=tenant.admin, params={"q": "XS1"}).json() == []


def test_import_twice_changes_nothing_the_second_time(client: TestClient, tenant: Tenant) -> None:
    data = _csv(_rows("Y", 8))
    dry = _post(client, tenant, data, dry_run="true")
    assert dry.status_code == 200 and dry.json()["applied"] is False
    assert client.get("/v1/skus", headers=tenant.admin, params={"q": "YS1"}).json() == []
    first = _post(client, tenant, data).json()
    assert first["applied"] and first["skus_created"] == 8 and first["products_created"] == 4
    prices_after_first = _events(client, tenant, "price.changed")
    second = _post(client, tenant, data).json()
    assert second["unchanged"] == 8 and second["skus_created"] == second["prices_changed"] == 0
    assert _events(client, tenant, "price.changed") == prices_after_first
    sku = client.get("/v1/skus", headers=tenant.admin, params={"q": "YS3"}).json()
    assert sku[0]["price"] == 103 and sku[0]["attributes"] == {"size": "3"}


def test_a_changed_price_is_the_only_change(client: TestClient, tenant: Tenant) -> None:
    rows = _rows("Z", 4)
    _post(client, tenant, _csv(rows))
    rows[1]["price"] = "999"
    report = _post(client, tenant, _csv(rows)).json()
    assert report["prices_changed"] == 1 and report["unchanged"] == 3
    sku = client.get("/v1/skus", headers=tenant.admin, params={"q": "ZS1"}).json()[0]
    history = client.get(f"/v1/skus/{sku['id']}/prices", headers=tenant.admin).json()
    assert [h["amount"] for h in history] == [101, 999]


def test_export_to_xlsx_and_back_is_a_no_op(client: TestClient, tenant: Tenant) -> None:
    exported = client.get("/v1/catalog/export", headers=tenant.admin, params={"format": "xlsx"})
    assert exported.status_code == 200
    sheet = load_workbook(io.BytesIO(exported.content)).worksheets[0]
    assert [c.value for c in sheet[1]] == COLUMNS and sheet.max_row > 30
    report = _post(client, tenant, exported.content, name="catalog.xlsx").json()
    assert report["applied"] and report["unchanged"] == report["rows"] == sheet.max_row - 1


def test_unreadable_files_are_named(client: TestClient, tenant: Tenant) -> None:
    resp = _post(client, tenant, b"\xff\xfe\x00garbage", name="x.xlsx")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "file"
    resp = _post(client, tenant, b"name,price\nx,1\n")
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "header"


def test_cli_import_with_progress(
    database_url: str, tmp_path: Path, client: TestClient, tenant: Tenant
) -> None:
    path = tmp_path / "catalog.csv"
    path.write_bytes(_csv(_rows("C", 6)))
    env = {
        **os.environ,
        "ZT_DATABASE_URL": database_url,
        "ZT_DATA_DIR": str(tmp_path),
        "ZT_SECRET_KEY": SECRET,
    }
    cmd = [
        sys.executable,
        "-m",
        "zhongtai",
        "catalog",
        "import",
        str(path),
        "--tenant",
        tenant.name,
    ]
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert '"skus_created": 6' in done.stdout
    assert client.get("/v1/skus", headers=tenant.admin, params={"q": "CS5"}).json()
    out = tmp_path / "out.csv"
    exported = subprocess.run(
        [sys.executable, "-m", "zhongtai", "catalog", "export", str(out), "--tenant", tenant.name],
        env=env,
        capture_output=True,
        text=True,
    )
    assert exported.returncode == 0 and "CS5" in out.read_text()
