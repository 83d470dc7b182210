"""Demo data: a small retail chain to click through after `make demo`."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import select

from zhongtai import demo_behaviour
from zhongtai.catalog import importer
from zhongtai.catalog import service as catalog
from zhongtai.catalog.model import Pack
from zhongtai.catalog.schemas import CategoryIn, ListingIn, ProductIn, SettingsIn, SkuIn
from zhongtai.demo_catalog import FAMILIES, catalog_rows
from zhongtai.inventory import service as inventory
from zhongtai.inventory.model import AllocationKind, LocationType
from zhongtai.inventory.schemas import (
    AllocationIn,
    BinIn,
    CountIn,
    LocationIn,
    ReceiptIn,
    ReceiptLine,
    ReserveIn,
    ReserveLine,
    SafetyStockIn,
    SlotIn,
    TransferIn,
)
from zhongtai.members import service as members
from zhongtai.members import workflows as member_workflows
from zhongtai.members.model import ConsentPurpose
from zhongtai.members.schemas import AdjustIn, ConsentIn, MemberIn, NoteIn, TicketIn
from zhongtai.members.schemas import TierIn as MemberTierIn
from zhongtai.orders import carts, returns
from zhongtai.orders import service as orders
from zhongtai.orders.model import FulfilmentType
from zhongtai.orders.schemas import (
    FulfilmentIn,
    InvoiceIn,
    OrderIn,
    OrderLineIn,
    OrderQuery,
    PaymentIn,
    ReturnIn,
    ReturnLineIn,
    TaxRateIn,
)
from zhongtai.org import service as org
from zhongtai.org.model import UnitKind
from zhongtai.org.schemas import DictionaryEntryIn, OrgUnitIn, StaffIn
from zhongtai.org.store import OrgUnit, Role
from zhongtai.platform.db import Database
from zhongtai.platform.ids import utcnow
from zhongtai.platform.uow import UnitOfWork
from zhongtai.pricing import service as pricing
from zhongtai.promotions import service as promotions
from zhongtai.promotions.model import Kind
from zhongtai.promotions.schemas import (
    BenefitIn,
    CouponTemplateIn,
    IssueIn,
    PromotionIn,
    ScopeIn,
    TierIn,
)

DEMO_TENANT = "demo"
DEMO_ADMIN = ("admin", "demo-pass-2026")
DEMO_MANAGER = ("manager.sh01", "demo-pass-2026")
DEMO_MEMBER = "13800000000"

REGIONS = [("EAST", "华东大区 East region"), ("SOUTH", "华南大区 South region")]
# (code, name, type, region, lat, lng, service radius in metres)
SITES = [
    ("SH01", "上海徐汇店 Shanghai Xuhui", LocationType.store, "EAST", 31.1886, 121.4365, 3000),
    ("SH02", "上海浦东店 Shanghai Pudong", LocationType.store, "EAST", 31.2304, 121.5440, 3000),
    ("HZ01", "杭州西湖店 Hangzhou Xihu", LocationType.store, "EAST", 30.2590, 120.1300, 3000),
    ("GZ01", "广州天河店 Guangzhou Tianhe", LocationType.store, "SOUTH", 23.1322, 113.3270, 3000),
    ("DC-EAST", "华东配送中心 East DC", LocationType.warehouse, "EAST", 31.3760, 121.2650, 100_000),
    (
        "FW-SH01",
        "上海前置仓 Shanghai front warehouse",
        LocationType.front_warehouse,
        "EAST",
        31.2000,
        121.4500,
        2500,
    ),
]
# Opening stock of every tenth demo SKU: (location, units)
OPENING_STOCK = [("DC-EAST", 200), ("SH01", 20), ("FW-SH01", 30)]


def load(db: Database, tenant: str = DEMO_TENANT, catalog_size: int = 5000) -> str:
    """Create the demo tenant, its chain and its catalogue; returns the tenant id."""
    tenant_id = org.create_tenant(db, tenant, DEMO_ADMIN[0], DEMO_ADMIN[1], "示范零售 Demo Retail")
    with UnitOfWork(db, tenant_id) as uow:
        ids = {u.code: u.id for u in uow.session.scalars(select(OrgUnit)).all()}
        for code, name in REGIONS:
            unit = org.create_unit(
                uow, OrgUnitIn(code=code, name=name, kind=UnitKind.region, parent_id=ids["HQ"])
            )
            ids[code] = unit.id
        for code, name, kind, region, lat, lng, radius in SITES:
            site = inventory.create_location(
                uow,
                LocationIn(
                    code=code,
                    name=name,
                    type=kind,
                    parent_id=ids[region],
                    lat=lat,
                    lng=lng,
                    service_radius_m=radius,
                    opening_hours={"daily": "08:00-22:00"},
                ),
            )
            ids[code] = site.id
        manager_role = uow.session.scalar(select(Role.id).where(Role.name == "store_manager"))
        org.create_staff(
            uow,
            StaffIn(
                username=DEMO_MANAGER[0],
                display_name="张店长 Store manager Zhang",
                password=DEMO_MANAGER[1],
                org_unit_id=ids["SH01"],
                role_ids=[manager_role or ""],
            ),
        )
        org.add_entry(
            uow, "return_reason", DictionaryEntryIn(code="size", label="尺码不合适 Wrong size")
        )
        uow.commit()
    with UnitOfWork(db, tenant_id) as uow:
        rows = _catalog(uow, ids, catalog_size)
        _opening_stock(uow, rows)
        _marketing(uow)
        _members(uow)
        shoppers = 60 if catalog_size >= 1000 else 4  # tests load small tenants often
        demo_behaviour.load(uow, [r["sku_code"] for r in rows[:200]], shoppers)
        uow.commit()
    return tenant_id


def _opening_stock(uow: UnitOfWork, rows: list[dict[str, str]]) -> None:
    expiry = date.today() + timedelta(days=365)
    stocked = rows[::10]
    codes = [r["sku_code"] for r in stocked]
    serialised = {r["sku_code"] for r in stocked if r["pack"] == "electronics"}
    for location, qty in OPENING_STOCK:
        lines = [
            ReceiptLine(sku=c, qty=qty, batch="B2611", expiry=expiry)
            if c not in serialised
            else ReceiptLine(  # a few units, each with its serial number
                sku=c, qty=3, serials=[f"SN-{c}-{location}-{n}" for n in range(3)]
            )
            for c in codes
        ]
        inventory.receive(uow, ReceiptIn(location=location, lines=lines))
    _allocation(uow, codes)
    # A mall order to a flat in Xuhui, waiting for payment.
    orders.place(
        uow,
        OrderIn(
            channel="mall",
            member=DEMO_MEMBER,
            lines=[OrderLineIn(sku=codes[0], qty=1), OrderLineIn(sku=codes[1], qty=2)],
            fulfilment=FulfilmentIn(type=FulfilmentType.delivery, lat=31.1900, lng=121.4400),
        ),
    )
    # A sale at the Xuhui till, paid in cash with change.
    till = orders.place(
        uow,
        OrderIn(
            channel="pos",
            lines=[OrderLineIn(sku=codes[0], qty=1)],
            fulfilment=FulfilmentIn(type=FulfilmentType.in_store, location="SH01"),
        ),
    )
    cash = PaymentIn(provider="cash", tendered=till.total + 10_000)
    orders.pay(uow, till.id, cash)
    orders.request_invoice(uow, till.id, InvoiceIn(title="个人 Personal"))
    # The shopper came back: the item was damaged.
    returns.request(
        uow, till.id, ReturnIn(reason="damaged", lines=[ReturnLineIn(line_no=1, qty=1)])
    )
    # The same member's cart, filled on the phone, open on the tablet too.
    carts.set_line(uow, DEMO_MEMBER, codes[2], 1)
    carts.set_line(uow, DEMO_MEMBER, codes[3], 2)
    # A shopper's cart holding two units at the Xuhui store for a week.
    hold = ReserveIn(
        owner="cart-demo-1",
        channel="mall",
        ttl_seconds=7 * 86400,
        lines=[ReserveLine(sku=codes[0], qty=2, location="SH01")],
    )
    inventory.reserve(uow, hold)
    # A shelf count under way at the Pudong store.
    inventory.open_count(uow, CountIn(location="SH02"))
    # Replenishment of the front warehouse from the DC, still on the road.
    inventory.send_transfer(
        uow,
        TransferIn.model_validate(
            {"from": "DC-EAST", "to": "FW-SH01", "lines": [{"sku": codes[1], "qty": 12}]}
        ),
    )


def _allocation(uow: UnitOfWork, codes: list[str]) -> None:
    """库存分配 and put-away as a chain would set them up."""
    rules = [
        AllocationIn(kind=AllocationKind.hold, channel="pos", location="HZ01", pct=20),
        AllocationIn(kind=AllocationKind.source, channel="community", location="FW-SH01"),
        AllocationIn(
            kind=AllocationKind.quota,
            channel="live",
            location="DC-EAST",
            sku=codes[-1],
            qty=50,
            note="直播秒杀 live-stream flash sale",
        ),
    ]
    for rule in rules:
        inventory.create_allocation(uow, rule)
    inventory.set_safety_stock(uow, SafetyStockIn(sku=codes[3], location="SH01", qty=5))
    _unit, dc = inventory.resolve_location(uow, "DC-EAST")
    for bin_code in ("A-01-01", "A-01-02", "B-01-01"):
        inventory.add_bin(uow, dc.id, BinIn(code=bin_code, zone=bin_code[0]))
    inventory.slot(uow, SlotIn(sku=codes[0], location="DC-EAST", bin="A-01-01"))


def _marketing(uow: UnitOfWork) -> None:
    """A spend threshold on snacks (满99减10, 满199减30) running for a year, and a welcome
    coupon for tops held by the demo member."""
    start = utcnow() - timedelta(days=1)
    year = {"starts_at": start, "ends_at": start + timedelta(days=365)}
    tiers = [TierIn(threshold=9_900, discount=1_000), TierIn(threshold=19_900, discount=3_000)]
    promotions.create(
        uow,
        PromotionIn(
            code="SNACKS-SPEND",
            name="零食满减 Snacks: 10 off 99, 30 off 199",
            kind=Kind.threshold,
            benefit=BenefitIn(tiers=tiers),
            scope=ScopeIn(categories=["snacks"]),
            **year,
        ),
    )
    promotions.create(
        uow,
        PromotionIn(
            code="WELCOME-TOPS",
            name="新人券 Welcome: 20 off tops",
            kind=Kind.amount_off,
            benefit=BenefitIn(amount=2_000),
            scope=ScopeIn(categories=["tops"]),
            coupon_only=True,
            **year,
        ),
    )
    template = promotions.create_template(
        uow,
        CouponTemplateIn(
            code="WELCOME",
            name="新人券 Welcome coupon",
            promotion="WELCOME-TOPS",
            per_member=1,
            valid_days=30,
            valid_from=year["starts_at"],
            valid_to=year["ends_at"],
        ),
    )
    promotions.issue(uow, template.id, IssueIn(members=[DEMO_MEMBER]))


# (code, name, rank, qualifying spend in fen over a year, discount bp, free delivery,
# birthday coupon template)
MEMBER_TIERS = [
    ("regular", "普通会员 Regular", 0, None, 0, False, None),
    ("silver", "银卡会员 Silver", 1, 100_000, 200, False, None),
    ("gold", "金卡会员 Gold", 2, 500_000, 500, True, "WELCOME"),
]


def _members(uow: UnitOfWork) -> None:
    """会员: three tiers; the demo member (phone, e-mail, WeChat), who also signed up in
    the community mini-program under another account (merged into one); a welcome gift
    of points; a till sale paid partly with points; a ticket about it."""
    for code, name, rank, spend, discount, free, coupon in MEMBER_TIERS:
        tier = MemberTierIn(
            name=name,
            rank=rank,
            min_spend=spend,
            discount_bp=discount,
            free_delivery=free,
            birthday_coupon=coupon,
        )
        members.set_tier(uow, code, tier)
    member = members.register(
        uow,
        MemberIn(
            channel="mall",
            name="王小明 Wang Xiaoming",
            birthday=date(1990, 5, 20),
            phone=DEMO_MEMBER,
            email="wang.xiaoming@example.com",
            wechat_union_id="oUnion-demo-wang",
            consents=[ConsentIn(purpose=ConsentPurpose.marketing_sms, granted=True)],
        ),
    )
    mini = members.register(uow, MemberIn(channel="community", wechat_open_id="oOpen-demo-wang"))
    member_workflows.merge(uow, member.id, mini.id)
    members.adjust(uow, member.id, AdjustIn(points=500, reason="新会员礼 Welcome gift"))
    mall = orders.search(uow, OrderQuery(member=DEMO_MEMBER))[0]
    sku = orders.lines_of(uow, mall.id)[0].sku_code
    till = orders.place(
        uow,
        OrderIn(
            channel="pos",
            member=DEMO_MEMBER,
            lines=[OrderLineIn(sku=sku, qty=1)],
            fulfilment=FulfilmentIn(type=FulfilmentType.in_store, location="SH01"),
        ),
    )
    orders.pay(uow, till.id, PaymentIn(provider="points", amount=300))  # 300 points
    orders.pay(uow, till.id, PaymentIn(provider="cash"))
    ticket = member_workflows.open_ticket(
        uow,
        TicketIn(
            subject="积分未到账 Points not showing",
            description="The shopper asks when the points of today's purchase arrive.",
            member=DEMO_MEMBER,
            order_id=till.id,
            channel="pos",
        ),
    )
    members.add_note(uow, ticket.id, NoteIn(text="Explained: points arrive when paid."))


def _catalog(uow: UnitOfWork, units: dict[str, str], size: int) -> list[dict[str, str]]:
    """Every industry pack on, the demo catalogue imported, and a few real-life touches:
    a store's own price, prescription drugs off the online channels, installation service."""
    catalog.set_settings(uow, SettingsIn(packs=list(Pack)))
    for code, name, *_rest in FAMILIES:
        catalog.create_category(uow, CategoryIn(code=code, name=name))
    # Fresh produce is taxed at the lower 9% (agricultural products); the rest at 13%.
    orders.set_tax_rate(uow, TaxRateIn(category="fresh", rate_bp=900))
    rows = catalog_rows(size)
    importer.run(uow, rows)
    first = {r["category"]: r["sku_code"] for r in reversed(rows)}
    snack = catalog.sku_by_code(uow, first["snacks"])
    pricing.set_price(uow, pricing.PriceChange(snack.id, 590, "CNY", store_id=units["SH01"]))
    for row in rows:
        if row["prescription_only"]:
            rx = catalog.sku_by_code(uow, row["sku_code"])
            for channel in ("mall", "live"):
                catalog.set_listing(uow, rx.id, ListingIn(channel=channel, listed=False))
    catalog.create_product(
        uow,
        ProductIn(
            code="SVC-INSTALL",
            name="上门安装 Home installation",
            category="services",
            skus=[SkuIn(code="SVC-INSTALL-DESK", price=9900, service_for=first["furniture"])],
        ),
    )
    return rows
