"""会员画像: everything the platform knows of one person, read top to bottom from each
capability that holds a part of it (OneID, the tag centre, the member centre, the order
centre, the warehouse)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from zhongtai.data.collector import service as collector
from zhongtai.data.oneid import service as oneid
from zhongtai.data.tags import service as tags
from zhongtai.members import service as members
from zhongtai.orders import service as orders
from zhongtai.platform.uow import UnitOfWork

ORDERS, EVENTS = 20, 50


class MemberCard(BaseModel):
    id: str
    code: str
    status: str
    tier: str | None
    points: int


class OrderLine(BaseModel):
    id: str
    number: str
    channel: str
    status: str
    total: int
    created_at: datetime


class ProfileOut(BaseModel):
    person: oneid.PersonOut
    members: list[MemberCard]
    tags: list[tags.HeldOut]
    audiences: list[str]
    orders: list[OrderLine]
    timeline: list[collector.EventOut]


def profile(uow: UnitOfWork, person: int) -> ProfileOut:
    """One person: identities and their history, the member accounts among them with tier
    and points, tag values, saved audiences they fall in, latest orders and behaviour."""
    who = oneid.describe(uow, person)
    ids = [i.value for i in who.identities if i.kind == "member"]
    cards = [members.find(uow, m) for m in ids]
    accounts = [
        MemberCard(id=m.id, code=m.code, status=m.status, tier=m.tier, points=m.points_balance)
        for m in cards
        if m is not None
    ]
    placed = sorted(
        (o for account in accounts for o in orders.of_member(uow, account.id, ORDERS)),
        key=lambda o: o.created_at,
        reverse=True,
    )[:ORDERS]
    return ProfileOut(
        person=who,
        members=accounts,
        tags=tags.held_by(uow, person),
        audiences=tags.audiences_holding(uow, person),
        orders=[
            OrderLine(
                id=o.id,
                number=o.number,
                channel=o.channel,
                status=o.status,
                total=o.total,
                created_at=o.created_at,
            )
            for o in placed
        ],
        timeline=collector.timeline(uow.db, uow.tenant_id, oneid.actors_of(uow, person), EVENTS),
    )
