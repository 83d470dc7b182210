"""HTTP routes of the platform itself: webhooks, the event feed, the audit log, operations."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import select, text

from zhongtai.platform import webhooks
from zhongtai.platform.audit import AuditEntry
from zhongtai.platform.errors import problem
from zhongtai.platform.http import Ctx, reader, writer
from zhongtai.platform.outbox import OutboxEvent

router = APIRouter(prefix="/v1")
ops = APIRouter(tags=["operations"])
IdPath = Annotated[str, Path(min_length=1, max_length=26, pattern=r"^[0-9A-Za-z]+$")]
After = Annotated[str | None, Query(max_length=26, description="Cursor: the last id seen")]
Limit = Annotated[int, Query(ge=1, le=500)]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class WebhookIn(BaseModel):
    url: str = Field(max_length=1000)
    event_types: list[Annotated[str, Field(max_length=100)]] = Field(
        default_factory=lambda: ["*"], max_length=100
    )


class WebhookPatch(BaseModel):
    url: str | None = Field(None, max_length=1000)
    event_types: list[Annotated[str, Field(max_length=100)]] | None = Field(None, max_length=100)
    active: bool | None = None


class WebhookOut(Out):
    id: str
    url: str
    event_types: list[str]
    active: bool
    created_at: datetime


class WebhookCreated(WebhookOut):
    secret: str = Field(description="HMAC-SHA256 key of the Zhongtai-Signature header")


class DeliveryOut(Out):
    id: str
    webhook_id: str
    event_id: str
    status: str
    attempts: int
    next_attempt_at: datetime
    last_status: int | None
    last_error: str | None
    delivered_at: datetime | None


class EventOut(Out):
    id: str
    type: str
    version: int
    payload: dict[str, Any]
    occurred_at: datetime


class AuditOut(Out):
    id: str
    at: datetime
    actor_type: str
    actor_id: str
    actor_name: str
    action: str
    method: str
    path: str
    status_code: int
    request_id: str
    idempotency_key: str | None
    target_ids: list[str]
    changes: list[dict[str, Any]]


@router.post("/webhooks", status_code=201, response_model=WebhookCreated, tags=["webhooks"])
def register_webhook(body: WebhookIn, ctx: Ctx = Depends(writer("webhook:write"))) -> JSONResponse:
    return ctx.mutate(
        lambda uow: WebhookCreated.model_validate(
            webhooks.register(uow, body.url, body.event_types)
        ),
        status_code=201,
    )


@router.get("/webhooks", response_model=list[WebhookOut], tags=["webhooks"])
def list_webhooks(ctx: Ctx = Depends(reader("webhook:read"))) -> list[WebhookOut]:
    with ctx.read() as uow:
        return [WebhookOut.model_validate(h) for h in webhooks.list_webhooks(uow)]


@router.get("/webhooks/{webhook_id}", response_model=WebhookOut, tags=["webhooks"])
def get_webhook(webhook_id: IdPath, ctx: Ctx = Depends(reader("webhook:read"))) -> WebhookOut:
    with ctx.read() as uow:
        return WebhookOut.model_validate(webhooks.get_webhook(uow, webhook_id))


@router.patch("/webhooks/{webhook_id}", response_model=WebhookOut, tags=["webhooks"])
def change_webhook(
    webhook_id: IdPath, body: WebhookPatch, ctx: Ctx = Depends(writer("webhook:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: WebhookOut.model_validate(
            webhooks.change(
                uow, webhook_id, url=body.url, event_types=body.event_types, active=body.active
            )
        )
    )


@router.get(
    "/webhooks/{webhook_id}/deliveries", response_model=list[DeliveryOut], tags=["webhooks"]
)
def list_deliveries(
    webhook_id: IdPath,
    status: Literal["pending", "delivered", "dead"] | None = None,
    limit: Limit = 100,
    ctx: Ctx = Depends(reader("webhook:read")),
) -> list[DeliveryOut]:
    with ctx.read() as uow:
        rows = webhooks.deliveries(uow, webhook_id, status, limit)
        return [DeliveryOut.model_validate(d) for d in rows]


@router.post(
    "/webhook-deliveries/{delivery_id}/retry", response_model=DeliveryOut, tags=["webhooks"]
)
def retry_delivery(
    delivery_id: IdPath, ctx: Ctx = Depends(writer("webhook:write"))
) -> JSONResponse:
    return ctx.mutate(lambda uow: DeliveryOut.model_validate(webhooks.retry(uow, delivery_id)))


def _page(
    ctx: Ctx,
    model: type[OutboxEvent | AuditEntry],
    out: type[Out],
    after: str | None,
    limit: int,
    **equal: str | None,
) -> list[Any]:
    """One page in id (time) order after the cursor, filtered by the given equalities."""
    query = select(model).order_by(model.id).limit(limit)
    query = query.filter_by(**{k: v for k, v in equal.items() if v})
    if after:
        query = query.where(model.id > after)
    with ctx.read() as uow:
        return [out.model_validate(row) for row in uow.session.scalars(query).all()]


@router.get("/events", response_model=list[EventOut], tags=["events"])
def event_feed(
    after: After = None,
    type: Annotated[str | None, Query(max_length=100)] = None,
    limit: Limit = 100,
    ctx: Ctx = Depends(reader("event:read")),
) -> list[EventOut]:
    """The tenant's events in order, for integrations that pull rather than subscribe."""
    return _page(ctx, OutboxEvent, EventOut, after, limit, type=type)


@router.get("/audit-log", response_model=list[AuditOut], tags=["audit"])
def audit_log(
    after: After = None,
    actor_id: Annotated[str | None, Query(max_length=26)] = None,
    limit: Limit = 100,
    ctx: Ctx = Depends(reader("audit:read")),
) -> list[AuditOut]:
    return _page(ctx, AuditEntry, AuditOut, after, limit, actor_id=actor_id)


@ops.get("/healthz")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@ops.get("/readyz", response_model=None)
def readyz(request: Request) -> Response:
    from zhongtai.platform.migrate import is_current

    db = request.app.state.db
    try:
        with db.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        current = is_current(db.engine)
    except Exception as exc:  # any failure to reach the database means not ready
        return problem(503, "unavailable", "Not ready", f"database: {exc}", request)
    if not current:
        return problem(503, "unavailable", "Not ready", "migrations pending", request)
    return JSONResponse({"status": "ready", "database": db.dialect})


@ops.get("/metrics", response_class=Response)
def metrics() -> Response:
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
