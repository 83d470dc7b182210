"""HTTP routes of the collector: behaviour events in, counters and timelines out."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

import msgspec
from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse

from zhongtai.data.collector import model, service
from zhongtai.platform.errors import ProblemError, ValidationFailed
from zhongtai.platform.http import Ctx, reader, writer
from zhongtai.platform.ids import utcnow

router = APIRouter(prefix="/v1", tags=["data"])


class BatchTooLarge(ProblemError):
    status, type, title = 413, "payload-too-large", "Batch too large"


async def _events(request: Request) -> list[msgspec.Raw | None]:
    """The batch split into its events' JSON texts. The collector's own decoder reads the
    body, not FastAPI's: each event is parsed and checked once, in compiled code."""
    try:
        events = model.events_of(await request.body())
    except model.BadBatch as exc:
        raise ValidationFailed("events", str(exc)) from exc
    if not events:
        raise ValidationFailed("events", "at least one event")
    if len(events) > model.MAX_BATCH:
        message = f"at most {model.MAX_BATCH} events per batch"
        raise BatchTooLarge(message, errors=[{"field": "events", "message": message}])
    return events


def _inlined(schema: Any, defs: dict[str, Any]) -> Any:
    """A JSON schema with its `$defs` references written out (the event types nest
    without cycles), so the OpenAPI document needs no components of its own."""
    if isinstance(schema, dict):
        if ref := schema.get("$ref"):
            return _inlined(defs[ref.rsplit("/", 1)[-1]], defs)
        return {k: _inlined(v, defs) for k, v in schema.items() if k != "$defs"}
    if isinstance(schema, list):
        return [_inlined(v, defs) for v in schema]
    return schema


def _batch_schema() -> dict[str, Any]:
    events = msgspec.json.schema(list[model.EventIn])
    items = _inlined(events["items"], events.get("$defs", {}))
    items["properties"]["properties"] = {
        "type": "object",
        "description": "The event type's properties (e.g. `sku` for a product view); "
        f"others are kept, at most {model.MAX_PROPERTIES_BYTES} bytes",
    }
    array = {"type": "array", "items": items, "minItems": 1, "maxItems": model.MAX_BATCH}
    return {"type": "object", "properties": {"events": array}, "required": ["events"]}


@router.post(
    "/events",
    response_model=service.CollectOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _batch_schema()}},
        }
    },
)
def collect(
    ctx: Annotated[Ctx, Depends(writer("data:collect"))],
    events: Annotated[list[msgspec.Raw | None], Depends(_events)],
) -> JSONResponse:
    """采集: keeps the good events of a batch and says, per event, why a bad one was
    refused (`rejected[].errors[].field` names it). Counted per day and reason."""
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
