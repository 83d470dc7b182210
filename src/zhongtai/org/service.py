"""Use cases of the user centre; each runs inside the caller's unit of work."""

from __future__ import annotations

import secrets
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from zhongtai.org import model
from zhongtai.org.schemas import (
    ApiKeyIn,
    CodingRuleIn,
    DictionaryEntryIn,
    DictionaryEntryPatch,
    OrgUnitIn,
    OrgUnitPatch,
    RoleIn,
    RolePatch,
    StaffIn,
    StaffPatch,
)
from zhongtai.org.store import (
    ApiKey,
    CodingRuleRow,
    CodingSequence,
    DictionaryEntry,
    LoginThrottle,
    OrgUnit,
    Role,
    Staff,
    Tenant,
)
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database, dialect_insert
from zhongtai.platform.errors import (
    Conflict,
    Forbidden,
    NotFound,
    TooManyRequests,
    Unauthorized,
    ValidationFailed,
)
from zhongtai.platform.ids import new_id, utcnow
from zhongtai.platform.security import Principal, TokenClaims, hash_secret, verify_secret
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork

ROOT_CODE = "HQ"


# --- tenants -------------------------------------------------------------------------


def create_tenant(
    db: Database, name: str, admin: str, password: str, display_name: str = ""
) -> str:
    """A new tenant with its HQ unit, built-in roles, default dictionary and first admin."""
    if problem := model.password_problem(password):
        raise ValidationFailed("password", problem)
    tenant_id = new_id()
    with UnitOfWork(db, tenant_id) as uow:
        if uow.session.scalar(select(Tenant.id).where(Tenant.name == name)) is not None:
            raise Conflict(f"tenant {name} already exists")
        uow.session.add(Tenant(id=tenant_id, name=name, display_name=display_name or name))
        root = _new_unit(uow.session, ROOT_CODE, display_name or name, model.UnitKind.company, None)
        roles = {
            key: Role(name=key, description=desc, permissions=sorted(perms), builtin=True)
            for key, (desc, perms) in model.BUILTIN_ROLES.items()
        }
        uow.session.add_all(roles.values())
        for dict_type, entries in model.DEFAULT_DICTIONARY.items():
            for order, (code, label) in enumerate(entries):
                uow.session.add(
                    DictionaryEntry(dict_type=dict_type, code=code, label=label, sort_order=order)
                )
        uow.session.flush()
        staff = Staff(
            username=admin,
            display_name=admin,
            password_hash=hash_secret(password),
            org_unit_id=root.id,
            role_ids=[roles["admin"].id],
            scope_unit_ids=[root.id],
        )
        uow.session.add(staff)
        uow.session.flush()
        uow.emit("tenant.created", {"tenant_id": tenant_id, "name": name, "admin_id": staff.id})
        uow.commit()
    return tenant_id


def tenant_id_of(db: Database, name: str) -> str | None:
    with db.session(write=False) as session:
        scope_session(session, None)
        return session.scalar(select(Tenant.id).where(Tenant.name == name))


# --- sign-in and the caller ------------------------------------------------------------


def _throttle(session: Session, tenant_id: str, username: str) -> LoginThrottle:
    row = session.get(LoginThrottle, (tenant_id, username))
    if row is None:
        row = LoginThrottle(tenant_id=tenant_id, username=username, failures=0)
        session.add(row)
    return row


def authenticate_staff(
    db: Database, settings: Settings, tenant_name: str, username: str, password: str
) -> TokenClaims:
    """The token claims for valid credentials; repeated failures lock the account a while."""
    tenant_id = tenant_id_of(db, tenant_name)
    if tenant_id is None:
        verify_secret(None, password)
        raise Unauthorized("invalid credentials")
    with db.session(write=True) as session:
        scope_session(session, None)
        throttle = _throttle(session, tenant_id, username)
        now = utcnow()
        if throttle.locked_until and throttle.locked_until > now:
            wait = int((throttle.locked_until - now).total_seconds()) + 1
            raise TooManyRequests(
                "too many failed sign-ins; try again later", headers={"Retry-After": str(wait)}
            )
        staff = session.scalar(
            select(Staff).where(Staff.tenant_id == tenant_id, Staff.username == username)
        )
        ok = verify_secret(staff.password_hash if staff else None, password)
        if ok and staff is not None and staff.active:
            if throttle in session.new:
                session.expunge(throttle)
            else:
                session.delete(throttle)
            session.commit()
            return TokenClaims(tenant_id, "staff", staff.id, staff.credentials_version)
        throttle.failures += 1
        if throttle.failures >= settings.login_max_failures:
            throttle.failures = 0
            throttle.locked_until = now + timedelta(seconds=settings.login_lockout_seconds)
        session.commit()
    raise Unauthorized("invalid credentials")


