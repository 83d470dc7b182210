"""Demo behaviour (行为数据) for the data platform: shoppers browsing, searching, adding
to cart and buying over the last two months, some anonymous until they log in, plus the
standard tags and an audience, so funnels, OneID, tags and audiences show something."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from zhongtai.data.collector import model as collector_model
from zhongtai.data.collector import service as collector
from zhongtai.data.tags import service as tags
from zhongtai.data.tags.model import Expr, TagKind
from zhongtai.members import service as members
from zhongtai.members.schemas import MemberIn
from zhongtai.platform.ids import utcnow
from zhongtai.platform.uow import UnitOfWork

STORES = ["SH01", "SH02", "BJ01", "GZ01"]
CHANNELS = ["mall", "mini_program", "pos", "community"]
# Of those who reach a step, the share who go on to the next (浏览 → 加购 → 结算 → 支付).
FUNNEL = [("product_view", 1.0), ("add_to_cart", 0.45), ("checkout", 0.6), ("purchase", 0.7)]
TAGS: list[tuple[str, str, TagKind, dict[str, Any], bool]] = [
    ("life", "生命周期 Lifecycle", TagKind.lifecycle, {}, False),
    ("rfm_r", "RFM 最近购买 Recency", TagKind.rfm, {"score": "r"}, False),
    ("rfm_f", "RFM 购买频次 Frequency", TagKind.rfm, {"score": "f"}, False),
    ("rfm_m", "RFM 购买金额 Monetary", TagKind.rfm, {"score": "m"}, False),
    ("rfm_segment", "RFM 客户分群 Segment", TagKind.rfm, {"score": "segment"}, False),
    ("pref_store", "常去门店 Preferred store", TagKind.preference, {"of": "store"}, False),
    ("pref_channel", "常用渠道 Preferred channel", TagKind.preference, {"of": "channel"}, False),
    ("price_sensitivity", "价格敏感度 Price sensitivity", TagKind.price_sensitivity, {}, False),
    (
        "browsed_3plus",
        "30天浏览3次以上 Browsed 3+ times in 30 days",
        TagKind.rule,
        {"event_types": ["product_view"], "window_days": 30, "min": 3},
        False,
    ),
    (
        "bought_30d",
        "30天内购买 Bought in the last 30 days",
        TagKind.rule,
        {"event_types": ["purchase", "order.paid"], "window_days": 30},
        True,
    ),
]


def _journey(rng: random.Random, who: dict[str, str], skus: list[str], n: int) -> list[Any]:
    """One shopping session: a funnel walked as far as the shopper goes."""
    start = utcnow() - timedelta(days=rng.uniform(0, 60), minutes=30)
    channel, store = rng.choice(CHANNELS), rng.choice(STORES)
    sku, price = rng.choice(skus), rng.randrange(5_00, 300_00, 10)
    events: list[Any] = []
    for step, (kind, keep) in enumerate(FUNNEL):
        if rng.random() > keep:
            break
        props: dict[str, Any] = {"sku": sku, "price": price}
        if kind == "add_to_cart":
            props["qty"] = rng.randint(1, 3)
        if kind in ("checkout", "purchase"):
            props = {"amount": price, "sku": sku}
        if kind == "purchase":
            props["order"] = f"DEMO-{n}"
        at = start + timedelta(minutes=3 * step + rng.random())
        events.append(
            {"type": kind, "time": at.isoformat(), "channel": channel, "store": store, **who}
            | {"properties": props}
        )
    return events


def load(uow: UnitOfWork, skus: list[str], shoppers: int, seed: int = 7) -> None:
    """Members and visitors with sessions over two months, then the standard tags and one
    saved audience. The events wait in the collector's inbox for the ingester."""
    rng = random.Random(seed)
    events: list[Any] = []
    for i in range(shoppers):
        member = members.register(uow, MemberIn(channel="mall", phone=f"1377700{i:04d}"))
        cookie = f"demo-cookie-{i}"
        for n in range(rng.randint(1, 6)):
            known = rng.random() < 0.6  # logged in, or browsing anonymously on the same browser
            who = (
                {"member": member.id, "anonymous_id": cookie} if known else {"anonymous_id": cookie}
            )
            events += _journey(rng, who, skus, i * 10 + n)
    for v in range(shoppers):  # visitors who never log in
        events += _journey(rng, {"anonymous_id": f"demo-visitor-{v}"}, skus, 10**6 + v)
    for start in range(0, len(events), 500):
        collector.collect(uow, collector_model.texts(events[start : start + 500]))
    for code, name, kind, params, realtime in TAGS:
        tags.define(
            uow, tags.TagIn(code=code, name=name, kind=kind, params=params, realtime=realtime)
        )
    fans = {
        "and": [
            {"tag": "life", "values": ["new", "active"]},
            {"tag": "pref_store", "value": "SH01"},
        ]
    }
    tags.save(
        uow,
        tags.AudienceIn(
            code="sh01_regulars",
            name="SH01 的活跃常客 Active regulars of SH01",
            expression=Expr.model_validate(fans),
        ),
    )


CDNOW_TAGS: list[tuple[str, str, TagKind, dict[str, Any]]] = [
    ("segment", "RFM 客户分群 Segment", TagKind.rfm, {"score": "segment", "window_days": 548}),
    ("lifecycle", "生命周期 Lifecycle", TagKind.lifecycle, {"lost_days": 180}),
    ("alive", "仍活跃概率 Chance still active (BG/NBD)", TagKind.model, {"measure": "alive"}),
    (
        "clv_90d",
        "90天预期价值 Expected value, 90 days",
        TagKind.model,
        {"measure": "expected_value", "horizon_days": 90},
    ),
]


def cdnow_tags(uow: UnitOfWork, until: datetime) -> list[tags.TagOut]:
    """The CDNOW demo's tags, defined once and computed as of `until`."""
    known = {row.code for row in tags.definitions(uow)}
    for code, name, kind, params in CDNOW_TAGS:
        if code not in known:
            tags.define(uow, tags.TagIn(code=code, name=name, kind=kind, params=params))
    return [tags.compute(uow, code, until) for code, *_ in CDNOW_TAGS]
