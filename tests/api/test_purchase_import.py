"""Importing a purchase log (CDNOW's format; dunnhumby's Complete Journey, baskets with
their items and categories) and model tags: members by their old customer number,
purchases through OneID into the warehouse once however often the import runs, tags
computed as of a past day, sales by store and category, and BG/NBD fitted on history
recovers the parameters the history was drawn from."""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyreadr
import pytest
from fastapi.testclient import TestClient

from tests.api.test_events import drain
from tests.conftest import Tenant
from zhongtai.data import importer
from zhongtai.data.tags import clv
from zhongtai.data.tags.model import ModelParams, deciles
from zhongtai.platform.db import Database

START = date(1997, 1, 1)


def _log(customers: int, seed: int = 3) -> list[str]:
    """A CDNOW-style log: customer, day, CDs, dollars; each customer buys at a steady
    pace until they drop out (buy-till-you-die), over 540 days."""
    rng = random.Random(seed)
    lines = [" customer_id  date number_of_cds  dollar_value"]
    for c in range(1, customers + 1):
        day, rate, drop = rng.randrange(0, 60), rng.uniform(0.005, 0.05), rng.uniform(0.05, 0.5)
        while day < 540:
            cds = rng.randint(1, 4)
            when = (START + timedelta(days=day)).strftime("%Y%m%d")
            lines.append(f" {c:05d} {when}  {cds}   {cds * rng.uniform(9, 16):.2f}")
            if rng.random() < drop:
                break
            day += max(1, int(rng.expovariate(rate)))
    return lines


def test_reading_the_log_names_the_first_bad_line() -> None:
    good = list(importer.read_cdnow(["customer date cds value", " 00001 19970101 1 11.77"]))
    assert good == [importer.Purchase(2, "00001", date(1997, 1, 1), 1, 1177)]
    for bad in (
        " 00001 19971301 1 1.00",
        " 00001 19970101 one 1.00",
        " 00001 19970101 1",
        " 00001 19970101 -1 1.00",
    ):
        with pytest.raises(importer.BadLine) as caught:
            list(importer.read_cdnow(["header", " 00002 19970101 1 1.00", bad]))
        assert caught.value.line == 3


def test_a_purchase_log_becomes_members_events_and_tags_once(
    client: TestClient, tenant: Tenant, db: Database
) -> None:
    purchases = list(importer.read_cdnow(_log(60)))
    first = importer.load(db, tenant.id, purchases, "legacy")
    assert first.purchases == len(purchases) and first.new_members == first.customers == 60
    again = importer.load(db, tenant.id, purchases, "legacy")
    assert again.purchases == 0 and again.already_imported == len(purchases)
    assert again.new_members == 0
    drain(db)
    card = client.get("/v1/members", headers=tenant.admin, params={"q": "LEGACY-00007"}).json()
    assert len(card) == 1
    [person] = client.get(
        "/v1/persons", headers=tenant.admin, params={"kind": "member", "value": card[0]["id"]}
    ).json()
    history = client.get(f"/v1/persons/{person['person']}/events?limit=1000", headers=tenant.admin)
    mine = [p for p in purchases if p.customer == "00007"]
    assert sorted(e["amount"] for e in history.json()) == sorted(p.amount for p in mine)

    body = {
        "code": "clv",
        "name": "CLV",
        "kind": "model",
        "params": {"measure": "expected_value", "horizon_days": 90},
    }
    assert client.post("/v1/tags", headers=tenant.admin, json=body).status_code == 201
    done = client.post("/v1/tags/clv/compute", headers=tenant.admin, params={"as_of": "1998-07-01"})
    assert done.status_code == 200, done.text
    tag = done.json()
    assert tag["computed_day"] == "1998-07-01" and tag["fitted"]["buyers"] == 60
    assert {"bgnbd_r", "bgnbd_alpha", "bgnbd_a", "bgnbd_b", "gamma_p"} <= set(tag["fitted"])
    assert sum(v["persons"] for v in tag["values"]) == 60
    assert max(int(v["value"]) for v in tag["values"]) == 10


def test_bgnbd_recovers_the_parameters_its_history_was_drawn_from() -> None:
    """Draw 4,000 customers from BG/NBD itself (rates from Gamma(r, alpha), drop-out
    chances from Beta(a, b)) over 365 days; the fit finds r, alpha, a and b again."""
    r, alpha, a, b = 0.5, 20.0, 0.8, 3.0
    rng = np.random.default_rng(11)
    rows = {"person": [], "frequency": [], "recency": [], "T": [], "monetary": []}
    for person in range(4_000):
        rate, drop, t, last, n = rng.gamma(r, 1 / alpha), rng.beta(a, b), 0.0, 0.0, 0
        while True:
            t += rng.exponential(1 / rate)
            if t > 365:
                break
            n, last = n + 1, t
            if rng.random() < drop:
                break
        rows["person"].append(person)
        rows["frequency"].append(float(n))
        rows["recency"].append(last if n else 0.0)
        rows["T"].append(365.0)
        rows["monetary"].append(float(rng.gamma(4, 500)) if n else 0.0)
    fitted = clv.fit(pa.table(rows), ModelParams(measure="alive")).parameters
    assert fitted["bgnbd_r"] == pytest.approx(r, rel=0.3)
    assert fitted["bgnbd_alpha"] == pytest.approx(alpha, rel=0.3)
    assert fitted["bgnbd_a"] == pytest.approx(a, rel=0.4)
    assert fitted["bgnbd_b"] == pytest.approx(b, rel=0.4)


