"""A grocery chain's shelves: what demo baskets are made of (categories match the rules
document ``domain/rules/examples/grocery.yaml``)."""

from __future__ import annotations

import random
from decimal import Decimal
from typing import Any, NamedTuple


class Product(NamedTuple):
    sku: str
    name: str
    category: str
    brand: str
    price: Decimal  # RUB, for one unit


PRODUCTS: tuple[Product, ...] = (
    Product("VEG-001", "Огурцы, 1 кг", "vegetables", "ferma", Decimal("189.90")),
    Product("VEG-002", "Помидоры черри, 250 г", "vegetables", "ferma", Decimal("149.00")),
    Product("VEG-003", "Картофель, 2 кг", "vegetables", "ferma", Decimal("119.90")),
    Product("FRU-001", "Яблоки Гала, 1 кг", "fruit", "sad", Decimal("159.90")),
    Product("FRU-002", "Бананы, 1 кг", "fruit", "sad", Decimal("129.00")),
    Product("DAI-001", "Молоко 3,2%, 1 л", "dairy", "domashniy", Decimal("94.90")),
    Product("DAI-002", "Творог 5%, 300 г", "dairy", "prostokvashino", Decimal("139.00")),
    Product("DAI-003", "Сыр Российский, 200 г", "dairy", "domashniy", Decimal("229.00")),
    Product("BRE-001", "Хлеб Бородинский", "bread", "karavai", Decimal("64.90")),
    Product("BRE-002", "Батон нарезной", "bread", "domashniy", Decimal("49.90")),
    Product("MEA-001", "Куриное филе, 1 кг", "meat", "petelinka", Decimal("449.00")),
    Product("MEA-002", "Фарш говяжий, 500 г", "meat", "miratorg", Decimal("389.00")),
    Product("GRO-001", "Гречка, 900 г", "grocery", "domashniy", Decimal("99.90")),
    Product("GRO-002", "Кофе молотый, 250 г", "grocery", "jardin", Decimal("499.00")),
    Product("GRO-003", "Чай чёрный, 100 пак.", "grocery", "greenfield", Decimal("379.00")),
    Product("HOU-001", "Средство для посуды", "household", "fairy", Decimal("219.00")),
    Product("HOU-002", "Бумажные полотенца", "household", "zewa", Decimal("169.00")),
    Product("TOB-001", "Сигареты", "tobacco", "various", Decimal("220.00")),
    Product("ALC-001", "Вино столовое, 0,75 л", "alcohol", "various", Decimal("649.00")),
)
STORES = ("MSK-001", "MSK-002", "MSK-003", "SPB-001", "ONLINE")


def basket_lines(rng: random.Random) -> list[dict[str, Any]]:
    """3-10 lines, some on promotion (discounted), some with several units."""
    count = rng.randint(3, 10)
    lines = []
    for n, product in enumerate(rng.sample(PRODUCTS, k=min(count, len(PRODUCTS))), start=1):
        qty = rng.choice((1, 1, 1, 2, 2, 3))
        discounted = rng.random() < 0.15
        unit = product.price * (Decimal("0.8") if discounted else 1)
        lines.append(
            {
                "line_id": str(n),
                "sku": product.sku,
                "quantity": str(qty),
                "amount": str((unit * qty).quantize(Decimal("0.01"))),
                "category": product.category,
                "brand": product.brand,
                "discounted": discounted,
            }
        )
    return lines