def authenticate_client(db: Database, client_id: str, secret: str) -> TokenClaims:
    with db.session(write=False) as session:
        scope_session(session, None)
        key = session.scalar(select(ApiKey).where(ApiKey.client_id == client_id))
        ok = verify_secret(key.secret_hash if key else None, secret)
        if not ok or key is None or not key.active:
            raise Unauthorized("invalid client credentials")
        if key.expires_at and key.expires_at <= utcnow():
            raise Unauthorized("API key expired")
        return TokenClaims(key.tenant_id, "client", key.id)


def _permissions(session: Session, role_ids: list[str]) -> frozenset[str]:
    if not role_ids:
        return frozenset()
    roles = session.scalars(select(Role).where(Role.id.in_(role_ids))).all()
    return frozenset().union(
        *(model.role_permissions(r.name, r.builtin, r.permissions) for r in roles)
    )


def _scope(session: Session, assigned: list[str]) -> frozenset[str] | None:
    """The caller's data scope, reading only the assigned units and their subtrees (a
    chain's HQ staff read one row, not the whole tree, on every request)."""
    query = select(OrgUnit.id, OrgUnit.path)
    roots = {u: p for u, p in session.execute(query.where(OrgUnit.id.in_(assigned)))}
    scope = model.scope_of(assigned, roots)
    if scope is None or not roots:  # HQ sees everything; nobody assigned sees nothing
        return scope
    under = or_(*(OrgUnit.path.startswith(p, autoescape=True) for p in roots.values()))
    return model.scope_of(assigned, {u: p for u, p in session.execute(query.where(under))})


def load_principal(db: Database, claims: TokenClaims) -> Principal:
    """The caller as of now: a disabled account, a changed password or a revoked key
    ends access at once, whatever the token's expiry says."""
    tenant_id, actor_type, actor_id = claims.tenant_id, claims.actor_type, claims.actor_id
    with UnitOfWork(db, tenant_id, write=False) as uow:
        s = uow.session
        actor: Staff | ApiKey | None
        if actor_type == "client":
            actor = s.scalar(select(ApiKey).where(ApiKey.id == actor_id))
            expired = (
                actor is not None
                and actor.expires_at is not None
                and (actor.expires_at <= utcnow())
            )
            if actor is None or not actor.active or expired:
                raise Unauthorized("API key revoked or expired")
            name = actor.name
        else:
            actor = s.scalar(select(Staff).where(Staff.id == actor_id))
            if actor is None or not actor.active:
                raise Unauthorized("account disabled")
            if actor.credentials_version != claims.version:
                raise Unauthorized("password changed since this token was issued")
            name = actor.username
        return Principal(
            tenant_id=tenant_id,
            actor_type=actor_type,
            actor_id=actor_id,
            name=name,
            permissions=_permissions(s, actor.role_ids),
            scope=_scope(s, actor.scope_unit_ids),
        )


# --- organisation tree -----------------------------------------------------------------


def _new_unit(
    session: Session, code: str, name: str, kind: model.UnitKind, parent: OrgUnit | None
) -> OrgUnit:
    unit_id = new_id()
    path = model.child_path(parent.path if parent else "", unit_id)
    unit = OrgUnit(
        id=unit_id,
        code=code,
        name=name,
        kind=kind.value,
        parent_id=parent.id if parent else None,
        path=path,
    )
    session.add(unit)
    return unit


def create_unit(uow: UnitOfWork, cmd: OrgUnitIn) -> OrgUnit:
    parent = uow.get(OrgUnit, cmd.parent_id, "parent unit")
    if not model.can_hold(model.UnitKind(parent.kind), cmd.kind):
        raise ValidationFailed("kind", f"a {parent.kind} cannot hold a {cmd.kind.value}")
    if uow.session.scalar(select(OrgUnit.id).where(OrgUnit.code == cmd.code)):
        raise Conflict(f"org unit code {cmd.code} already used", field="code")
    unit = _new_unit(uow.session, cmd.code, cmd.name, cmd.kind, parent)
    uow.session.flush()
    uow.emit("org_unit.created", {"id": unit.id, "code": unit.code, "kind": unit.kind})
    return unit


