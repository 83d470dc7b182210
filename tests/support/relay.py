"""Run the outbox relay in the test process until nothing is left to send."""

from __future__ import annotations

import asyncio

from zhongtai.api import RELAY_JOBS
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.relay import Relay


def run_relay(db: Database, settings: Settings) -> None:
    async def run() -> None:
        relay = Relay(db, settings, RELAY_JOBS)
        try:
            await relay.run_until_idle()
        finally:
            await relay.close()

    asyncio.run(run())
