"""HTTP routes of the member centre: members, tiers, points and customer service."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from zhongtai.catalog.schemas import Slug
from zhongtai.members import service, workflows
from zhongtai.members.schemas import (
    AdjustIn,
    ConsentIn,
    EarnRuleIn,
    EarnRuleOut,
    EntryOut,
    IdentityIn,
    Member360Out,
    MemberIn,
    MemberOut,
    MemberPatch,
    MemberQuery,
    MergeIn,
    MergeOut,
    NoteIn,
    PointsOut,
    PointsSettingsIn,
    PointsSettingsOut,
    RedeemIn,
    TicketIn,
    TicketMoveIn,
    TicketOut,
    TicketQuery,
    TierIn,
    TierOut,
)
from zhongtai.org.schemas import Id
from zhongtai.platform.http import Ctx, reader, writer

router = APIRouter(prefix="/v1", tags=["members"])
IdPath = Annotated[Id, Path()]
CodePath = Annotated[Slug, Path(description="Tier code, also the price lists' member_tier")]


# --- members ----------------------------------------------------------------------------


@router.post("/members", status_code=201, response_model=MemberOut)
def register(body: MemberIn, ctx: Ctx = Depends(writer("member:write"))) -> JSONResponse:
    """注册 in any channel with at least one identity; 409 naming the field when an
    identity already belongs to a member."""
    return ctx.mutate(
        lambda uow: service.describe(uow, service.register(uow, body)), status_code=201
    )


@router.get("/members", response_model=list[MemberOut])
def search_members(
    q: Annotated[MemberQuery, Query()], ctx: Ctx = Depends(reader("member:read"))
) -> list[MemberOut]:
    """By any reference (`q`: id, card number, phone, e-mail, WeChat id; a merged member
    answers with the one it was merged into), or all with a cursor."""
    with ctx.read() as uow:
        return [service.describe(uow, m) for m in service.search(uow, q)]


@router.get("/members/{member_id}", response_model=MemberOut)
def get_member(member_id: IdPath, ctx: Ctx = Depends(reader("member:read"))) -> MemberOut:
    with ctx.read() as uow:
        return service.describe(uow, service.get(uow, member_id))


@router.patch("/members/{member_id}", response_model=MemberOut)
def update_member(
    member_id: IdPath, body: MemberPatch, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: service.describe(uow, service.update_member(uow, member_id, body))
    )


@router.get("/members/{member_id}/360", response_model=Member360Out)
def member_360(member_id: IdPath, ctx: Ctx = Depends(reader("member:read"))) -> Member360Out:
    """会员360: identities, tier, points, orders, tickets, coupons and merges on one page."""
    with ctx.read() as uow:
        return workflows.view_360(uow, member_id)


@router.post("/members/{member_id}/identities", status_code=201, response_model=MemberOut)
def add_identity(
    member_id: IdPath, body: IdentityIn, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    """One more identity; the same again changes nothing, another member's is 409."""
    return ctx.mutate(
        lambda uow: service.describe(uow, service.add_identity(uow, member_id, body)),
        status_code=201,
    )


@router.delete("/members/{member_id}/identities/{identity_id}", response_model=MemberOut)
def remove_identity(
    member_id: IdPath, identity_id: IdPath, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: service.describe(uow, service.remove_identity(uow, member_id, identity_id))
    )


