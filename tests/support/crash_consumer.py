"""An idempotent consumer for the relay crash test, loaded into a relay process (ZT_PLUGINS).

Each delivery is appended to ZT_TEST_DELIVERY_LOG (so the test sees redeliveries); the
effect, a dictionary entry named after the event, is written at most once per event.
"""

from __future__ import annotations

import os
import time

from sqlalchemy.orm import Session

from zhongtai.org.store import DictionaryEntry
from zhongtai.platform.db import Database
from zhongtai.platform.outbox import Event, consume_once, subscribe

EVENT_TYPE = "crash_test.happened"


@subscribe(EVENT_TYPE, "crash-test")
def on_event(db: Database, event: Event) -> None:
    with open(os.environ["ZT_TEST_DELIVERY_LOG"], "a") as log:
        log.write(event.id + "\n")
    time.sleep(0.01)  # slow enough for the test to kill the relay mid-batch

    def effect(session: Session) -> None:
        session.add(DictionaryEntry(dict_type="relay_effect", code=event.id, label="seen"))

    consume_once(db, "crash-test", event, effect)
