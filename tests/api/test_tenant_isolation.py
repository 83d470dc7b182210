"""One tenant can never read, list, change or delete another's data, through any route.

The test walks the live OpenAPI schema, so routes added later are covered without edits:
tenant A is seeded by the demo loader (which later capabilities extend), every id and code
that A can see is harvested, and tenant B's admin then tries each of them on every route.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import Tenant
from tests.support.openapi import Route, example, routes
from tests.support.relay import run_relay
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database

DENIED = {403, 404}
ULID = re.compile(r"[0-9A-HJKMNP-TV-Z]{26}")


def _harvest(value: Any, out: dict[str, set[str]]) -> None:
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str | int | float) and not isinstance(v, bool):
                out.setdefault(k, set()).add(str(v))
            _harvest(v, out)
    elif isinstance(value, list):
        for v in value:
            _harvest(v, out)


def _candidates(harvest: dict[str, set[str]], route: Route, param: str) -> list[str]:
    """Values of A that fit a path parameter. For `x_id`: first the ids listed by the
    collection route in front of it (`/v1/webhooks` for `/v1/webhooks/{webhook_id}`),
    then ids seen under `x_id`, then every other id. Else values of the same name."""
    if not param.endswith("_id"):
        return sorted(v for v in harvest.get(param, set()) if v)
    collection = sorted(harvest.get("@" + route.path.split("/{" + param + "}")[0], set()))
    named = sorted(v for v in harvest.get(param, set()) if ULID.fullmatch(v))
    keys = [k for k in harvest if k == "id" or k.endswith("_id")]
    rest = sorted(v for k in keys for v in harvest[k] if ULID.fullmatch(v))
    return list(dict.fromkeys(collection + named + rest))


def _url(route: Route, values: tuple[str, ...]) -> str:
    url = route.path
    for param, value in zip(route.params, values, strict=True):
        url = url.replace("{" + param + "}", value)
    return url


def _combos(route: Route, harvest: dict[str, set[str]], cap: int) -> list[tuple[str, ...]]:
    pools = [_candidates(harvest, route, p) for p in route.params]
    return list(itertools.islice(itertools.product(*pools), cap))


def _sample(items: list[Any], k: int) -> list[Any]:
    step = max(1, len(items) // k)
    return items[::step][:k]


def _body(resp: Any) -> Any:
    """JSON where the route answers JSON; exports (CSV, XLSX) as text."""
    if resp.headers.get("content-type", "").startswith("application/json"):
        return resp.json()
    return resp.text


def _queries(route: Route, harvest: dict[str, set[str]]) -> list[dict[str, str]]:
    """Required query parameters filled with A's values (a `sku` or `code` is a code)."""
    names = route.required_query()
    if not names:
        return [{}]
    pools = [sorted(harvest.get(n) or harvest.get("code", set()))[:40] for n in names]
    return [dict(zip(names, combo, strict=True)) for combo in itertools.product(*pools)][:40]


def _snapshot(client: TestClient, spec: dict[str, Any], a: Tenant) -> dict[str, Any]:
    """Everything A can read, and for each detail route the ids that A can open."""
    harvest: dict[str, set[str]] = {}
    pages: dict[str, Any] = {}
    lists = [r for r in routes(spec) if r.method == "get" and not r.params]
    for r in sorted(lists, key=lambda r: bool(r.required_query())):
        answered = False
        for query in _queries(r, harvest):
            resp = client.get(r.path, headers=a.admin, params=query)
            if resp.status_code == 200:
                answered = True
                pages[f"{r.path}?{sorted(query.items())}"] = _body(resp)
                _harvest(_body(resp), harvest)
                if isinstance(_body(resp), list):
                    ids = {i["id"] for i in _body(resp) if isinstance(i, dict) and "id" in i}
                    harvest.setdefault("@" + r.path, set()).update(ids)
        assert answered, f"seed tenant A (zhongtai.demo) so that GET {r.path} answers"
    good: dict[str, list[tuple[str, ...]]] = {}
    for r in (r for r in routes(spec) if r.method == "get" and r.params):
        for values in _combos(r, harvest, 300):
            resp = client.get(_url(r, values), headers=a.admin)
            if resp.status_code == 200:
                pages[_url(r, values)] = _body(resp)
                good.setdefault(r.path, []).append(values)
                good.setdefault(",".join(r.params), []).append(values)
                if len(good[r.path]) >= 5:
                    break
        assert r.path in good, f"seed tenant A (zhongtai.demo) so that GET {r.path} has data"
    return {"pages": pages, "harvest": harvest, "good": good}


