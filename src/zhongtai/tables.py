"""Every capability's tables, imported so that migrations see one complete metadata."""

from zhongtai.org import store as org_store
from zhongtai.platform import audit, idempotency, outbox, webhooks
from zhongtai.platform.db import Base

metadata = Base.metadata
__all__ = ["audit", "idempotency", "metadata", "org_store", "outbox", "webhooks"]
