"""The warehouse's tables. Statements are idempotent, so `ensure` runs at every start."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from zhongtai.data.warehouse import Warehouse

# Behaviour and business events (事件), placed by the time they happened on the client, so
# late and out-of-order events land in their own day. The deduplication window lets the
# ingester retry a batch with its token after a crash without doubling it.
EVENTS = """
CREATE TABLE IF NOT EXISTS {db}.events (
    tenant_id LowCardinality(String),
    event_id String,
    source LowCardinality(String),
    type LowCardinality(String),
    name LowCardinality(String),
    time DateTime64(3, 'UTC'),
    received_at DateTime64(3, 'UTC'),
    actor String,
    member_id String,
    anonymous_id String,
    device_id String,
    channel LowCardinality(String),
    store LowCardinality(String),
    sku String,
    category LowCardinality(String),
    order_id String,
    amount Int64,
    qty Int32,
    properties String
) ENGINE = MergeTree
PARTITION BY toDate(time)
ORDER BY (tenant_id, type, actor, time)
SETTINGS non_replicated_deduplication_window = 1000
"""

# OneID's answer for each actor key ('member:…', 'cookie:…'): the person it belongs to now.
# Events keep the identifiers they arrived with; analyses join through this mapping, so a
# merge or an un-merge re-attributes history without rewriting it.
PERSON_MAP = """
CREATE TABLE IF NOT EXISTS {db}.person_map (
    tenant_id LowCardinality(String),
    actor String,
    person UInt64,
    version UInt64
) ENGINE = ReplacingMergeTree(version)
ORDER BY (tenant_id, actor)
"""

# Every person's tag values per day, the long form of the tag centre's bitmaps: the tag
# queries write here, the bitmaps are read from here, and plain SQL can ask it the same
# questions as the bitmaps (the benchmark's baseline, the tests' reference).
PERSON_TAGS = """
CREATE TABLE IF NOT EXISTS {db}.person_tags (
    tenant_id LowCardinality(String),
    tag LowCardinality(String),
    day Date,
    value String,
    person UInt64
) ENGINE = ReplacingMergeTree
ORDER BY (tenant_id, tag, day, value, person)
"""

STATEMENTS = ("CREATE DATABASE IF NOT EXISTS {db}", EVENTS, PERSON_MAP, PERSON_TAGS)


PURCHASE_TYPES = ("order.paid", "purchase")  # a platform order paid, or one a channel reports
PURCHASE = "e.type IN ('order.paid', 'purchase')"
# One order reported twice (by a channel's purchase event and the platform's payment)
# counts once: events are keyed by their order where they name one.
ORDER_KEY = "if(e.order_id = '', e.event_id, e.order_id)"


def persons_of_actors(database: str) -> str:
    """Each actor's person now (OneID's latest answer): join events on `actor` to it."""
    return (
        f"(SELECT actor, argMax(person, version) AS person FROM {database}.person_map"
        " WHERE tenant_id = {tenant:String} GROUP BY actor)"
    )


def ensure(warehouse: Warehouse) -> None:
    for statement in STATEMENTS:
        warehouse.command(statement.format(db=warehouse.database))