def _strip_volatile(pages: dict[str, Any]) -> str:
    # The audit log and event feed grow with B's refused attempts only if they leak; the
    # rest of A's pages must be byte-for-byte what they were.
    return json.dumps({k: v for k, v in pages.items() if k != "/v1/metrics"}, sort_keys=True)


def _seed_platform_records(client: TestClient, a: Tenant, db: Database, settings: Settings) -> None:
    """Beyond the demo chain: an API key, a webhook and a delivery attempt of tenant A."""
    roles = client.get("/v1/roles", headers=a.admin).json()
    auditor = next(r["id"] for r in roles if r["name"] == "auditor")
    key = client.post("/v1/api-keys", headers=a.admin, json={"name": "pos", "role_ids": [auditor]})
    assert key.status_code == 201, key.text
    hook = client.post("/v1/webhooks", headers=a.admin, json={"url": "http://127.0.0.1:9/hook"})
    assert hook.status_code == 201, hook.text
    run_relay(db, settings)


def test_tenant_b_cannot_reach_tenant_a_through_any_route(
    client: TestClient, make_tenant, db: Database, settings: Settings
) -> None:
    a: Tenant = make_tenant()
    b: Tenant = make_tenant()
    _seed_platform_records(client, a, db, settings)
    spec = client.get("/openapi.json").json()
    before = _snapshot(client, spec, a)
    harvest = before["harvest"]
    a_ids = {
        v
        for k, vals in harvest.items()
        if k == "id" or k.endswith("_id")
        for v in vals
        if ULID.fullmatch(v)
    }
    a_ids.discard(b.id)
    assert len(a_ids) > 10, "tenant A should have plenty of data to protect"
    checked = 0
    # Lists first: later, B's own audit log rightly records the A ids that B tried.
    for route in routes(spec):
        if route.method == "get" and not route.params:
            for query in _queries(route, harvest):
                body = client.get(route.path, headers=b.admin, params=query).text
                leaked = sorted(i for i in a_ids if i in body)
                assert not leaked, f"GET {route.path} {query} shows tenant A's {leaked[:3]}"
                checked += 1
    good = before["good"]
    for route in routes(spec):
        if not route.params:
            continue
        # A's own openable records (for mutations: those of a read route with the same
        # parameters), plus a spread of every other id of A's.
        known = good.get(route.path) or good.get(",".join(route.params), [])
        combos = known[:5] + _sample(_combos(route, harvest, 400), 10)
        assert combos, f"seed tenant A so that {route.method.upper()} {route.path} has a target"
        urls = [_url(route, c) for c in dict.fromkeys(combos)]
        schema = route.body_schema()
        body = example(spec, schema) if schema else None
        # A path of ids names A's records: B must be refused. A path of names (a dictionary
        # type, a rule kind, a member's cart) is shared vocabulary and may reach B's own
        # records, never A's; there B's example body may also be refused as invalid.
        by_id = all(p.endswith("_id") for p in route.params)
        refused = DENIED if by_id else DENIED | {409, 422}
        for url in urls:
            resp = client.request(route.method.upper(), url, headers=b.admin, json=body)
            what = f"{route.method.upper()} {url} as tenant B gave {resp.status_code}: {resp.text}"
            if by_id or resp.status_code not in range(200, 300):
                assert resp.status_code in refused, what
            assert not [i for i in a_ids if i in resp.text and i not in url], what
            checked += 1
    assert checked > 50
    after = _snapshot(client, spec, a)
    assert _strip_volatile(after["pages"]) == _strip_volatile(before["pages"])


def test_tenant_b_cannot_point_its_records_at_tenant_a(client: TestClient, make_tenant) -> None:
    a: Tenant = make_tenant()
    b: Tenant = make_tenant()
    resp = client.post(
        "/v1/staff",
        headers=b.admin,
        json={
            "username": "intruder",
            "display_name": "x",
            "password": "abcd1234",
            "org_unit_id": a.units["SH01"],
        },
    )
    assert resp.status_code == 422
    assert resp.json()["errors"][0]["field"] == "org_unit_id"
    unit = client.post(
        "/v1/org-units",
        headers=b.admin,
        json={"code": "X1", "name": "x", "kind": "store", "parent_id": a.units["EAST"]},
    )
    assert unit.status_code == 404
