"""The collector's buffer on NATS JetStream (缓冲), used when ZT_NATS_URL is set.

A burst of behaviour events then waits in a stream, not in the database's inbox: a batch
the collector accepted is one message, acknowledged by JetStream (file storage) before the
client hears 200, and the ingester takes messages from a durable pull consumer and acks
each one only once its events are in the warehouse. A message delivered again after a
crash carries the same id, which is its warehouse insert token, so it is not stored twice.
The stream keeps a message until it is acked (work-queue retention).

nats-py is asyncio; the collector and the ingester are not (a worker thread of the HTTP
server, a relay job), so each buffer runs its connection on an event loop of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import msgspec
import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.js import JetStreamContext
from nats.js.api import ConsumerConfig, RetentionPolicy, StorageType
from nats.js.errors import BadRequestError

from zhongtai.platform.config import Settings
from zhongtai.platform.errors import ProblemError

T = TypeVar("T")
CONSUMER = "ingester"
ACK_WAIT_SECONDS = 120.0  # a message taken and not acked by then goes to the next fetch
RETRY_CAP_SECONDS = 60.0
TIMEOUT_SECONDS = 30.0


class BufferUnavailable(ProblemError):
    status, type, title = 503, "unavailable", "Service unavailable"


@dataclass(frozen=True)
class Buffered:
    """One event ready for the warehouse: its row and the identifiers it links."""

    id: str
    tenant_id: str
    row: dict[str, Any]
    links: list[list[str]]


class Collected(msgspec.Struct):
    """A collector batch as it waits, in the stream or the inbox: its accepted events as
    the client sent them, their ids, and when they arrived. The ingester makes their rows:
    the collector only checks them, and answers sooner."""

    tenant_id: str
    received_at: datetime
    ids: list[str]
    events: list[msgspec.Raw]


@dataclass(frozen=True)
class Taken:
    """A message the ingester holds: its id (the insert token) and its batch."""

    id: str
    batch: Collected
    message: Msg


class StreamBuffer:
    """Publish accepted batches and take them back, from any thread. A NATS failure is a
    `BufferUnavailable` (503); the next call connects again."""

    def __init__(self, url: str, stream: str) -> None:
        self.url, self.stream = url, stream
        self.subject = f"zt-ingest.{stream}"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()
        self._connecting = asyncio.Lock()
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._pull: JetStreamContext.PullSubscription | None = None

    def _run(self, work: Coroutine[Any, Any, T]) -> T:
        try:
            return asyncio.run_coroutine_threadsafe(work, self._loop).result(TIMEOUT_SECONDS)
        except (nats.errors.Error, TimeoutError, OSError) as exc:
            raise BufferUnavailable(
                f"the event buffer (NATS) failed: {exc}; retry", headers={"Retry-After": "1"}
            ) from exc

    async def _ready(self) -> JetStreamContext:
        async with self._connecting:  # callers from several threads share one connection
            if self._js is None or self._nc is None or self._nc.is_closed:
                self._js = self._pull = None
                # A client waits on this: when NATS is down it hears 503 in about 1.5 s.
                nc = await nats.connect(
                    self.url, connect_timeout=2, reconnect_time_wait=0.5, max_reconnect_attempts=3
                )
                self._nc = nc
                js = nc.jetstream()
                # A stream that exists with another config is used as it is.
                with contextlib.suppress(BadRequestError):
                    await js.add_stream(
                        name=self.stream,
                        subjects=[self.subject],
                        retention=RetentionPolicy.WORK_QUEUE,
                        storage=StorageType.FILE,
                    )
                self._js = js
            return self._js

    def publish(self, batch_id: str, batch: Collected) -> None:
        """Keep one accepted batch; returns once JetStream has stored it. A batch published
        again with the same id inside the stream's duplicate window is stored once. Not
        kept (NATS down): a 503, and the client sends the batch again."""
        self._run(self._publish(batch_id, msgspec.json.encode(batch)))

    async def _publish(self, batch_id: str, body: bytes) -> None:
        js = await self._ready()
        await js.publish(self.subject, body, headers={"Nats-Msg-Id": batch_id})

    def take(self, messages: int = 10, wait_seconds: float = 0.2) -> list[Taken]:
        """Up to `messages` batches not yet acked; [] when none came within the wait."""
        return self._run(self._take(messages, wait_seconds))

    async def _take(self, messages: int, wait_seconds: float) -> list[Taken]:
        js = await self._ready()
        if self._pull is None:
            config = ConsumerConfig(ack_wait=ACK_WAIT_SECONDS)  # delivered until stored
            self._pull = await js.pull_subscribe(
                self.subject, durable=CONSUMER, stream=self.stream, config=config
            )
        try:
            got = await self._pull.fetch(messages, timeout=wait_seconds)
        except nats.errors.TimeoutError:
            return []
        return [_taken(m) for m in got]

    def ack(self, taken: Taken) -> None:
        """The batch is in the warehouse: the stream may drop it."""
        self._run(taken.message.ack_sync())

    def release(self, taken: Taken) -> None:
        """Storing the batch failed: it comes back after 1 s, then 2, 4, ... up to a minute
        (a warehouse down for long waits; nothing is dropped)."""
        tries = taken.message.metadata.num_delivered or 1
        self._run(taken.message.nak(delay=min(RETRY_CAP_SECONDS, 2.0 ** (tries - 1))))

    def drop(self) -> None:
        """Delete the stream and what waits in it (a test's or a benchmark's own)."""
        self._run(self._drop())

    async def _drop(self) -> None:
        js = await self._ready()
        await js.delete_stream(self.stream)
        self._js = self._pull = None

    def close(self) -> None:
        if self._nc is not None and not self._nc.is_closed:
            with contextlib.suppress(BufferUnavailable):
                self._run(self._nc.close())  # what was taken and not acked comes again
        self._nc = self._js = self._pull = None
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=5)


def _taken(message: Msg) -> Taken:
    batch = msgspec.json.decode(message.data, type=Collected)
    return Taken((message.headers or {}).get("Nats-Msg-Id", ""), batch, message)


_buffers: dict[tuple[str, str], StreamBuffer] = {}
_lock = threading.Lock()


def buffer_of(settings: Settings) -> StreamBuffer | None:
    """The process's buffer for these settings; None without NATS (the SQL inbox)."""
    if not settings.nats_url:
        return None
    key = (settings.nats_url, f"{settings.nats_stream}_INGEST")
    with _lock:
        if key not in _buffers:
            _buffers[key] = StreamBuffer(*key)
        return _buffers[key]


def close_buffers() -> None:
    with _lock:
        for buffer in _buffers.values():
            buffer.close()
        _buffers.clear()
