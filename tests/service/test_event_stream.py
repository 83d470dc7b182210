"""With NATS configured, the collector's accepted batches wait in a JetStream stream instead
of the inbox table, and reach the warehouse once each, also when the ingester fails
after storing a batch and takes it again (against the real NATS server)."""

from __future__ import annotations

import asyncio
import os
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace

import nats
import pytest
from sqlalchemy import func, select

from tests.api.test_events import drain, event, stored
from tests.conftest import Tenant
from zhongtai.data.collector import model, service, stream
from zhongtai.data.collector.store import InboxBatch
from zhongtai.platform.config import Settings
from zhongtai.platform.db import Database
from zhongtai.platform.ids import utcnow
from zhongtai.platform.tenancy import scope_session
from zhongtai.platform.uow import UnitOfWork

NATS_URL = os.environ.get("ZT_TEST_NATS_URL", "nats://127.0.0.1:4222")


@pytest.fixture
def buffered(settings: Settings) -> Iterator[Database]:
    """The test database, seen by a process configured with NATS (a stream of its own)."""
    name = f"ZT_TEST_{uuid.uuid4().hex[:8].upper()}"
    database = Database(replace(settings, nats_url=NATS_URL, nats_stream=name))
    try:
        yield database
    finally:
        buffer = stream.buffer_of(database.settings)
        assert buffer is not None
        buffer.drop()
        stream.close_buffers()
        database.dispose()


async def _waiting(name: str) -> int:
    nc = await nats.connect(NATS_URL)
    info = await nc.jetstream().stream_info(name)
    await nc.close()
    return int(info.state.messages)


def _inbox_events(db: Database, tenant: Tenant) -> int:
    with db.session(write=False) as session:
        scope_session(session, None)
        held = select(func.sum(InboxBatch.size)).where(InboxBatch.tenant_id == tenant.id)
        return session.scalar(held) or 0


def _collect(db: Database, tenant: Tenant, cookies: list[str]) -> list[str]:
    with UnitOfWork(db, tenant.id) as uow:
        out = service.collect(
            uow, model.texts([event(anonymous_id=c) for c in cookies] + [event("dance")])
        )
        uow.commit()
    assert out.accepted == len(cookies) and [r.index for r in out.rejected] == [len(cookies)]
    return out.ids


def _cookies(settings: Settings, tenant: Tenant, prefix: str) -> list[str]:
    return sorted(r["actor"] for r in stored(settings, tenant.id) if r["actor"].startswith(prefix))


def test_buffered_batches_skip_the_inbox_and_reach_the_warehouse_once(
    buffered: Database, settings: Settings, tenant: Tenant
) -> None:
    held = _inbox_events(buffered, tenant)
    _collect(buffered, tenant, ["c-nats-1", "c-nats-2"])
    _collect(buffered, tenant, ["c-nats-3"])
    assert _inbox_events(buffered, tenant) == held  # kept by JetStream, not the database
    name = f"{buffered.settings.nats_stream}_INGEST"
    assert asyncio.run(_waiting(name)) == 2

    drain(buffered)
    expected = ["cookie:c-nats-1", "cookie:c-nats-2", "cookie:c-nats-3"]
    assert _cookies(settings, tenant, "cookie:c-nats-") == expected
    assert asyncio.run(_waiting(name)) == 0  # acked: the stream let them go


def test_a_batch_taken_again_after_a_failed_ingest_is_stored_once(
    buffered: Database, settings: Settings, tenant: Tenant
) -> None:
    drain(buffered)  # the inbox's earlier events go first: what follows is this test's
    _collect(buffered, tenant, ["c-again-1", "c-again-2"])
    buffer = stream.buffer_of(buffered.settings)
    assert buffer is not None
    [taken] = buffer.take(10, 2.0)
    # The ingester stores the batch, then fails before its ack: the batch comes back.
    service._store(buffered, service._rows_of(taken.batch), taken.id)
    buffer.release(taken)
    assert drain_count(buffered, expect=2) == 2  # back after its delay, stored again
    assert _cookies(settings, tenant, "cookie:c-again-") == [
        "cookie:c-again-1",
        "cookie:c-again-2",
    ]


