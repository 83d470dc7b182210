"""Every capability's tables, imported so that migrations see one complete metadata."""

from zhongtai.catalog import store as catalog_store
from zhongtai.data.collector import store as collector_store
from zhongtai.data.oneid import store as oneid_store
from zhongtai.data.tags import store as tags_store
from zhongtai.inventory import store as inventory_store
from zhongtai.members import store as members_store
from zhongtai.orders import store as orders_store
from zhongtai.org import store as org_store
from zhongtai.payments import store as payments_store
from zhongtai.platform import audit, idempotency, outbox, webhooks
from zhongtai.platform.db import Base
from zhongtai.pricing import store as pricing_store
from zhongtai.promotions import store as promotions_store

metadata = Base.metadata
__all__ = [
    "audit",
    "catalog_store",
    "collector_store",
    "idempotency",
    "inventory_store",
    "members_store",
    "metadata",
    "oneid_store",
    "orders_store",
    "org_store",
    "outbox",
    "payments_store",
    "pricing_store",
    "promotions_store",
    "tags_store",
    "webhooks",
]
