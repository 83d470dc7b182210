"""A realistic demo catalogue, generated the same way every time (fixed seed).

Grocery, fresh (weighed, in-store labels), pharmacy (OTC and prescription), apparel
(colour x size matrix), electronics (serialised) and home goods, with Chinese names,
EAN-13 barcodes in the GS1 China range (690-699) with valid check digits, and prices in
minor units (分).
"""

from __future__ import annotations

import random

from zhongtai.catalog.barcodes import ean13

# (category code, category name, pack, share of SKUs, names, price range in 分)
FAMILIES = [
    (
        "snacks",
        "休闲零食 Snacks",
        "fmcg",
        0.12,
        [
            "薯片 Potato chips",
            "坚果 Mixed nuts",
            "饼干 Biscuits",
            "巧克力 Chocolate",
            "牛肉干 Beef jerky",
            "海苔 Seaweed snack",
        ],
        (390, 3990),
    ),
    (
        "drinks",
        "饮料 Drinks",
        "fmcg",
        0.10,
        [
            "矿泉水 Mineral water",
            "绿茶 Green tea",
            "可乐 Cola",
            "酸奶 Yoghurt drink",
            "咖啡 Canned coffee",
            "果汁 Orange juice",
        ],
        (250, 1590),
    ),
    (
        "grain_oil",
        "粮油 Grain and oil",
        "fmcg",
        0.07,
        ["大米 Rice 5kg", "花生油 Peanut oil", "面粉 Flour", "酱油 Soy sauce", "挂面 Noodles"],
        (590, 8990),
    ),
    (
        "household",
        "日化 Household",
        "fmcg",
        0.06,
        ["洗衣液 Laundry liquid", "牙膏 Toothpaste", "纸巾 Tissues", "洗发水 Shampoo"],
        (590, 6990),
    ),
    (
        "fresh",
        "生鲜 Fresh (weighed)",
        "general",
        0.08,
        [
            "苹果 Apples",
            "香蕉 Bananas",
            "西红柿 Tomatoes",
            "猪肉 Pork",
            "鸡胸肉 Chicken breast",
            "草莓 Strawberries",
            "黄瓜 Cucumbers",
        ],
        (99, 4999),
    ),
    (
        "otc",
        "非处方药 OTC medicine",
        "pharmacy",
        0.08,
        ["感冒灵颗粒 Cold granules", "维生素C Vitamin C", "布洛芬 Ibuprofen", "创可贴 Plasters"],
        (890, 5990),
    ),
    (
        "rx",
        "处方药 Prescription medicine",
        "pharmacy",
        0.04,
        ["阿莫西林 Amoxicillin", "二甲双胍 Metformin", "氨氯地平 Amlodipine"],
        (1290, 15990),
    ),
    (
        "tops",
        "上衣 Tops",
        "apparel",
        0.17,
        ["纯棉T恤 Cotton tee", "衬衫 Shirt", "卫衣 Hoodie", "针织衫 Knit sweater"],
        (4900, 39900),
    ),
    (
        "trousers",
        "裤装 Trousers",
        "apparel",
        0.13,
        ["牛仔裤 Jeans", "休闲裤 Chinos", "运动裤 Joggers"],
        (7900, 49900),
    ),
    (
        "phones",
        "手机数码 Phones and gadgets",
        "electronics",
        0.05,
        [
            "智能手机 Smartphone",
            "蓝牙耳机 Bluetooth earbuds",
            "充电宝 Power bank",
            "智能手表 Smart watch",
        ],
        (9900, 599900),
    ),
    (
        "appliances",
        "家电 Appliances",
        "electronics",
        0.04,
        ["电饭煲 Rice cooker", "空气炸锅 Air fryer", "电水壶 Kettle"],
        (9900, 129900),
    ),
    (
        "furniture",
        "家居 Home furnishing",
        "home",
        0.06,
        ["书桌 Desk", "衣柜 Wardrobe", "餐椅 Dining chair", "床头柜 Nightstand"],
        (19900, 299900),
    ),
]
BRANDS = ["HUAXIA", "DONGFANG", "JIAHE", "MEILE", "XINGHE", "YUNSHAN"]
COLOURS = ["黑 black", "白 white", "蓝 blue"]
SIZES = ["S", "M", "L", "XL"]


def catalog_rows(total: int, seed: int = 2026) -> list[dict[str, str]]:
    """About `total` SKUs as import rows (apparel comes in whole colour x size matrices)."""
    rng = random.Random(seed)
    rows: list[dict[str, str]] = []
    serial = 0
    for code, _name, pack, share, names, (low, high) in FAMILIES:
        want = max(1, round(total * share))
        made = 0
        n = 0
        while made < want:
            n += 1
            base = names[n % len(names)]
            product_code = f"{code.upper()}{n:05d}"
            brand = rng.choice(BRANDS)
            product = {
                "product_code": product_code,
                "product_name": f"{brand.title()} {base} #{n}",
                "category": code,
                "brand": brand,
                "pack": pack,
                "tags": "|".join(rng.sample(["新品 new", "热销 bestseller", "会员 members"], 1)),
                "product_attributes": _pack_attributes(pack, rng),
                "sold_by_weight": "true" if code == "fresh" else "",
            }
            variants = (
                [(f"colour={c.split()[1]};size={s}", f"{c} {s}") for c in COLOURS for s in SIZES]
                if pack == "apparel"
                else [("", "")]
            )
            price = rng.randrange(low, high) // 10 * 10
            for attrs, label in variants:
                serial += 1
                sku_code = f"{product_code}-{serial:06d}"
                rows.append(
                    {
                        **product,
                        "sku_code": sku_code,
                        "sku_name": f"{product['product_name']} {label}".strip(),
                        "sku_attributes": attrs,
                        "barcodes": "" if code == "fresh" else ean13(f"69{serial:010d}"),
                        "weighed_code": f"20{serial % 100000:05d}" if code == "fresh" else "",
                        "price": str(price),
                        "prescription_only": "true" if code == "rx" else "",
                    }
                )
                made += 1
    return rows


def _pack_attributes(pack: str, rng: random.Random) -> str:
    return {
        "pharmacy": f"approval_number=国药准字H{rng.randrange(10**7, 10**8)};dosage_form=tablet",
        "fmcg": f"shelf_life_days={rng.choice([180, 270, 365, 540])};case_size=12",
        "apparel": f"season={rng.choice(['SS26', 'AW26'])}",
        "electronics": f"warranty_months={rng.choice([12, 24])}",
    }.get(pack, "")
