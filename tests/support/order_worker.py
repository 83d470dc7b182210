"""A separate process that places an order and is killed before it commits, for the
crash test: prints the order number once the hold and the order are written (flushed,
not committed), then waits to be killed."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

from zhongtai.orders import service
from zhongtai.orders.model import FulfilmentType
from zhongtai.orders.schemas import FulfilmentIn, OrderIn, OrderLineIn
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.uow import UnitOfWork


def main() -> None:
    env = os.environ
    db = Database(
        Settings(
            data_dir=Path(env["ZT_DATA_DIR"]), database_url=env["ZT_DATABASE_URL"], secret_key="x"
        )
    )
    with UnitOfWork(db, env["ORDER_TENANT"]) as uow:
        order = service.place(
            uow,
            OrderIn(
                channel="mall",
                lines=[OrderLineIn(sku=env["ORDER_SKU"], qty=2)],
                fulfilment=FulfilmentIn(type=FulfilmentType.pickup, location="SH01"),
            ),
        )
        uow.session.flush()
        sys.stdout.write(f"placed {order.number}\n")
        sys.stdout.flush()
        time.sleep(120)  # killed here, mid-transaction


if __name__ == "__main__":
    main()
