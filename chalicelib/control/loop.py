"""The controller's lease loop: the invocation holding the lease ticks every few seconds, or at once when nudged."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Callable

from chalicelib import config
from chalicelib.control import reconcile
from chalicelib.errors import LeaseHeld
from chalicelib.telemetry import logger

LEASE = "controller"
# Stop ticking this long before the Lambda's timeout: one tick plus the lease release must still fit.
SAFETY_MARGIN_S = 8.0
WAKE_POLL_S = 1.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run(adapters, time_left_ms: Callable[[], int], clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep) -> int:
    """Ticks while this invocation holds the lease and has time left; returns how many ticks it ran.

    An invocation that finds the lease held asks the holder to tick now (the nudge path) and returns at once.
    The loop also ends when nothing is running and nothing is queued, so a quiet night costs one tick a minute.
    """
    store, holder = adapters.store, f"reconcile-{uuid.uuid4().hex[:12]}"
    try:
        store.acquire_lease(LEASE, holder, config.LEASE_TTL_S, clock())
    except LeaseHeld:
        store.request_wake(LEASE, clock())
        logger.info("lease held elsewhere; asked the holder to tick now")
        return 0
    ticks = 0
    try:
        while True:
            started = clock()
            summary = reconcile.tick(adapters, started)
            ticks += 1
            if summary.idle or not _wait_for_next_tick(adapters, holder, started, time_left_ms, clock, sleep):
                return ticks
    finally:
        store.release_lease(LEASE, holder)


def _wait_for_next_tick(adapters, holder, last_tick, time_left_ms, clock, sleep) -> bool:
    """Sleeps until the next tick is due or a nudge asks for one; False when this invocation must stop."""
    try:
        adapters.store.acquire_lease(LEASE, holder, config.LEASE_TTL_S, clock())
    except LeaseHeld:
        logger.warning("lease lost to another controller; stopping")
        return False
    due = time.monotonic() + config.TICK_INTERVAL_S
    while True:
        spare_s = time_left_ms() / 1000 - SAFETY_MARGIN_S
        if spare_s <= 0:
            return False
        lease = adapters.store.lease_holder(LEASE) or {}
        if time.monotonic() >= due or lease.get("wake", 0) > last_tick.timestamp():
            return True
        sleep(max(0.0, min(WAKE_POLL_S, due - time.monotonic(), spare_s)))
