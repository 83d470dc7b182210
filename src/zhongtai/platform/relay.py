"""The relay: moves outbox events to consumers, webhooks and NATS, at least once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Sequence
from datetime import timedelta

import httpx
from anyio import to_thread

from zhongtai.platform import outbox, webhooks
from zhongtai.platform.bus import JetStreamPublisher
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.outbox import Event
from zhongtai.platform.tenancy import scope_session

log = logging.getLogger("zhongtai.relay")


class Relay:
    def __init__(
        self, db: Database, settings: Settings, jobs: Sequence[Callable[[Database], int]] = ()
    ) -> None:
        self.db = db
        self.settings = settings
        self.jobs = jobs  # periodic work that emits events, e.g. scheduled listings
        self.lease = timedelta(seconds=settings.relay_lease_seconds)
        self.publisher = (
            JetStreamPublisher(settings.nats_url, settings.nats_stream)
            if settings.nats_url
            else None
        )
        self.http = httpx.AsyncClient(timeout=settings.webhook_timeout_seconds)

    def _finish(self, events: list[Event]) -> None:
        """Queue the webhook deliveries and mark the events sent, in one transaction."""
        with self.db.session(write=True) as session:
            scope_session(session, None)
            webhooks.enqueue(session, events)
            outbox.mark_dispatched(session, [e.id for e in events])
            session.commit()

    async def _dispatch(self, event: Event) -> None:
        await to_thread.run_sync(outbox.run_handlers, self.db, event)
        if self.publisher is not None:
            await self.publisher.publish(event)

    async def dispatch_batch(self, limit: int = 100) -> int:
        """Deliver one batch of events; returns how many were taken."""
        events = await to_thread.run_sync(outbox.claim_batch, self.db, limit, self.lease)
        done: list[Event] = []
        for event in events:
            try:
                await self._dispatch(event)
            except Exception:
                # Left claimed: it is retried when its lease runs out.
                log.exception("delivery of event %s failed", event.id)
                continue
            done.append(event)
        if done:
            await to_thread.run_sync(self._finish, done)
        return len(events)

    async def deliver_webhooks(self) -> int:
        return await webhooks.deliver_due(
            self.db,
            self.http,
            max_attempts=self.settings.webhook_max_attempts,
            backoff_seconds=self.settings.webhook_backoff_seconds,
        )

    async def run_once(self) -> int:
        for job in self.jobs:
            await to_thread.run_sync(job, self.db)
        return await self.dispatch_batch() + await self.deliver_webhooks()

    async def run_until_idle(self, max_rounds: int = 1000) -> None:
        for _ in range(max_rounds):
            if await self.run_once() == 0:
                return

    async def run_forever(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                busy = await self.run_once()
            except Exception:
                log.exception("relay round failed")
                busy = 0
            if not busy:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.settings.relay_interval_seconds)

    async def close(self) -> None:
        await self.http.aclose()
        if self.publisher is not None:
            await self.publisher.close()
