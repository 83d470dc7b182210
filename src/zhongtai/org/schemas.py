"""Request and response shapes of the user centre."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from zhongtai.org.model import Reset, UnitKind

Code = Annotated[str, StringConstraints(min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_.-]+$")]
Name = Annotated[str, StringConstraints(min_length=1, max_length=200, strip_whitespace=True)]
Username = Annotated[
    str, StringConstraints(min_length=2, max_length=64, pattern=r"^[A-Za-z0-9_.@-]+$")
]
Password = Annotated[str, StringConstraints(min_length=8, max_length=200)]
Id = Annotated[str, StringConstraints(min_length=1, max_length=26, pattern=r"^[0-9A-Za-z]+$")]


class Out(BaseModel):
    model_config = ConfigDict(from_attributes=True)


class TokenOut(BaseModel):
    access_token: str
    token_type: Literal["bearer"] = "bearer"
    expires_in: int


class TokenForm(BaseModel):
    """OAuth2 token request: `password` grant for staff, `client_credentials` for partners."""

    grant_type: Literal["password", "client_credentials"] = "password"
    username: str | None = Field(None, max_length=64)
    password: str | None = Field(None, max_length=200)
    tenant: str | None = Field(None, max_length=64)
    client_id: str | None = Field(None, max_length=40)
    client_secret: str | None = Field(None, max_length=200)
    scope: str = ""


class MeOut(BaseModel):
    tenant_id: str
    actor_type: str
    actor_id: str
    name: str
    permissions: list[str]
    scope: list[str] | None


class OrgUnitIn(BaseModel):
    code: Code
    name: Name
    kind: UnitKind
    parent_id: Id


class OrgUnitPatch(BaseModel):
    name: Name | None = None
    active: bool | None = None


class OrgUnitOut(Out):
    id: str
    code: str
    name: str
    kind: UnitKind
    parent_id: str | None
    active: bool
    created_at: datetime


class RoleIn(BaseModel):
    name: Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]
    description: str = Field("", max_length=400)
    permissions: list[str] = Field(default_factory=list, max_length=200)


class RolePatch(BaseModel):
    description: str | None = Field(None, max_length=400)
    permissions: list[str] | None = Field(None, max_length=200)


class RoleOut(Out):
    id: str
    name: str
    description: str
    permissions: list[str]
    builtin: bool


class PermissionOut(BaseModel):
    name: str
    description: str


class StaffIn(BaseModel):
    username: Username
    display_name: Name
    password: Password
    org_unit_id: Id
    role_ids: list[Id] = Field(default_factory=list, max_length=20)
    scope_unit_ids: list[Id] | None = Field(
        None, max_length=100, description="Units whose subtrees this person sees; default: home"
    )


class StaffPatch(BaseModel):
    display_name: Name | None = None
    active: bool | None = None
    org_unit_id: Id | None = None
    role_ids: list[Id] | None = Field(None, max_length=20)
    scope_unit_ids: list[Id] | None = Field(None, max_length=100)


class PasswordIn(BaseModel):
    password: Password


class StaffOut(Out):
    id: str
    username: str
    display_name: str
    org_unit_id: str
    role_ids: list[str]
    scope_unit_ids: list[str]
    active: bool
    created_at: datetime


class ApiKeyIn(BaseModel):
    name: Name
    role_ids: list[Id] = Field(min_length=1, max_length=20)
    scope_unit_ids: list[Id] | None = Field(None, max_length=100)
    expires_at: datetime | None = None


class ApiKeyOut(Out):
    id: str
    name: str
    client_id: str
    role_ids: list[str]
    scope_unit_ids: list[str]
    active: bool
    expires_at: datetime | None
    created_at: datetime


class ApiKeyCreated(ApiKeyOut):
    client_secret: str = Field(description="Shown once; store it now")


DictType = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[a-z0-9_]+$")]


class DictionaryEntryIn(BaseModel):
    code: Code
    label: Name
    sort_order: int = Field(0, ge=-1_000_000, le=1_000_000)


class DictionaryEntryPatch(BaseModel):
    label: Name | None = None
    sort_order: int | None = Field(None, ge=-1_000_000, le=1_000_000)
    active: bool | None = None


class DictionaryEntryOut(Out):
    id: str
    dict_type: str
    code: str
    label: str
    sort_order: int
    active: bool


class CodingRuleIn(BaseModel):
    kind: DictType
    prefix: str = Field(max_length=12)
    date_format: str = "YYYYMMDD"
    width: int = Field(6, ge=1, le=12)
    reset: Reset = Reset.daily
    timezone: str = Field("Asia/Shanghai", max_length=64)


class CodingRuleOut(Out):
    kind: str
    prefix: str
    date_format: str
    width: int
    reset: Reset
    timezone: str


class CodeOut(BaseModel):
    kind: str
    code: str
