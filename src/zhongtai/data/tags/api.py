"""HTTP routes of the tag centre and audience selection."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse, Response

from zhongtai.data.oneid import service as oneid
from zhongtai.data.tags import service
from zhongtai.data.tags.model import Code
from zhongtai.platform.errors import ValidationFailed
from zhongtai.platform.http import Ctx, asker, reader, writer

router = APIRouter(prefix="/v1", tags=["data"])
CodePath = Annotated[Code, Path()]


@router.post("/tags", status_code=201, response_model=service.TagOut)
def define_tag(body: service.TagIn, ctx: Ctx = Depends(writer("data:write"))) -> JSONResponse:
    """标签定义: a rule, lifecycle, RFM, preference or price-sensitivity tag."""
    return ctx.mutate(lambda uow: service.describe(uow, service.define(uow, body)), status_code=201)


@router.get("/tags", response_model=list[service.TagOut])
def list_tags(ctx: Ctx = Depends(reader("data:read"))) -> list[service.TagOut]:
    with ctx.read() as uow:
        return [service.describe(uow, row) for row in service.definitions(uow)]


@router.get("/tags/{code}", response_model=service.TagOut)
def get_tag(code: CodePath, ctx: Ctx = Depends(reader("data:read"))) -> service.TagOut:
    """A tag and how many persons hold each value on its latest day."""
    with ctx.read() as uow:
        return service.describe(uow, service.get(uow, code))


@router.post("/tags/{code}/compute", response_model=service.TagOut)
def compute_tag(
    code: CodePath,
    as_of: Annotated[
        date | None, Query(description="Compute as at the end of this day (history)")
    ] = None,
    ctx: Ctx = Depends(writer("data:write")),
) -> JSONResponse:
    """Compute the tag now, or as of a past day (it is also computed every day)."""
    if as_of is not None and not 1970 <= as_of.year < 2262:
        raise ValidationFailed("as_of", "must be between 1970 and 2261")
    until = None if as_of is None else datetime.combine(as_of, time.max, tzinfo=UTC)
    return ctx.mutate(lambda uow: service.compute(uow, code, until))


@router.post("/audiences/count", response_model=service.CountOut)
def count_audience(
    body: service.CountIn, ctx: Ctx = Depends(asker("data:read"))
) -> service.CountOut:
    """圈选: how many persons an expression over tags selects, at once; with
    `breakdown`, per value of a tag. Changes nothing."""
    with ctx.read() as uow:
        return service.count(uow, body)


@router.post("/audiences", status_code=201, response_model=service.AudienceOut)
def save_audience(
    body: service.AudienceIn, ctx: Ctx = Depends(writer("data:write"))
) -> JSONResponse:
    return ctx.mutate(lambda uow: service.save(uow, body), status_code=201)


@router.get("/audiences", response_model=list[service.AudienceOut])
def list_audiences(ctx: Ctx = Depends(reader("data:read"))) -> list[service.AudienceOut]:
    with ctx.read() as uow:
        return service.audiences(uow)


@router.get("/audiences/{code}", response_model=service.AudienceOut)
def get_audience(code: CodePath, ctx: Ctx = Depends(reader("data:read"))) -> service.AudienceOut:
    """A saved audience, its size as of its tags' latest days."""
    with ctx.read() as uow:
        return service.audience(uow, code)


@router.get("/audiences/{code}/export", response_class=Response)
def export_audience(code: CodePath, ctx: Ctx = Depends(reader("data:read"))) -> Response:
    """导出: the audience's persons and their member ids, as CSV."""
    with ctx.read() as uow:
        text = service.export_csv(uow, code)
    headers = {"Content-Disposition": f'attachment; filename="{code}.csv"'}
    return Response(text, media_type="text/csv", headers=headers)


@router.post("/audiences/{code}/coupons", response_model=service.CouponsOut)
def issue_audience_coupons(
    code: CodePath, body: service.CouponsIn, ctx: Ctx = Depends(writer("promotion:write"))
) -> JSONResponse:
    """交给营销: a coupon of a template for each member of the audience."""
    ctx.principal.require("data:read")
    return ctx.mutate(lambda uow: service.issue_coupons(uow, code, body))


@router.get("/persons/{person}/tags", response_model=list[service.HeldOut])
def person_tags(
    person: Annotated[int, Path(ge=1, le=2**62)], ctx: Ctx = Depends(reader("data:read"))
) -> list[service.HeldOut]:
    """画像: the person's tag values."""
    with ctx.read() as uow:
        oneid.describe(uow, person)  # 404 for a person that is not there
        return service.held_by(uow, person)
