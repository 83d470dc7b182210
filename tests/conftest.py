"""Fixtures: every storage test runs on embedded SQLite and on the real PostgreSQL server.

ZT_TEST_BACKENDS picks backends (default "sqlite,postgresql"); ZT_TEST_POSTGRES_URL points
at the server (default: the local one, database `test`). Each run makes its own PostgreSQL
schema and drops it at the end. Tests make their own tenants, so they never share data.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from zhongtai import demo
from zhongtai.api import create_app
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database, scratch_schema
from zhongtai.platform.migrate import upgrade

BACKENDS = [b for b in os.environ.get("ZT_TEST_BACKENDS", "sqlite,postgresql").split(",") if b]
PG_URL = os.environ.get("ZT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
SECRET = "test-secret-key-0123456789abcdef"
DEMO_SKUS = 40  # a small demo catalogue per test tenant; `make demo` loads 5,000


@pytest.fixture(scope="session", params=BACKENDS)
def database_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path_factory.mktemp('sqlite') / 'zt.db'}"
        return
    with scratch_schema(PG_URL, "zt_test") as url:
        yield url


@pytest.fixture(scope="session")
def settings(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return Settings(
        data_dir=tmp_path_factory.mktemp("data"),
        database_url=database_url,
        secret_key=SECRET,
        run_relay=False,
        login_max_failures=5,
        login_lockout_seconds=900,
        webhook_backoff_seconds=0.0,
        webhook_max_attempts=3,
    )


@pytest.fixture(scope="session")
def db(settings: Settings) -> Iterator[Database]:
    database = Database(settings)
    upgrade(database.engine)
    yield database
    database.dispose()


@pytest.fixture(scope="session")
def app(settings: Settings, db: Database) -> FastAPI:
    return create_app(settings, db)


@pytest.fixture(scope="session")
def client(app: FastAPI) -> Iterator[TestClient]:
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def token_for(client: TestClient, tenant: str, username: str, password: str) -> dict[str, str]:
    r = client.post(
        "/v1/auth/token", data={"tenant": tenant, "username": username, "password": password}
    )
    assert r.status_code == 200, r.text
    return {"Authorization": f"Bearer {r.json()['access_token']}"}


@dataclass
class Tenant:
    """A demo chain in its own tenant, with its admin's and store manager's headers."""

    name: str
    id: str
    admin: dict[str, str]
    manager: dict[str, str]
    units: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def make_tenant(client: TestClient, db: Database) -> Callable[[], Tenant]:
    def make() -> Tenant:
        name = f"t{uuid.uuid4().hex[:10]}"
        tenant_id = demo.load(db, name, catalog_size=DEMO_SKUS)
        admin = token_for(client, name, *demo.DEMO_ADMIN)
        manager = token_for(client, name, *demo.DEMO_MANAGER)
        units = {u["code"]: u["id"] for u in client.get("/v1/org-units", headers=admin).json()}
        return Tenant(name, tenant_id, admin, manager, units)

    return make


@pytest.fixture
def tenant(make_tenant: Callable[[], Tenant]) -> Tenant:
    return make_tenant()


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return Path(__file__).resolve().parent.parent