def test_deciles_put_the_best_in_ten_even_when_they_tie() -> None:
    assert deciles([1.0, 2, 3, 4, 5, 6, 7, 8, 9, 10]) == list(range(1, 11))
    assert deciles([1.0, 1, 1, 5]) == [8, 8, 8, 10]
    assert deciles([0.3] * 7) == [10] * 7


def _journey(tmp_path: Path) -> tuple[Path, Path]:
    """A tiny Complete Journey: household 7's two baskets (one at two timestamps) at
    stores 300 and 301, household 8's one; milk in its category, a product with a
    department only, one the catalogue does not list."""
    moment = pd.Timestamp("2017-03-01 10:00:00")
    lines = pd.DataFrame(
        {
            "household_id": ["7", "7", "7", "8"],
            "store_id": ["300", "300", "301", "300"],
            "basket_id": ["B1", "B1", "B2", "B3"],
            "product_id": ["P-MILK", "P-MISC", "P-MILK", "P-GONE"],
            "quantity": [2.0, 1.0, 1.0, 3.0],
            "sales_value": [3.98, 1.5, 1.99, 0.75],
            "week": [9, 9, 10, 9],
            "transaction_timestamp": [
                moment,
                moment + pd.Timedelta(minutes=1),
                moment + pd.Timedelta(days=7),
                moment + pd.Timedelta(hours=2),
            ],
        }
    )
    products = pd.DataFrame(
        {
            "product_id": ["P-MILK", "P-MISC"],
            "department": ["GROCERY", "MISCELLANEOUS"],
            "product_category": ["FLUID MILK PRODUCTS", None],
        }
    )
    paths = tmp_path / "transactions.rda", tmp_path / "products.rda"
    pyreadr.write_rdata(str(paths[0]), lines, df_name="transactions_sample")
    pyreadr.write_rdata(str(paths[1]), products, df_name="products")
    return paths


def test_the_complete_journey_gives_baskets_with_their_items_and_categories(
    tmp_path: Path,
) -> None:
    baskets = list(importer.read_complete_journey(*_journey(tmp_path)))
    assert [(p.order, p.customer, p.store, p.units, p.amount) for p in baskets] == [
        ("B1", "7", "300", 3, 548),
        ("B3", "8", "300", 3, 75),
        ("B2", "7", "301", 1, 199),
    ]
    assert baskets[0].at == datetime(2017, 3, 1, 10, 0, tzinfo=UTC)  # its first line's time
    assert [(i.sku, i.category) for i in baskets[0].items + baskets[1].items] == [
        ("P-MILK", "FLUID MILK PRODUCTS"),
        ("P-MISC", "MISCELLANEOUS"),  # no category: its department
        ("P-GONE", ""),
    ]
    transactions, products = _journey(tmp_path)
    with pytest.raises(importer.BadLine, match="columns"):
        list(importer.read_complete_journey(products, products))
    transactions.write_bytes(b"not R data")
    with pytest.raises(importer.BadLine, match="not an R data file"):
        list(importer.read_complete_journey(transactions, products))


def test_an_imported_journey_reports_sales_by_store_and_category_once(
    client: TestClient, tenant: Tenant, db: Database, tmp_path: Path
) -> None:
    baskets = list(importer.read_complete_journey(*_journey(tmp_path)))
    first = importer.load(db, tenant.id, baskets, "journey")
    assert (first.purchases, first.new_members) == (3, 2)
    again = importer.load(db, tenant.id, baskets, "journey")
    assert (again.purchases, again.already_imported) == (0, 3)
    drain(db)
    period = {"since": "2017-02-01T00:00:00Z", "until": "2017-04-01T00:00:00Z"}
    body = {**period, "by": ["store", "category"], "timezone_offset_hours": 0}
    got = client.post("/v1/analyses/sales", headers=tenant.admin, json=body)
    assert got.status_code == 200, got.text
    rows = {(r["store"], r["category"]): (r["orders"], r["units"], r["net"]) for r in got.json()}
    assert rows == {
        ("300", "FLUID MILK PRODUCTS"): (1, 2, 398),
        ("300", "MISCELLANEOUS"): (1, 1, 150),
        ("300", ""): (1, 3, 75),
        ("301", "FLUID MILK PRODUCTS"): (1, 1, 199),
    }
