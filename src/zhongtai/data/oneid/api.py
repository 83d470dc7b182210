"""HTTP routes of OneID: look a person up, see their identifiers, history and behaviour,
and split an identifier out of a person."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from zhongtai.data import profile
from zhongtai.data.collector import service as collector
from zhongtai.data.oneid import service
from zhongtai.data.oneid.model import IdKind
from zhongtai.platform.errors import ValidationFailed
from zhongtai.platform.http import Ctx, reader, writer

router = APIRouter(prefix="/v1", tags=["data"])
PersonPath = Annotated[int, Path(ge=1, le=2**62)]


class SplitIn(BaseModel):
    kind: IdKind
    value: str = Field(min_length=1, max_length=200)
    reason: str = Field(min_length=1, max_length=500, description="Why: kept in the history")


@router.get("/persons", response_model=list[service.PersonOut])
def find_persons(
    kind: Annotated[IdKind | None, Query()] = None,
    value: Annotated[str | None, Query(min_length=1, max_length=200)] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ctx: Ctx = Depends(reader("data:read")),
) -> list[service.PersonOut]:
    """The person (自然人) an identifier (`kind` and `value`) belongs to now, as a list of
    one (none if OneID has not seen it); without them, the persons seen last."""
    if (kind is None) != (value is None):
        raise ValidationFailed("value" if kind else "kind", "give kind and value together")
    with ctx.read() as uow:
        if kind is not None and value is not None:
            found = service.find_person(uow, kind, value)
            return [] if found is None else [service.describe(uow, found)]
        return [service.describe(uow, p) for p in service.latest_persons(uow, limit)]


@router.get("/persons/{person}", response_model=service.PersonOut)
def get_person(person: PersonPath, ctx: Ctx = Depends(reader("data:read"))) -> service.PersonOut:
    """A person's identifiers and the history of their merges and splits."""
    with ctx.read() as uow:
        return service.describe(uow, person)


@router.get("/persons/{person}/events", response_model=list[collector.EventOut])
def person_events(
    person: PersonPath,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    ctx: Ctx = Depends(reader("data:read")),
) -> list[collector.EventOut]:
    """行为轨迹: the person's behaviour and business events, newest first, from every
    identifier OneID has put together."""
    with ctx.read() as uow:
        service.describe(uow, person)  # 404 for a person that is not there
        actors = service.actors_of(uow, person)
    return collector.timeline(ctx.db, ctx.principal.tenant_id, actors, limit)


@router.post("/persons/{person}/split", response_model=service.PersonOut)
def split_person(
    person: PersonPath, body: SplitIn, ctx: Ctx = Depends(writer("data:write"))
) -> JSONResponse:
    """拆分: take an identifier out of a person (a shared tablet, a wrong link). It links
    nothing from now on; past events follow it without rewriting history."""
    return ctx.mutate(lambda uow: service.detach(uow, person, body.kind, body.value, body.reason))


@router.get("/persons/{person}/profile", response_model=profile.ProfileOut)
def person_profile(
    person: PersonPath, ctx: Ctx = Depends(reader("data:read"))
) -> profile.ProfileOut:
    """会员画像: identities, member accounts (tier, points), tags, audiences, latest orders
    and the behaviour timeline of one person."""
    with ctx.read() as uow:
        return profile.profile(uow, person)
