"""Stateful property test of the inventory centre against a plain model.

Random sequences of receipts, adjustments, reservations, confirmations, releases,
expiries (the clock moved past a hold), sweeps, transfers and their receipt, at random
locations. After every step: on hand, in transit and live reserved equal the model,
available is never negative, the ledger sums to on hand, and each level's reserved count
equals the lines of its open reservations. Refusals must be exactly the steps the rules
refuse. Each example uses SKUs of its own, so examples replay alike.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule
from sqlalchemy import func, select, update

from tests.conftest import Tenant
from zhongtai.catalog.store import Sku
from zhongtai.inventory import service
from zhongtai.inventory.schemas import (
    AdjustmentIn,
    AdjustmentLine,
    ReceiptIn,
    ReceiptLine,
    ReserveIn,
    ReserveLine,
    TransferIn,
)
from zhongtai.inventory.store import Reservation, ReservationLine, StockLevel, StockMovement
from zhongtai.platform.db import Database
from zhongtai.platform.errors import ProblemError
from zhongtai.platform.ids import utcnow
from zhongtai.platform.uow import UnitOfWork

LOCATIONS = ["SH01", "SH02", "DC-EAST"]


@dataclass
class Hold:
    id: str
    key: tuple[int, str]
    qty: int
    status: str = "active"
    lapsed: bool = False


@dataclass
class Model:
    on_hand: dict[tuple[int, str], int] = field(default_factory=dict)
    in_transit: dict[tuple[int, str], int] = field(default_factory=dict)
    holds: list[Hold] = field(default_factory=list)
    transfers: list[tuple[str, tuple[int, str], int, bool]] = field(default_factory=list)

    def live(self, key: tuple[int, str]) -> int:
        """Reserved units that still hold stock."""
        return sum(
            h.qty
            for h in self.holds
            if h.key == key
            and h.status in ("active", "confirmed")
            and not (h.status == "active" and h.lapsed)
        )

    def free(self, key: tuple[int, str]) -> int:
        return self.on_hand.get(key, 0) - self.live(key)


def test_inventory_matches_a_model_under_random_operations(db: Database, tenant: Tenant) -> None:
    with UnitOfWork(db, tenant.id, write=False) as uow:
        product_id = uow.session.scalar(select(Sku.product_id).limit(1))
    made = iter(range(10**6))

    class Inventory(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            n = next(made)
            self.skus = [f"STATE-{n}-{i}" for i in range(2)]
            with UnitOfWork(db, tenant.id) as uow:
                uow.session.add_all(Sku(product_id=product_id, code=c, name=c) for c in self.skus)
                uow.commit()
            self.m = Model()

        def _do(self, work, allowed: bool) -> object | None:  # type: ignore[no-untyped-def]
            try:
                with UnitOfWork(db, tenant.id) as uow:
                    result = work(uow)
                    uow.commit()
            except ProblemError as exc:
                assert not allowed, f"refused a step the rules allow: {exc.detail}"
                return None
            assert allowed, "accepted a step the rules refuse"
            return result

        @rule(i=st.integers(0, 1), loc=st.sampled_from(LOCATIONS), qty=st.integers(1, 30))
        def receive(self, i: int, loc: str, qty: int) -> None:
            cmd = ReceiptIn(location=loc, lines=[ReceiptLine(sku=self.skus[i], qty=qty)])
            self._do(lambda uow: service.receive(uow, cmd), True)
            self.m.on_hand[(i, loc)] = self.m.on_hand.get((i, loc), 0) + qty

        @rule(
            i=st.integers(0, 1),
            loc=st.sampled_from(LOCATIONS),
            qty=st.integers(-30, 30).filter(bool),
        )
        def adjust(self, i: int, loc: str, qty: int) -> None:
            key = (i, loc)
            cmd = AdjustmentIn(
                location=loc, reason="damage", lines=[AdjustmentLine(sku=self.skus[i], qty=qty)]
            )
            ok = qty > 0 or self.m.free(key) + qty >= 0
            if self._do(lambda uow: service.adjust(uow, cmd), ok) is not None:
                self.m.on_hand[key] = self.m.on_hand.get(key, 0) + qty

        @rule(i=st.integers(0, 1), loc=st.sampled_from(LOCATIONS), qty=st.integers(1, 20))
        def reserve(self, i: int, loc: str, qty: int) -> None:
            key = (i, loc)
            cmd = ReserveIn(
                owner="model",
                channel="mall",
                lines=[ReserveLine(sku=self.skus[i], qty=qty, location=loc)],
            )
            held = self._do(lambda uow: service.reserve(uow, cmd).id, qty <= self.m.free(key))
            if held is not None:
                self.m.holds.append(Hold(str(held), key, qty))

        @precondition(lambda self: self.m.holds)
        @rule(k=st.integers(0, 50))
        def confirm(self, k: int) -> None:
            h = self.m.holds[k % len(self.m.holds)]
            ok = h.status == "active" and not h.lapsed
            if self._do(lambda uow: service.confirm(uow, h.id), ok) is not None:
                h.status = "confirmed"

        @precondition(lambda self: self.m.holds)
        @rule(k=st.integers(0, 50))
        def release(self, k: int) -> None:
            h = self.m.holds[k % len(self.m.holds)]
            ok = h.status in ("active", "confirmed")
            if self._do(lambda uow: service.release(uow, h.id), ok) is not None:
                h.status = "released"

        @precondition(lambda self: self.m.holds)
        @rule(k=st.integers(0, 50))
        def clock_passes_a_hold(self, k: int) -> None:
            """Time travel: this hold's expiry is now in the past."""
            h = self.m.holds[k % len(self.m.holds)]
            if h.status != "active":
                return
            past = utcnow() - timedelta(seconds=1)
            with UnitOfWork(db, tenant.id) as uow:
                uow.session.execute(
                    update(Reservation).where(Reservation.id == h.id).values(expires_at=past)
                )
                uow.session.execute(
                    update(ReservationLine)
                    .where(ReservationLine.reservation_id == h.id)
                    .values(expires_at=past)
                )
                uow.commit()
            h.lapsed = True

        @rule()
        def sweep(self) -> None:
            service.expire_due(db)
            for h in self.m.holds:
                if h.status == "active" and h.lapsed:
                    h.status = "expired"

        @rule(
            i=st.integers(0, 1),
            src=st.sampled_from(LOCATIONS),
            dst=st.sampled_from(LOCATIONS),
            qty=st.integers(1, 20),
        )
        def send(self, i: int, src: str, dst: str, qty: int) -> None:
            cmd = TransferIn.model_validate(
                {"from": src, "to": dst, "lines": [{"sku": self.skus[i], "qty": qty}]}
            )
            ok = src != dst and qty <= self.m.free((i, src))
            sent = self._do(lambda uow: service.send_transfer(uow, cmd).id, ok)
            if sent is not None:
                self.m.on_hand[(i, src)] -= qty
                self.m.in_transit[(i, dst)] = self.m.in_transit.get((i, dst), 0) + qty
                self.m.transfers.append((str(sent), (i, dst), qty, False))

        @precondition(lambda self: any(not t[3] for t in self.m.transfers))
        @rule(k=st.integers(0, 50))
        def arrive(self, k: int) -> None:
            waiting = [n for n, t in enumerate(self.m.transfers) if not t[3]]
            n = waiting[k % len(waiting)]
            transfer_id, key, qty, _done = self.m.transfers[n]
            self._do(lambda uow: service.receive_transfer(uow, transfer_id), True)
            self.m.in_transit[key] -= qty
            self.m.on_hand[key] = self.m.on_hand.get(key, 0) + qty
            self.m.transfers[n] = (transfer_id, key, qty, True)

        @invariant()
        def database_equals_model(self) -> None:
            with UnitOfWork(db, tenant.id, write=False) as uow:
                for i, sku in enumerate(self.skus):
                    sku_id = uow.session.scalar(select(Sku.id).where(Sku.code == sku))
                    for row in service.availability(uow, sku):
                        key = (i, row.location)
                        assert row.on_hand == self.m.on_hand.get(key, 0)
                        assert row.in_transit == self.m.in_transit.get(key, 0)
                        assert row.reserved == self.m.live(key)
                        assert row.available == max(0, self.m.free(key)) >= 0
                        ledger = uow.session.scalar(
                            select(func.sum(StockMovement.qty)).where(
                                StockMovement.sku_id == sku_id,
                                StockMovement.location_id == row.location_id,
                            )
                        )
                        assert (ledger or 0) == row.on_hand
                        raw = uow.session.scalar(
                            select(StockLevel.reserved).where(
                                StockLevel.sku_id == sku_id,
                                StockLevel.location_id == row.location_id,
                            )
                        )
                        open_lines = uow.session.scalar(
                            select(func.coalesce(func.sum(ReservationLine.qty), 0))
                            .join(Reservation, Reservation.id == ReservationLine.reservation_id)
                            .where(
                                ReservationLine.sku_id == sku_id,
                                ReservationLine.location_id == row.location_id,
                                Reservation.status.in_(["active", "confirmed"]),
                            )
                        )
                        assert raw == open_lines

    Inventory.TestCase.settings = settings(
        max_examples=25,
        stateful_step_count=20,
        deadline=None,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    Inventory.TestCase().runTest()