@router.post("/members/{member_id}/consents", status_code=201, response_model=MemberOut)
def record_consent(
    member_id: IdPath, body: ConsentIn, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    """授权: a grant or withdrawal for one purpose, kept as evidence."""
    return ctx.mutate(
        lambda uow: service.describe(uow, service.record_consent(uow, member_id, body)),
        status_code=201,
    )


@router.post("/members/{member_id}/merge", response_model=MergeOut)
def merge_member(
    member_id: IdPath, body: MergeIn, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    """账号融合: `source` folds into this member with its identities, orders, points
    (lots keep their expiry), coupons, tier progress, tickets and consents; the source
    becomes `merged`. 422 for itself or an unknown source, 409 for a merged or
    forgotten member."""
    return ctx.mutate(
        lambda uow: MergeOut.model_validate(workflows.merge(uow, member_id, body.source))
    )


@router.post("/members/{member_id}/forget", response_model=MemberOut)
def forget_member(member_id: IdPath, ctx: Ctx = Depends(writer("member:write"))) -> JSONResponse:
    """被遗忘权: personal data erased (name, birthday, identities, ticket text; orders
    lose the phone they were placed with); the member id, points ledger, orders and
    money are kept."""
    return ctx.mutate(lambda uow: service.describe(uow, workflows.forget(uow, member_id)))


@router.post("/members/{member_id}/tier-review", response_model=MemberOut)
def review_tier(member_id: IdPath, ctx: Ctx = Depends(writer("member:write"))) -> JSONResponse:
    """定级复核 now: the tier the activity in its window earns, up or down."""
    return ctx.mutate(lambda uow: service.describe(uow, service.review(uow, member_id)))


# --- points -----------------------------------------------------------------------------


@router.get("/members/{member_id}/points", response_model=PointsOut)
def member_points(
    member_id: IdPath,
    before: Annotated[Id | None, Query(description="Cursor: entries older than this")] = None,
    limit: Annotated[int, Query(ge=1, le=200)] = 50,
    ctx: Ctx = Depends(reader("member:read")),
) -> PointsOut:
    """积分: the balance (the ledger's sum), the lots left (first to expire first) and
    the ledger, newest first."""
    with ctx.read() as uow:
        return service.points_view(uow, service.get(uow, member_id), before, limit)


@router.post("/members/{member_id}/points/redemptions", status_code=201, response_model=EntryOut)
def redeem_points(
    member_id: IdPath, body: RedeemIn, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    """积分兑换: spend points on a gift or service; 409 `not-enough-points` (field
    `points`) when the member holds fewer."""
    return ctx.mutate(
        lambda uow: EntryOut.model_validate(service.redeem(uow, member_id, body)),
        status_code=201,
    )


@router.post("/members/{member_id}/points/adjustments", status_code=201, response_model=EntryOut)
def adjust_points(
    member_id: IdPath, body: AdjustIn, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    """积分调整 with a reason: + a new lot, - from what is held (never below zero)."""
    return ctx.mutate(
        lambda uow: EntryOut.model_validate(service.adjust(uow, member_id, body)),
        status_code=201,
    )


@router.get("/points/settings", response_model=PointsSettingsOut)
def points_settings(ctx: Ctx = Depends(reader("member:read"))) -> PointsSettingsOut:
    with ctx.read() as uow:
        return PointsSettingsOut.model_validate(service.settings_of(uow))


@router.put("/points/settings", response_model=PointsSettingsOut)
def set_points_settings(
    body: PointsSettingsIn, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    """The points policy: value when spent (积分抵现), default earning, validity."""
    return ctx.mutate(lambda uow: PointsSettingsOut.model_validate(service.set_settings(uow, body)))


@router.get("/points/rules", response_model=list[EarnRuleOut])
def earn_rules(ctx: Ctx = Depends(reader("member:read"))) -> list[EarnRuleOut]:
    with ctx.read() as uow:
        return [EarnRuleOut.model_validate(r) for r in service.earn_rules(uow)]


@router.put("/points/rules/{code}", response_model=EarnRuleOut)
def set_earn_rule(
    code: Annotated[Slug, Path()], body: EarnRuleIn, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    """积分规则 by channel, category or a dated points promotion (e.g. double points)."""
    return ctx.mutate(
        lambda uow: EarnRuleOut.model_validate(service.set_earn_rule(uow, code, body))
    )


# --- tiers ------------------------------------------------------------------------------


@router.get("/member-tiers", response_model=list[TierOut])
def list_tiers(ctx: Ctx = Depends(reader("member:read"))) -> list[TierOut]:
    with ctx.read() as uow:
        return [TierOut.model_validate(t) for t in service.tiers(uow)]


@router.get("/member-tiers/{code}", response_model=TierOut)
def get_tier(code: CodePath, ctx: Ctx = Depends(reader("member:read"))) -> TierOut:
    with ctx.read() as uow:
        return TierOut.model_validate(service.get_tier(uow, code))


@router.put("/member-tiers/{code}", response_model=TierOut)
def set_tier(
    code: CodePath, body: TierIn, ctx: Ctx = Depends(writer("member:write"))
) -> JSONResponse:
    """会员等级: thresholds over a rolling window and benefits (member price list by this
    code, discount, free delivery, birthday coupon). Upgrades are immediate, downgrades
    wait for the review."""
    return ctx.mutate(lambda uow: TierOut.model_validate(service.set_tier(uow, code, body)))


# --- customer service -------------------------------------------------------------------


@router.post("/tickets", status_code=201, response_model=TicketOut)
def open_ticket(body: TicketIn, ctx: Ctx = Depends(writer("ticket:write"))) -> JSONResponse:
    """客服工单 about a member and/or an order."""
    return ctx.mutate(
        lambda uow: service.describe_ticket(uow, workflows.open_ticket(uow, body)),
        status_code=201,
    )


@router.get("/tickets", response_model=list[TicketOut])
def search_tickets(
    q: Annotated[TicketQuery, Query()], ctx: Ctx = Depends(reader("member:read"))
) -> list[TicketOut]:
    """The ticket queue, newest first (without notes)."""
    with ctx.read() as uow:
        return [TicketOut.model_validate(t) for t in service.search_tickets(uow, q)]


@router.get("/tickets/{ticket_id}", response_model=TicketOut)
def get_ticket(ticket_id: IdPath, ctx: Ctx = Depends(reader("member:read"))) -> TicketOut:
    with ctx.read() as uow:
        return service.describe_ticket(uow, service.get_ticket(uow, ticket_id))


@router.post("/tickets/{ticket_id}/notes", status_code=201, response_model=TicketOut)
def add_note(
    ticket_id: IdPath, body: NoteIn, ctx: Ctx = Depends(writer("ticket:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: service.describe_ticket(uow, service.add_note(uow, ticket_id, body)),
        status_code=201,
    )


@router.post("/tickets/{ticket_id}/status", response_model=TicketOut)
def move_ticket(
    ticket_id: IdPath, body: TicketMoveIn, ctx: Ctx = Depends(writer("ticket:write"))
) -> JSONResponse:
    """open -> in_progress -> waiting -> resolved -> closed (or reopened); 409 otherwise."""
    return ctx.mutate(
        lambda uow: service.describe_ticket(uow, service.move_ticket(uow, ticket_id, body))
    )
