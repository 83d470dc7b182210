"""HTTP routes of the collector: behaviour events in, counters and timelines out."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import JSONResponse

from zhongtai.data.collector import model, service
from zhongtai.platform.errors import ProblemError
from zhongtai.platform.http import Ctx, reader, writer
from zhongtai.platform.ids import utcnow

router = APIRouter(prefix="/v1", tags=["data"])


class BatchTooLarge(ProblemError):
    status, type, title = 413, "payload-too-large", "Batch too large"


Events = Annotated[
    list[Any],
    Body(
        embed=True,
        min_length=1,
        description=f"1 to {model.MAX_BATCH} behaviour events; each is checked on its own",
    ),
]


@router.post("/events", response_model=service.CollectOut)
def collect(events: Events, ctx: Ctx = Depends(writer("data:collect"))) -> JSONResponse:
    """采集: keeps the good events of a batch and says, per event, why a bad one was
    refused (`rejected[].errors[].field` names it). Counted per day and reason."""
    if len(events) > model.MAX_BATCH:
        message = f"at most {model.MAX_BATCH} events per batch"
        raise BatchTooLarge(message, errors=[{"field": "events", "message": message}])
    return ctx.mutate(lambda uow: service.collect(uow, events, key=ctx.idempotency_key))


@router.get("/events/stats", response_model=list[service.Tally])
def event_stats(
    days: Annotated[int, Query(ge=1, le=366)] = 7,
    ctx: Ctx = Depends(reader("data:read")),
) -> list[service.Tally]:
    """Events accepted and refused per day and reason over the last `days` days."""
    since = (utcnow() - timedelta(days=days - 1)).date().isoformat()
    with ctx.read() as uow:
        return service.tallies(uow, since)