def list_units(uow: UnitOfWork) -> list[OrgUnit]:
    return list(uow.session.scalars(select(OrgUnit).order_by(OrgUnit.path)).all())


def get_unit(uow: UnitOfWork, unit_id: str) -> OrgUnit:
    return uow.get(OrgUnit, unit_id, "org unit")


def update_unit(uow: UnitOfWork, unit_id: str, patch: OrgUnitPatch) -> OrgUnit:
    unit = get_unit(uow, unit_id)
    for field, value in patch.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(unit, field, value)
    uow.emit("org_unit.updated", {"id": unit.id, "name": unit.name, "active": unit.active})
    return unit


# --- roles -----------------------------------------------------------------------------


def _check_permissions(names: list[str]) -> None:
    unknown = sorted(set(names) - set(model.PERMISSIONS))
    if unknown:
        raise ValidationFailed("permissions", f"unknown permissions {unknown}")


def create_role(uow: UnitOfWork, cmd: RoleIn) -> Role:
    _check_permissions(cmd.permissions)
    if uow.session.scalar(select(Role.id).where(Role.name == cmd.name)):
        raise Conflict(f"role {cmd.name} already exists", field="name")
    role = Role(
        name=cmd.name, description=cmd.description, permissions=sorted(set(cmd.permissions))
    )
    uow.session.add(role)
    uow.session.flush()
    uow.emit("role.created", {"id": role.id, "name": role.name})
    return role


def list_roles(uow: UnitOfWork) -> list[Role]:
    return list(uow.session.scalars(select(Role).order_by(Role.name)).all())


def get_role(uow: UnitOfWork, role_id: str) -> Role:
    return uow.get(Role, role_id, "role")


def update_role(uow: UnitOfWork, role_id: str, patch: RolePatch) -> Role:
    role = get_role(uow, role_id)
    if role.builtin and role.name == "admin":
        raise Forbidden("the admin role cannot be changed")
    if patch.permissions is not None:
        _check_permissions(patch.permissions)
        role.permissions = sorted(set(patch.permissions))
    if patch.description is not None:
        role.description = patch.description
    uow.emit("role.updated", {"id": role.id, "permissions": role.permissions})
    return role


# --- staff -----------------------------------------------------------------------------


def _grantable(uow: UnitOfWork, role_ids: list[str]) -> list[str]:
    """Roles that exist and grant nothing beyond the granter's own permissions."""
    roles = uow.session.scalars(select(Role).where(Role.id.in_(role_ids))).all()
    missing = sorted(set(role_ids) - {r.id for r in roles})
    if missing:
        raise ValidationFailed("role_ids", f"unknown roles {missing}")
    mine = uow.principal.permissions if uow.principal else frozenset(model.PERMISSIONS)
    beyond = sorted({p for r in roles for p in r.permissions} - mine)
    if beyond:
        raise Forbidden(f"cannot grant permissions you do not hold: {beyond}", field="role_ids")
    return sorted(set(role_ids))


def _visible_units(uow: UnitOfWork, unit_ids: list[str], field: str) -> list[str]:
    found = set(uow.session.scalars(select(OrgUnit.id).where(OrgUnit.id.in_(unit_ids))).all())
    missing = sorted(set(unit_ids) - found)
    if missing:
        raise ValidationFailed(field, f"unknown org units {missing}")
    return sorted(set(unit_ids))


def create_staff(uow: UnitOfWork, cmd: StaffIn) -> Staff:
    if problem := model.password_problem(cmd.password):
        raise ValidationFailed("password", problem)
    home = _visible_units(uow, [cmd.org_unit_id], "org_unit_id")[0]
    scope = _visible_units(uow, cmd.scope_unit_ids or [home], "scope_unit_ids")
    if uow.session.scalar(select(Staff.id).where(Staff.username == cmd.username)):
        raise Conflict(f"username {cmd.username} already taken", field="username")
    staff = Staff(
        username=cmd.username,
        display_name=cmd.display_name,
        password_hash=hash_secret(cmd.password),
        org_unit_id=home,
        role_ids=_grantable(uow, cmd.role_ids),
        scope_unit_ids=scope,
    )
    uow.session.add(staff)
    uow.session.flush()
    uow.emit("staff.created", {"id": staff.id, "username": staff.username})
    return staff


