"""HTTP routes of the user centre: sign-in, org tree, roles, staff, keys, dictionary, codes."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from anyio import to_thread
from fastapi import APIRouter, Depends, Form, Path, Request
from fastapi.responses import JSONResponse

from zhongtai.org import model, service
from zhongtai.org.schemas import (
    ApiKeyCreated,
    ApiKeyIn,
    ApiKeyOut,
    CodeOut,
    CodingRuleIn,
    CodingRuleOut,
    DictionaryEntryIn,
    DictionaryEntryOut,
    DictionaryEntryPatch,
    DictType,
    Id,
    MeOut,
    OrgUnitIn,
    OrgUnitOut,
    OrgUnitPatch,
    PasswordIn,
    PermissionOut,
    RoleIn,
    RoleOut,
    RolePatch,
    StaffIn,
    StaffOut,
    StaffPatch,
    TokenForm,
    TokenOut,
)
from zhongtai.platform.errors import ValidationFailed
from zhongtai.platform.http import Ctx, reader, writer
from zhongtai.platform.security import issue_token
from zhongtai.platform.uow import UnitOfWork

router = APIRouter(prefix="/v1")
IdPath = Annotated[Id, Path()]
TypePath = Annotated[DictType, Path()]


@router.post("/auth/token", response_model=TokenOut, tags=["auth"])
async def token(request: Request, form: Annotated[TokenForm, Form()]) -> TokenOut:
    """OAuth2 token: `password` grant (username, password, tenant) or `client_credentials`."""
    state = request.app.state
    if form.grant_type == "client_credentials":
        if not form.client_id or not form.client_secret:
            raise ValidationFailed("client_id", "client_id and client_secret are required")
        claims = await to_thread.run_sync(
            service.authenticate_client, state.db, form.client_id, form.client_secret
        )
    else:
        for field in ("tenant", "username", "password"):
            if not getattr(form, field):
                raise ValidationFailed(field, "required for the password grant")
        claims = await to_thread.run_sync(
            service.authenticate_staff,
            state.db,
            state.settings,
            form.tenant or "",
            form.username or "",
            form.password or "",
        )
    ttl = state.settings.token_ttl_seconds
    access = issue_token(state.settings.secret_key, timedelta(seconds=ttl), claims)
    return TokenOut(access_token=access, expires_in=ttl)


@router.get("/me", response_model=MeOut, tags=["auth"])
def me(ctx: Ctx = Depends(reader("org:read"))) -> MeOut:
    p = ctx.principal
    return MeOut(
        tenant_id=p.tenant_id,
        actor_type=p.actor_type,
        actor_id=p.actor_id,
        name=p.name,
        permissions=sorted(p.permissions),
        scope=sorted(p.scope) if p.scope is not None else None,
    )


# --- organisation ---


@router.post("/org-units", status_code=201, response_model=OrgUnitOut, tags=["org"])
def create_org_unit(body: OrgUnitIn, ctx: Ctx = Depends(writer("org:write"))) -> JSONResponse:
    return ctx.mutate(
        lambda uow: OrgUnitOut.model_validate(service.create_unit(uow, body)), status_code=201
    )


@router.get("/org-units", response_model=list[OrgUnitOut], tags=["org"])
def list_org_units(ctx: Ctx = Depends(reader("org:read"))) -> list[OrgUnitOut]:
    with ctx.read() as uow:
        return [OrgUnitOut.model_validate(u) for u in service.list_units(uow)]


@router.get("/org-units/{unit_id}", response_model=OrgUnitOut, tags=["org"])
def get_org_unit(unit_id: IdPath, ctx: Ctx = Depends(reader("org:read"))) -> OrgUnitOut:
    with ctx.read() as uow:
        return OrgUnitOut.model_validate(service.get_unit(uow, unit_id))


@router.patch("/org-units/{unit_id}", response_model=OrgUnitOut, tags=["org"])
def update_org_unit(
    unit_id: IdPath, body: OrgUnitPatch, ctx: Ctx = Depends(writer("org:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: OrgUnitOut.model_validate(service.update_unit(uow, unit_id, body))
    )


# --- roles and permissions ---


@router.get("/permissions", response_model=list[PermissionOut], tags=["roles"])
def list_permissions(ctx: Ctx = Depends(reader("role:read"))) -> list[PermissionOut]:
    return [PermissionOut(name=k, description=v) for k, v in model.PERMISSIONS.items()]


@router.post("/roles", status_code=201, response_model=RoleOut, tags=["roles"])
def create_role(body: RoleIn, ctx: Ctx = Depends(writer("role:write"))) -> JSONResponse:
    return ctx.mutate(
        lambda uow: RoleOut.model_validate(service.create_role(uow, body)), status_code=201
    )


@router.get("/roles", response_model=list[RoleOut], tags=["roles"])
def list_roles(ctx: Ctx = Depends(reader("role:read"))) -> list[RoleOut]:
    with ctx.read() as uow:
        return [RoleOut.model_validate(r) for r in service.list_roles(uow)]


@router.get("/roles/{role_id}", response_model=RoleOut, tags=["roles"])
def get_role(role_id: IdPath, ctx: Ctx = Depends(reader("role:read"))) -> RoleOut:
    with ctx.read() as uow:
        return RoleOut.model_validate(service.get_role(uow, role_id))


@router.patch("/roles/{role_id}", response_model=RoleOut, tags=["roles"])
def update_role(
    role_id: IdPath, body: RolePatch, ctx: Ctx = Depends(writer("role:write"))
) -> JSONResponse:
    return ctx.mutate(lambda uow: RoleOut.model_validate(service.update_role(uow, role_id, body)))


# --- staff ---


@router.post("/staff", status_code=201, response_model=StaffOut, tags=["staff"])
def create_staff(body: StaffIn, ctx: Ctx = Depends(writer("staff:write"))) -> JSONResponse:
    return ctx.mutate(
        lambda uow: StaffOut.model_validate(service.create_staff(uow, body)), status_code=201
    )


@router.get("/staff", response_model=list[StaffOut], tags=["staff"])
def list_staff(ctx: Ctx = Depends(reader("staff:read"))) -> list[StaffOut]:
    with ctx.read() as uow:
        return [StaffOut.model_validate(s) for s in service.list_staff(uow)]


@router.get("/staff/{staff_id}", response_model=StaffOut, tags=["staff"])
def get_staff(staff_id: IdPath, ctx: Ctx = Depends(reader("staff:read"))) -> StaffOut:
    with ctx.read() as uow:
        return StaffOut.model_validate(service.get_staff(uow, staff_id))


@router.patch("/staff/{staff_id}", response_model=StaffOut, tags=["staff"])
def update_staff(
    staff_id: IdPath, body: StaffPatch, ctx: Ctx = Depends(writer("staff:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: StaffOut.model_validate(service.update_staff(uow, staff_id, body))
    )


@router.post("/staff/{staff_id}/password", response_model=StaffOut, tags=["staff"])
def set_password(
    staff_id: IdPath, body: PasswordIn, ctx: Ctx = Depends(writer("staff:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: StaffOut.model_validate(service.set_password(uow, staff_id, body.password))
    )


# --- API keys ---


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated, tags=["open platform"])
def create_api_key(body: ApiKeyIn, ctx: Ctx = Depends(writer("apikey:write"))) -> JSONResponse:
    def work(uow: UnitOfWork) -> ApiKeyCreated:
        key, secret = service.create_api_key(uow, body)
        return ApiKeyCreated.model_validate(
            {**ApiKeyOut.model_validate(key).model_dump(), "client_secret": secret}
        )

    return ctx.mutate(work, status_code=201)


@router.get("/api-keys", response_model=list[ApiKeyOut], tags=["open platform"])
def list_api_keys(ctx: Ctx = Depends(reader("apikey:write"))) -> list[ApiKeyOut]:
    with ctx.read() as uow:
        return [ApiKeyOut.model_validate(k) for k in service.list_api_keys(uow)]


@router.post("/api-keys/{key_id}/revoke", response_model=ApiKeyOut, tags=["open platform"])
def revoke_api_key(key_id: IdPath, ctx: Ctx = Depends(writer("apikey:write"))) -> JSONResponse:
    return ctx.mutate(lambda uow: ApiKeyOut.model_validate(service.revoke_api_key(uow, key_id)))


# --- base dictionary ---


@router.get("/dictionaries", response_model=list[str], tags=["dictionary"])
def list_dictionaries(ctx: Ctx = Depends(reader("dictionary:read"))) -> list[str]:
    with ctx.read() as uow:
        return service.list_dict_types(uow)


@router.get(
    "/dictionaries/{dict_type}/entries",
    response_model=list[DictionaryEntryOut],
    tags=["dictionary"],
)
def list_entries(
    dict_type: TypePath, ctx: Ctx = Depends(reader("dictionary:read"))
) -> list[DictionaryEntryOut]:
    with ctx.read() as uow:
        return [DictionaryEntryOut.model_validate(e) for e in service.list_entries(uow, dict_type)]


@router.post(
    "/dictionaries/{dict_type}/entries",
    status_code=201,
    response_model=DictionaryEntryOut,
    tags=["dictionary"],
)
def add_entry(
    dict_type: TypePath, body: DictionaryEntryIn, ctx: Ctx = Depends(writer("dictionary:write"))
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: DictionaryEntryOut.model_validate(service.add_entry(uow, dict_type, body)),
        status_code=201,
    )


@router.patch(
    "/dictionaries/{dict_type}/entries/{code}",
    response_model=DictionaryEntryOut,
    tags=["dictionary"],
)
def update_entry(
    dict_type: TypePath,
    code: Annotated[str, Path(max_length=40)],
    body: DictionaryEntryPatch,
    ctx: Ctx = Depends(writer("dictionary:write")),
) -> JSONResponse:
    return ctx.mutate(
        lambda uow: DictionaryEntryOut.model_validate(
            service.update_entry(uow, dict_type, code, body)
        )
    )


# --- coding rules ---


@router.get("/coding-rules", response_model=list[CodingRuleOut], tags=["coding rules"])
def list_coding_rules(ctx: Ctx = Depends(reader("coding:read"))) -> list[CodingRuleOut]:
    with ctx.read() as uow:
        return [CodingRuleOut.model_validate(r) for r in service.list_rules(uow)]


@router.post("/coding-rules", response_model=CodingRuleOut, tags=["coding rules"])
def set_coding_rule(body: CodingRuleIn, ctx: Ctx = Depends(writer("coding:write"))) -> JSONResponse:
    """Create or replace the number format of one kind of document."""
    return ctx.mutate(lambda uow: CodingRuleOut.model_validate(service.set_rule(uow, body)))


@router.post("/coding-rules/{kind}/next", response_model=CodeOut, tags=["coding rules"])
def next_code(kind: TypePath, ctx: Ctx = Depends(writer("coding:allocate"))) -> JSONResponse:
    """Take the next number (for documents made outside Zhongtai)."""
    return ctx.mutate(lambda uow: CodeOut(kind=kind, code=service.next_code(uow, kind)))
