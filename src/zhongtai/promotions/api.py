"""HTTP routes of the marketing centre: promotions, coupon templates and coupons."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from zhongtai.org.schemas import Id
from zhongtai.platform.http import Ctx, reader, writer
from zhongtai.platform.ids import utcnow
from zhongtai.platform.uow import UnitOfWork
from zhongtai.promotions import effect, service
from zhongtai.promotions.schemas import (
    CouponCode,
    CouponOut,
    CouponTemplateIn,
    CouponTemplateOut,
    EffectOut,
    IssueIn,
    MemberRef,
    PromotionIn,
    PromotionOut,
)
from zhongtai.promotions.store import PromotionRow

router = APIRouter(prefix="/v1", tags=["promotions"])
IdPath = Annotated[Id, Path()]


def _out(row: PromotionRow) -> PromotionOut:
    return PromotionOut.model_validate(service.as_out(row))


@router.post("/promotions", status_code=201, response_model=PromotionOut)
def create_promotion(
    body: PromotionIn, ctx: Ctx = Depends(writer("promotion:write"))
) -> JSONResponse:
    """A promotion (促销): benefit, line scope, channels, stores, tiers, window, budget."""
    return ctx.mutate(lambda uow: _out(service.create(uow, body)), status_code=201)


@router.get("/promotions", response_model=list[PromotionOut])
def list_promotions(
    live: Annotated[bool, Query(description="Only those running now")] = False,
    ctx: Ctx = Depends(reader("promotion:read")),
) -> list[PromotionOut]:
    with ctx.read() as uow:
        return [_out(r) for r in service.list_promotions(uow, utcnow() if live else None)]


@router.get("/promotions/{promotion_id}", response_model=PromotionOut)
def get_promotion(
    promotion_id: IdPath, ctx: Ctx = Depends(reader("promotion:read"))
) -> PromotionOut:
    with ctx.read() as uow:
        return _out(service.get(uow, promotion_id))


@router.post("/promotions/{promotion_id}/end", response_model=PromotionOut)
def end_promotion(
    promotion_id: IdPath, ctx: Ctx = Depends(writer("promotion:write"))
) -> JSONResponse:
    """End a promotion now; orders already placed keep their discounts."""
    return ctx.mutate(lambda uow: _out(service.end(uow, promotion_id)))


@router.get("/promotions/{promotion_id}/effect", response_model=EffectOut)
def promotion_effect(
    promotion_id: IdPath,
    baseline: Annotated[effect.Baseline, Query()] = effect.Baseline.pre_period,
    ctx: Ctx = Depends(reader("promotion:read")),
) -> EffectOut:
    """效果评估: orders, units, sales, discount cost, new members, and incremental sales
    against the same stores' pre-period or the promotion's holdout members, with ROI."""
    with ctx.read() as uow:
        return effect.evaluate(uow, service.get(uow, promotion_id), baseline)


@router.post("/coupon-templates", status_code=201, response_model=CouponTemplateOut)
def create_template(
    body: CouponTemplateIn, ctx: Ctx = Depends(writer("promotion:write"))
) -> JSONResponse:
    """A coupon template (券模板) unlocking a coupon-only promotion."""

    def work(uow: UnitOfWork) -> CouponTemplateOut:
        return CouponTemplateOut.model_validate(service.create_template(uow, body))

    return ctx.mutate(work, status_code=201)


@router.get("/coupon-templates", response_model=list[CouponTemplateOut])
def list_templates(ctx: Ctx = Depends(reader("promotion:read"))) -> list[CouponTemplateOut]:
    with ctx.read() as uow:
        return [CouponTemplateOut.model_validate(t) for t in service.list_templates(uow)]


@router.get("/coupon-templates/{template_id}", response_model=CouponTemplateOut)
def get_template(
    template_id: IdPath, ctx: Ctx = Depends(reader("promotion:read"))
) -> CouponTemplateOut:
    with ctx.read() as uow:
        return CouponTemplateOut.model_validate(service.get_template(uow, template_id))


@router.post(
    "/coupon-templates/{template_id}/issue", status_code=201, response_model=list[CouponOut]
)
def issue_coupons(
    template_id: IdPath, body: IssueIn, ctx: Ctx = Depends(writer("promotion:write"))
) -> JSONResponse:
    """发券: a coupon to each member named, or printed codes; never beyond the limits."""

    def work(uow: UnitOfWork) -> list[CouponOut]:
        return [CouponOut.model_validate(c) for c in service.issue(uow, template_id, body)]

    return ctx.mutate(work, status_code=201)


@router.get("/coupons", response_model=list[CouponOut])
def find_coupons(
    member: Annotated[MemberRef | None, Query(description="The member holding them")] = None,
    code: Annotated[CouponCode | None, Query(description="A coupon's code")] = None,
    ctx: Ctx = Depends(reader("promotion:read")),
) -> list[CouponOut]:
    """A member's coupons, or the coupon of a code (e.g. scanned at the till)."""
    with ctx.read() as uow:
        return [CouponOut.model_validate(c) for c in service.find_coupons(uow, member, code)]


@router.get("/coupons/{coupon_id}", response_model=CouponOut)
def get_coupon(coupon_id: IdPath, ctx: Ctx = Depends(reader("promotion:read"))) -> CouponOut:
    with ctx.read() as uow:
        return CouponOut.model_validate(service.get_coupon(uow, coupon_id))
