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
# After a tick that woke a workload from zero, the next comes this soon: the first tick after a burst's first upload
# sees its first second only, and sizing the fleet (and the nodes) to what landed since should not wait a whole tick.
FOLLOW_UP_S = 5.0


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run(adapters, time_left_ms: Callable[[], int], clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep) -> int:
    """Ticks while this invocation holds the lease and has time left; returns how many ticks it ran.

    An invocation that finds the lease held asks the holder to tick now (the nudge path) and returns at once.
    The loop also ends when nothing is running and nothing is queued, so a quiet night costs one tick a minute; a wake
    asked for during that last tick gets one more: the release checks for it in the same write, so a nudge that found
    the lease held is never lost to an idle exit.
    """
    store, holder = adapters.store, f"reconcile-{uuid.uuid4().hex[:12]}"
    if not _acquire_or_wake(store, holder, clock):
        return 0
    ticks, busy, follow_up, released = 0, False, None, False
    try:
        while True:
            started, begun = clock(), time.monotonic()
            summary = reconcile.tick(adapters, started)
            ticks += 1
            busy = not summary.idle
            if summary.activated:
                follow_up = begun + min(FOLLOW_UP_S, config.TICK_INTERVAL_S)
            # A tick a nudge brought in between does not cancel the follow-up: the burst is still landing.
            due = begun + config.TICK_INTERVAL_S
            if follow_up is not None and begun < follow_up:
                due = min(due, follow_up)
            # Idle: let go, unless a wake came since this tick began (new work landed); the wait then returns at
            # once, having renewed the lease and checked the time left, as for any other wake.
            if summary.idle:
                released = store.release_lease(LEASE, holder, unless_woken_after=started)
                if released:
                    return ticks
            if not _wait_for_next_tick(adapters, holder, started, due, time_left_ms, clock, sleep):
                return ticks
    finally:
        if not released:
            store.release_lease(LEASE, holder)
        if busy:
            _hand_off(adapters, clock())


def _acquire_or_wake(store, holder: str, clock) -> bool:
    """Takes the lease, or asks its holder to tick now; a lease let go between the two is taken on the second try."""
    for _ in range(2):
        try:
            store.acquire_lease(LEASE, holder, config.LEASE_TTL_S, clock())
            return True
        except LeaseHeld:
            if store.request_wake(LEASE, clock()):
                logger.info("lease held elsewhere; asked the holder to tick now")
                return False
    # Freed and taken again by a newer invocation in between: its first tick began after this one's work landed.
    return False


def _hand_off(adapters, now: datetime) -> None:
    """Out of time with work going on: start the next invocation now rather than leave the fleet unwatched.

    The scheduled invocation that came while this one held the lease only asked it to tick and returned; without
    a hand-off, nothing would tick until the next minute's schedule.
    """
    try:
        adapters.queues.send(config.NUDGE_QUEUE, {"reason": "hand-off", "at": now.isoformat()})
    except BallastError as error:
        logger.warning("hand-off not sent; the schedule starts the next invocation", extra={"error": str(error)})


def _wait_for_next_tick(adapters, holder, last_tick, due: float, time_left_ms, clock, sleep) -> bool:
    """Sleeps until the next tick is due (time.monotonic) or a nudge asks for one; False when this invocation must stop."""
    try:
        adapters.store.acquire_lease(LEASE, holder, config.LEASE_TTL_S, clock())
    except LeaseHeld:
        logger.warning("lease lost to another controller; stopping")
        return False
    while True:
        spare_s = time_left_ms() / 1000 - SAFETY_MARGIN_S
        if spare_s <= 0:
            return False
        lease = adapters.store.lease_holder(LEASE) or {}
        if time.monotonic() >= due or lease.get("wake", 0) > last_tick.timestamp():
            return True
        sleep(max(0.0, min(WAKE_POLL_S, due - time.monotonic(), spare_s)))
