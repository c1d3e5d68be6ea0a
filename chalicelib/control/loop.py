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


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run(adapters, time_left_ms: Callable[[], int], clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep) -> int:
    """Ticks while this invocation holds the lease and has time left; returns how many ticks it ran.

    An invocation that finds the lease held asks the holder to tick now (the nudge path) and returns at once.
    The loop also ends when nothing is running and nothing is queued, so a quiet night costs one tick a minute; a wake
    asked for during that last tick gets one more. An invocation that runs out of time with work left hands over: a
    nudge starts the next one at once, where the schedule would leave the work uncontrolled for up to a minute (a
    scheduled invocation that arrived in the holder's last seconds found the lease held and went away).
    """
    store, holder = adapters.store, f"reconcile-{uuid.uuid4().hex[:12]}"
    try:
        store.acquire_lease(LEASE, holder, config.LEASE_TTL_S, clock())
    except LeaseHeld:
        store.request_wake(LEASE, clock())
        logger.info("lease held elsewhere; asked the holder to tick now")
        return 0
    ticks, out_of_time = 0, False
    try:
        while True:
            started = clock()
            summary = reconcile.tick(adapters, started)
            ticks += 1
            if summary.idle and not _woken_since(store, started):
                return ticks
            if not _wait_for_next_tick(adapters, holder, started, time_left_ms, clock, sleep):
                out_of_time = time_left_ms() / 1000 <= SAFETY_MARGIN_S  # else the lease was lost: its holder goes on
                return ticks
    finally:
        store.release_lease(LEASE, holder)
        if out_of_time:
            _hand_over(adapters, clock())


def _woken_since(store, tick_started: datetime) -> bool:
    return (store.lease_holder(LEASE) or {}).get("wake", 0) > tick_started.timestamp()


def _hand_over(adapters, now: datetime) -> None:
    try:
        adapters.queues.send(config.NUDGE_QUEUE, {"reason": "handover: the last invocation ran out of time with work left",
                                                  "at": now.isoformat()})
    except BallastError as error:
        logger.warning("handover not sent; the next scheduled tick takes over", extra={"error": str(error)})
        return
    logger.info("handed over to the next invocation")


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
