"""HTTP routes of the price service."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from zhongtai.catalog import service as catalog
from zhongtai.catalog.schemas import LongCode, PriceIn, PriceOut, ResolvedPriceOut, Slug
from zhongtai.org import service as org
from zhongtai.org.schemas import Id
from zhongtai.platform.errors import NotFound
from zhongtai.platform.http import Ctx, reader, writer
from zhongtai.platform.ids import utcnow
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import model, service

router = APIRouter(prefix="/v1", tags=["prices"])


@router.post("/prices", status_code=201, response_model=PriceOut)
def set_price(body: PriceIn, ctx: Ctx = Depends(writer("price:write"))) -> JSONResponse:
    """Set a price for a SKU, optionally only for a channel, store, member tier or time."""

    def work(uow: UnitOfWork) -> PriceOut:
        sku = catalog.sku_by_code(uow, body.sku)
        if body.channel:
            org.require_entry(uow, "channel", body.channel, "channel")
        if body.store_id:
            org.site_ids(uow, [body.store_id], "store_id")
        currency = catalog.settings_of(uow).currency
        change = service.PriceChange(
            sku.id,
            body.amount,
            currency,
            body.channel,
            body.store_id,
            body.member_tier,
            body.valid_from,
            body.valid_to,
        )
        return PriceOut.model_validate(service.set_price(uow, change))

    return ctx.mutate(work, status_code=201)


@router.get("/prices/resolve", response_model=ResolvedPriceOut)
def resolve_price(
    sku: Annotated[LongCode, Query(description="SKU code")],
    channel: Slug | None = None,
    store_id: Annotated[Id | None, Query()] = None,
    member_tier: Slug | None = None,
    at: datetime | None = None,
    ctx: Ctx = Depends(reader("price:read")),
) -> ResolvedPriceOut:
    """The price to charge: the most specific valid rule (see pricing.model)."""
    with ctx.read() as uow:
        row = catalog.sku_by_code(uow, sku)
        query = model.PriceQuery(at or utcnow(), channel, store_id, member_tier)
        rule = service.resolve(uow, row.id, query)
        if rule is None:
            raise NotFound(f"no price applies to {sku} here and now")
        return ResolvedPriceOut(
            sku=sku,
            amount=rule.amount,
            currency=rule.currency,
            rule=PriceOut.model_validate(rule),
        )


@router.get("/skus/{sku_id}/prices", response_model=list[PriceOut])
def price_history(
    sku_id: Annotated[Id, Path()], ctx: Ctx = Depends(reader("price:read"))
) -> list[PriceOut]:
    """Every price ever set for the SKU, oldest first; `superseded_by` links the history."""
    with ctx.read() as uow:
        catalog.get_sku(uow, sku_id)
        return [PriceOut.model_validate(r) for r in service.history(uow, sku_id)]
