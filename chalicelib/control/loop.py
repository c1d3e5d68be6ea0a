"""The controller's lease loop: the invocation holding the lease ticks every few seconds, or at once when nudged."""
from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from typing import Callable

from chalicelib import config
from chalicelib.control import reconcile
from chalicelib.errors import BallastError, LeaseHeld
from chalicelib.telemetry import logger

LEASE = "controller"
# Stop ticking this long before the Lambda's timeout: one tick plus the lease release must still fit.
SAFETY_MARGIN_S = 8.0
WAKE_POLL_S = 1.0
TICK, OUT_OF_TIME, LEASE_LOST = "tick", "out of time", "lease lost"


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
    ticks, ended = 0, TICK
    try:
        while ended == TICK:
            started = clock()
            summary = reconcile.tick(adapters, started)
            ticks += 1
            if summary.idle:
                return ticks
            ended = _wait_for_next_tick(adapters, holder, started, time_left_ms, clock, sleep)
        return ticks
    finally:
        store.release_lease(LEASE, holder)
        if ended == OUT_OF_TIME:
            _hand_over(adapters, clock())


def _hand_over(adapters, now: datetime) -> None:
    """Work is left and this invocation's time is not: a nudge starts the next one at once, after the lease is free.

    A loop started by a nudge ends on its own clock, not the schedule's: the scheduled tick that came a few seconds
    before its end found the lease held, asked for a wake and returned, and no controller ran for up to a minute
    (the local demo's nodes stayed up past its end)."""
    try:
        adapters.queues.send(config.NUDGE_QUEUE, {"at": now.isoformat(), "reason": "the controller's invocation ran out "
                                                  "of time with work left"})
    except BallastError as error:
        logger.warning("hand-over nudge not sent; the next scheduled tick takes over", extra={"error": str(error)})


def _wait_for_next_tick(adapters, holder, last_tick, time_left_ms, clock, sleep) -> str:
    """Sleeps until the next tick is due or a nudge asks for one (TICK), or says why this invocation must stop."""
    try:
        adapters.store.acquire_lease(LEASE, holder, config.LEASE_TTL_S, clock())
    except LeaseHeld:
        logger.warning("lease lost to another controller; stopping")
        return LEASE_LOST
    due = time.monotonic() + config.TICK_INTERVAL_S
    while True:
        spare_s = time_left_ms() / 1000 - SAFETY_MARGIN_S
        if spare_s <= 0:
            return OUT_OF_TIME
        lease = adapters.store.lease_holder(LEASE) or {}
        if time.monotonic() >= due or lease.get("wake", 0) > last_tick.timestamp():
            return TICK
        sleep(max(0.0, min(WAKE_POLL_S, due - time.monotonic(), spare_s)))