def drain_count(db: Database, expect: int = 0, seconds: float = 10.0) -> int:
    """What the ingester stores until it finds nothing, waiting up to `seconds` for
    `expect` events (a batch handed back comes again after a delay)."""
    total, deadline = 0, time.monotonic() + seconds
    while (n := service.ingest(db)) or (total < expect and time.monotonic() < deadline):
        total += n
    return total


def _tallies(db: Database, tenant: Tenant) -> list[service.Tally]:
    with UnitOfWork(db, tenant.id, write=False) as uow:
        return service.tallies(uow, "2000-01-01")


def test_a_batch_the_stream_cannot_keep_is_refused_with_503_and_not_counted(
    db: Database, settings: Settings, tenant: Tenant
) -> None:
    before = _tallies(db, tenant)
    down = Database(replace(settings, nats_url="nats://127.0.0.1:9", nats_stream="ZT_DOWN"))
    try:
        with pytest.raises(stream.BufferUnavailable) as refused, UnitOfWork(down, tenant.id) as uow:
            service.collect(uow, model.texts([event(anonymous_id="c-lost")]))
            uow.commit()
    finally:
        stream.close_buffers()
        down.dispose()
    assert refused.value.status == 503 and refused.value.headers == {"Retry-After": "1"}
    assert _tallies(db, tenant) == before
    try:
        assert service._ingest_stream(down) == 0  # the relay goes on while NATS is down
    finally:
        stream.close_buffers()


def test_a_batch_the_warehouse_refuses_comes_back_later_and_holds_up_nothing(
    buffered: Database, settings: Settings, tenant: Tenant
) -> None:
    drain(buffered)
    buffer = stream.buffer_of(buffered.settings)
    assert buffer is not None
    # A batch that cannot be stored (two ids for its one event), then a good one:
    texts = [t for t in model.texts([event(anonymous_id="c-bad")]) if t is not None]
    buffer.publish("bad-batch", stream.Collected(tenant.id, utcnow(), ["bad-1", "bad-2"], texts))
    _collect(buffered, tenant, ["c-after-bad"])

    assert service.ingest(buffered) == 1  # the good batch is stored and acked
    assert _cookies(settings, tenant, "cookie:c-after-bad") == ["cookie:c-after-bad"]
    assert buffer.take(10, 0.5) == []  # the bad one waits out its delay ...
    [again] = buffer.take(10, 3.0)  # ... and comes back: nothing is dropped
    assert again.id == "bad-batch" and again.message.metadata.num_delivered == 2
    buffer.ack(again)  # leave nothing behind for the stream's deletion


def test_a_retry_after_a_failure_stores_the_batch_once_with_the_same_ids(
    buffered: Database, settings: Settings, tenant: Tenant
) -> None:
    drain(buffered)
    batch = [event(anonymous_id="c-retry-1"), event(anonymous_id="c-retry-2")]
    with UnitOfWork(buffered, tenant.id) as uow:  # published, then the transaction fails
        first = service.collect(uow, model.texts(batch), key="retry-1")
    with UnitOfWork(buffered, tenant.id) as uow:
        again = service.collect(uow, model.texts(batch), key="retry-1")
        uow.commit()
    assert again.ids == first.ids
    name = f"{buffered.settings.nats_stream}_INGEST"
    assert asyncio.run(_waiting(name)) == 1
    assert drain_count(buffered) == 2
    assert _cookies(settings, tenant, "cookie:c-retry-") == ["cookie:c-retry-1", "cookie:c-retry-2"]


def test_the_buffer_connects_again_after_its_connection_closed(
    buffered: Database, tenant: Tenant
) -> None:
    _collect(buffered, tenant, ["c-before"])
    buffer = stream.buffer_of(buffered.settings)
    assert buffer is not None and buffer._nc is not None
    buffer._run(buffer._nc.close())  # as when NATS was away longer than the reconnects
    _collect(buffered, tenant, ["c-after"])
    assert asyncio.run(_waiting(f"{buffered.settings.nats_stream}_INGEST")) == 2
