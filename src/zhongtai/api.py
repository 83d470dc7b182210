"""The FastAPI application: every capability's router on one platform."""

from __future__ import annotations

import asyncio
import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from zhongtai import __version__
from zhongtai.catalog import api as catalog_api
from zhongtai.catalog import service as catalog_service
from zhongtai.data.analysis import api as analysis_api
from zhongtai.data.analysis import reports as reports_api
from zhongtai.data.collector import api as collector_api
from zhongtai.data.collector import service as collector_service
from zhongtai.data.collector import stream as collector_stream
from zhongtai.data.oneid import api as oneid_api
from zhongtai.data.oneid import service as oneid_service
from zhongtai.data.tags import api as tags_api
from zhongtai.data.tags import service as tags_service
from zhongtai.inventory import api as inventory_api
from zhongtai.inventory import service as inventory_service
from zhongtai.members import api as members_api
from zhongtai.members import service as members_service
from zhongtai.members import workflows as member_workflows
from zhongtai.orders import api as orders_api
from zhongtai.orders import service as orders_service
from zhongtai.org import api as org_api
from zhongtai.org.service import load_principal
from zhongtai.platform import api as platform_api
from zhongtai.platform.config import Settings, load_settings
from zhongtai.platform.db import Database
from zhongtai.platform.errors import install_error_handlers
from zhongtai.platform.observability import RequestContextMiddleware
from zhongtai.platform.relay import Relay
from zhongtai.pricing import api as pricing_api
from zhongtai.promotions import api as promotions_api

ROUTERS = [
    org_api.router,
    catalog_api.router,
    pricing_api.router,
    inventory_api.router,
    orders_api.router,
    promotions_api.router,
    members_api.router,
    collector_api.router,
    oneid_api.router,
    tags_api.router,
    reports_api.router,
    analysis_api.router,
    platform_api.router,
    platform_api.ops,
]


# The collector tier's routes: whoever sends events signs in there too.
COLLECTOR_ROUTERS = [org_api.router, collector_api.router, platform_api.ops]

RELAY_JOBS = [
    catalog_service.announce_due_listings,
    inventory_service.expire_due,
    orders_service.cancel_unpaid,
    orders_service.retry_backorders,
    members_service.expire_due,
    members_service.review_due,
    member_workflows.birthday_coupons,
    collector_service.ingest,
    oneid_service.flush_mappings,
    tags_service.compute_due,
]


def load_plugins(settings: Settings) -> None:
    """Import extra modules (ZT_PLUGINS) that register event consumers."""
    for name in settings.plugins:
        importlib.import_module(name)


def create_app(settings: Settings | None = None, db: Database | None = None) -> FastAPI:
    settings = settings or load_settings()
    database = db or Database(settings)
    load_plugins(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = asyncio.Event()
        relaying = settings.run_relay and not settings.collector_only
        relay = Relay(database, settings, RELAY_JOBS) if relaying else None
        task = asyncio.create_task(relay.run_forever(stop)) if relay else None
        yield
        for close in app.state.closers:  # e.g. the hot path's batch workers
            close()
        stop.set()
        if task and relay:
            await task
            await relay.close()
        collector_stream.close_buffers()  # after the relay: its ingester takes from them
        if db is None:
            database.dispose()

    app = FastAPI(
        title="Zhongtai",
        version=__version__,
        description="Open omnichannel retail middle platform (中台). Errors are RFC 9457 "
        "problem+json; every mutating call accepts an Idempotency-Key header.",
        lifespan=lifespan,
    )
    app.state.settings = settings
    app.state.db = database
    app.state.principal_loader = load_principal
    app.state.closers = []
    install_error_handlers(app)
    app.add_middleware(RequestContextMiddleware)
    for router in COLLECTOR_ROUTERS if settings.collector_only else ROUTERS:
        app.include_router(router)
    return app
