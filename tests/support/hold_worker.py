"""A separate process reserving through its own group-commit batcher, for the race and
crash tests: prints each acknowledged reservation id as soon as it has it."""

from __future__ import annotations

import os
import sys
import threading
from pathlib import Path

from zhongtai.inventory.hotpath import HoldRequest, ReservationBatcher
from zhongtai.inventory.model import StockRuleError
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database


def main() -> None:
    env = os.environ
    db = Database(
        Settings(
            data_dir=Path(env["ZT_DATA_DIR"]), database_url=env["ZT_DATABASE_URL"], secret_key="x"
        )
    )
    request = HoldRequest(
        env["HOLD_TENANT"],
        "worker",
        env["HOLD_SKU"],
        env["HOLD_LOCATION"],
        1,
        env.get("HOLD_CHANNEL", "live"),
        f"proc-{os.getpid()}",
    )
    batcher = ReservationBatcher(db)
    out = threading.Lock()

    def caller() -> None:
        for _ in range(int(env["HOLD_PER_THREAD"])):
            try:
                hold_id = batcher.reserve(request)
            except StockRuleError:
                continue
            with out:
                sys.stdout.write(hold_id + "\n")
                sys.stdout.flush()

    threads = [threading.Thread(target=caller) for _ in range(int(env["HOLD_THREADS"]))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    batcher.close()


if __name__ == "__main__":
    main()
