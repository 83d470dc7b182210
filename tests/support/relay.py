"""Run the outbox relay in the test process until nothing is left to send.

Without the daily tag computation: the session's database holds every test's demo tenant,
ten tags each, and computing them all in the warehouse (seconds per tenant) is what the
relay then spent its time on, for no test that asked. `tests/service/test_tag_schedule.py`
runs that job on a database of its own."""

from __future__ import annotations

import asyncio

from zhongtai.api import RELAY_JOBS
from zhongtai.data.tags.service import compute_due
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.relay import Relay

JOBS = [job for job in RELAY_JOBS if job is not compute_due]


def run_relay(db: Database, settings: Settings) -> None:
    async def run() -> None:
        relay = Relay(db, settings, JOBS)
        try:
            await relay.run_until_idle()
        finally:
            await relay.close()

    asyncio.run(run())
