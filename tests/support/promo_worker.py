"""A separate process for the promotion race test: waits for the start file, then places
`ORDER_COUNT` orders one transaction each, and prints each order's discount (or its
error type) as one JSON list."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from zhongtai.orders import service
from zhongtai.orders.model import FulfilmentType
from zhongtai.orders.schemas import FulfilmentIn, OrderIn, OrderLineIn
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ProblemError
from zhongtai.platform.uow import UnitOfWork


def main() -> None:
    env = os.environ
    db = Database(
        Settings(
            data_dir=Path(env["ZT_DATA_DIR"]), database_url=env["ZT_DATABASE_URL"], secret_key="x"
        )
    )
    go = Path(env["START_FILE"])
    while not go.exists():
        time.sleep(0.005)
    out: list[int | str] = []
    for n in range(int(env["ORDER_COUNT"])):
        cmd = OrderIn(
            channel="mall",
            member=f"{env['MEMBER_PREFIX']}{n}",
            lines=[OrderLineIn(sku=env["ORDER_SKU"], qty=1)],
            fulfilment=FulfilmentIn(type=FulfilmentType.pickup, location="SH01"),
        )
        try:
            with UnitOfWork(db, env["ORDER_TENANT"]) as uow:
                out.append(service.place(uow, cmd).discount)
                uow.commit()
        except ProblemError as exc:
            out.append(exc.type)
    sys.stdout.write(json.dumps(out) + "\n")


if __name__ == "__main__":
    main()
