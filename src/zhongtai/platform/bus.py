"""NATS JetStream publisher, used by the relay when ZT_NATS_URL is set."""

from __future__ import annotations

import contextlib
import json

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.errors import BadRequestError

from zhongtai.platform.outbox import Event


def subject_for(event: Event) -> str:
    return f"zt.{event.tenant_id}.{event.type}"


class JetStreamPublisher:
    """Publishes events on `zt.<tenant>.<type>`; the event id is the dedupe id."""

    def __init__(self, url: str, stream: str) -> None:
        self.url, self.stream = url, stream
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None

    async def _ready(self) -> JetStreamContext:
        if self._js is None:
            self._nc = await nats.connect(self.url, connect_timeout=5, max_reconnect_attempts=3)
            self._js = self._nc.jetstream()
            # A stream that exists with another config is used as it is.
            with contextlib.suppress(BadRequestError):
                await self._js.add_stream(name=self.stream, subjects=["zt.>"])
        return self._js

    async def publish(self, event: Event) -> None:
        js = await self._ready()
        body = json.dumps(event.envelope(), ensure_ascii=False).encode()
        await js.publish(subject_for(event), body, headers={"Nats-Msg-Id": event.id})

    async def close(self) -> None:
        if self._nc is not None:
            await self._nc.drain()
        self._nc = self._js = None