def list_staff(uow: UnitOfWork) -> list[Staff]:
    return list(uow.session.scalars(select(Staff).order_by(Staff.username)).all())


def get_staff(uow: UnitOfWork, staff_id: str) -> Staff:
    return uow.get(Staff, staff_id, "staff")


def update_staff(uow: UnitOfWork, staff_id: str, patch: StaffPatch) -> Staff:
    staff = get_staff(uow, staff_id)
    if uow.principal and staff.id == uow.principal.actor_id and patch.active is False:
        raise ValidationFailed("active", "you cannot disable your own account")
    if patch.display_name is not None:
        staff.display_name = patch.display_name
    if patch.active is not None:
        staff.active = patch.active
    if patch.org_unit_id is not None:
        staff.org_unit_id = _visible_units(uow, [patch.org_unit_id], "org_unit_id")[0]
    if patch.role_ids is not None:
        staff.role_ids = _grantable(uow, patch.role_ids)
    if patch.scope_unit_ids is not None:
        staff.scope_unit_ids = _visible_units(uow, patch.scope_unit_ids, "scope_unit_ids")
    uow.emit("staff.updated", {"id": staff.id, "active": staff.active})
    return staff


def set_password(uow: UnitOfWork, staff_id: str, password: str) -> Staff:
    staff = get_staff(uow, staff_id)
    if problem := model.password_problem(password):
        raise ValidationFailed("password", problem)
    staff.password_hash = hash_secret(password)
    staff.credentials_version += 1
    uow.emit("staff.password_changed", {"id": staff.id})
    return staff


# --- API keys (open platform) -------------------------------------------------------


def create_api_key(uow: UnitOfWork, cmd: ApiKeyIn) -> tuple[ApiKey, str]:
    if cmd.expires_at is not None and cmd.expires_at <= utcnow():
        raise ValidationFailed("expires_at", "must be in the future")
    root = uow.session.scalar(select(OrgUnit.id).where(OrgUnit.parent_id.is_(None)))
    scope = _visible_units(uow, cmd.scope_unit_ids or [root or ""], "scope_unit_ids")
    secret = secrets.token_urlsafe(32)
    key = ApiKey(
        name=cmd.name,
        client_id="zt_" + secrets.token_hex(12),
        secret_hash=hash_secret(secret),
        role_ids=_grantable(uow, cmd.role_ids),
        scope_unit_ids=scope,
        expires_at=cmd.expires_at,
    )
    uow.session.add(key)
    uow.session.flush()
    uow.emit("api_key.created", {"id": key.id, "client_id": key.client_id})
    return key, secret


def list_api_keys(uow: UnitOfWork) -> list[ApiKey]:
    return list(uow.session.scalars(select(ApiKey).order_by(ApiKey.created_at)).all())


def revoke_api_key(uow: UnitOfWork, key_id: str) -> ApiKey:
    key = uow.get(ApiKey, key_id, "API key")
    key.active = False
    uow.emit("api_key.revoked", {"id": key.id})
    return key


# --- base dictionary --------------------------------------------------------------------


def add_entry(uow: UnitOfWork, dict_type: str, cmd: DictionaryEntryIn) -> DictionaryEntry:
    exists = select(DictionaryEntry.id).where(
        DictionaryEntry.dict_type == dict_type, DictionaryEntry.code == cmd.code
    )
    if uow.session.scalar(exists):
        raise Conflict(f"{dict_type} already has code {cmd.code}", field="code")
    entry = DictionaryEntry(
        dict_type=dict_type, code=cmd.code, label=cmd.label, sort_order=cmd.sort_order
    )
    uow.session.add(entry)
    uow.session.flush()
    uow.emit("dictionary.changed", {"dict_type": dict_type, "code": cmd.code})
    return entry


def list_entries(uow: UnitOfWork, dict_type: str) -> list[DictionaryEntry]:
    query = (
        select(DictionaryEntry)
        .where(DictionaryEntry.dict_type == dict_type)
        .order_by(DictionaryEntry.sort_order, DictionaryEntry.code)
    )
    return list(uow.session.scalars(query).all())


def list_dict_types(uow: UnitOfWork) -> list[str]:
    query = select(DictionaryEntry.dict_type).distinct().order_by(DictionaryEntry.dict_type)
    return list(uow.session.scalars(query).all())


def update_entry(
    uow: UnitOfWork, dict_type: str, code: str, patch: DictionaryEntryPatch
) -> DictionaryEntry:
    entry = uow.session.scalar(
        select(DictionaryEntry).where(
            DictionaryEntry.dict_type == dict_type, DictionaryEntry.code == code
        )
    )
    if entry is None:
        raise NotFound(f"{dict_type} has no code {code}")
    for field, value in patch.model_dump(exclude_unset=True, exclude_none=True).items():
        setattr(entry, field, value)
    uow.emit("dictionary.changed", {"dict_type": dict_type, "code": code})
    return entry


def require_entry(uow: UnitOfWork, dict_type: str, code: str, field: str) -> None:
    """For other capabilities: `code` must be an active value of `dict_type`."""
    query = select(DictionaryEntry.id).where(
        DictionaryEntry.dict_type == dict_type,
        DictionaryEntry.code == code,
        DictionaryEntry.active.is_(True),
    )
    if uow.session.scalar(query) is None:
        raise ValidationFailed(field, f"{code!r} is not an active {dict_type}")


def site_ids(uow: UnitOfWork, ids: list[str], field: str) -> None:
    """For other capabilities: each id must be a store or warehouse the caller can see."""
    sites = [
        k.value
        for k in (model.UnitKind.store, model.UnitKind.warehouse, model.UnitKind.front_warehouse)
    ]
    found = set(
        uow.session.scalars(
            select(OrgUnit.id).where(OrgUnit.id.in_(ids), OrgUnit.kind.in_(sites))
        ).all()
    )
    if missing := sorted(set(ids) - found):
        raise ValidationFailed(field, f"unknown stores {missing}")


# --- coding rules (编码规则) -------------------------------------------------------------


def _rule_of(row: CodingRuleRow) -> model.CodingRule:
    return model.CodingRule(
        row.kind, row.prefix, row.date_format, row.width, model.Reset(row.reset), row.timezone
    )


def rule_for(uow: UnitOfWork, kind: str) -> model.CodingRule:
    row = uow.session.scalar(select(CodingRuleRow).where(CodingRuleRow.kind == kind))
    return _rule_of(row) if row else model.default_rule(kind)


def set_rule(uow: UnitOfWork, cmd: CodingRuleIn) -> model.CodingRule:
    rule = model.CodingRule(
        cmd.kind, cmd.prefix, cmd.date_format, cmd.width, cmd.reset, cmd.timezone
    )
    for field, problem in rule.problems():
        raise ValidationFailed(field, problem)
    try:
        ZoneInfo(cmd.timezone)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed("timezone", "unknown IANA time zone") from exc
    row = uow.session.scalar(select(CodingRuleRow).where(CodingRuleRow.kind == cmd.kind))
    if row is None:
        row = CodingRuleRow(kind=cmd.kind)
        uow.session.add(row)
    row.prefix, row.date_format, row.width = rule.prefix, rule.date_format, rule.width
    row.reset, row.timezone = rule.reset.value, rule.timezone
    uow.emit("coding_rule.changed", {"kind": cmd.kind, "prefix": cmd.prefix})
    return rule


def list_rules(uow: UnitOfWork) -> list[model.CodingRule]:
    own = {r.kind: _rule_of(r) for r in uow.session.scalars(select(CodingRuleRow)).all()}
    return [own.get(kind, rule) for kind, rule in model.DEFAULT_RULES.items()] + [
        r for k, r in own.items() if k not in model.DEFAULT_RULES
    ]


def _advance(session: Session, tenant_id: str, kind: str, period: str) -> int:
    """Take the next value in one statement; the row lock holds until the caller commits."""
    dialect = session.get_bind().dialect.name
    insert = dialect_insert(dialect)
    first = insert(CodingSequence).values(
        tenant_id=tenant_id, kind=kind, period=period, last_value=1
    )
    stmt = first.on_conflict_do_update(
        index_elements=["tenant_id", "kind", "period"],
        set_={"last_value": CodingSequence.last_value + 1},
    ).returning(CodingSequence.last_value)
    return int(session.execute(stmt).scalar_one())


def next_code(uow: UnitOfWork, kind: str, at: datetime | None = None) -> str:
    """The next number of `kind`: gap-free because it is taken in the document's transaction."""
    rule = rule_for(uow, kind)
    day: date = (at or utcnow()).astimezone(ZoneInfo(rule.timezone)).date()
    seq = _advance(uow.session, uow.tenant_id, kind, rule.period(day))
    return rule.format(day, seq)
