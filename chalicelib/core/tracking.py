"""What the controller derives from its readings and carries in a workload's status between ticks, beside the history.

Pure, so the controller and the simulator carry it the same way: the stats as last read and the arrival rate
(status.statsSeen, status.arrivalPerSecond) and the scale-up being timed (status.startup).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.core.types import Decision, Observation, ThroughputSample

# The per-minute stats item of a workload: what its producers write (ingest, completions) and the controller reads.
ARRIVED = "arrived"
DONE = "done"
FAILED = "failed"
BUSY_MS = "busyMs"
LAST_ARRIVAL = "lastArrivalAt"  # the stats attribute stamped with the latest arrival


@dataclass(frozen=True)
class Completions:
    """What the stats of this minute and the last said since the previous tick read them."""

    samples: tuple[ThroughputSample, ...] = ()
    arrival_per_s: float | None = None
    last_arrival_at: datetime | None = None
    seen: dict = field(default_factory=dict)  # {minute: [items, busyMs]} as read this tick, kept in status.statsSeen


def unchanged(status: dict) -> Completions:
    """The stats could not be read this tick: nothing learned, the last reading kept."""
    return Completions((), status.get("arrivalPerSecond"), None, status.get("statsSeen") or {})


def completions_from(buckets: list[dict], status: dict, now: datetime) -> Completions:
    """Completions since the last tick, the last whole minute's arrival rate and the latest arrival.

    The stats grow within the minute as completions land, so each tick learns from what was added since the previous
    one read them (status.statsSeen): throughput is known from the first completions of a burst, not a minute later.
    """
    minute = now.replace(second=0, microsecond=0)
    minutes = ((minute - timedelta(minutes=1)).isoformat(), minute.isoformat())
    by_minute = {b["minute"]: b for b in buckets}
    before = status.get("statsSeen") or {}
    samples, seen = [], {}
    for key in minutes:
        bucket = by_minute.get(key)
        if bucket is None:
            continue
        items, busy_ms = bucket.get(DONE, 0) + bucket.get(FAILED, 0), bucket.get(BUSY_MS, 0)
        seen_items, seen_busy_ms = before.get(key, (0, 0))
        if busy_ms > seen_busy_ms:
            samples.append(ThroughputSample(max(items - seen_items, 0), (busy_ms - seen_busy_ms) / 1000))
        seen[key] = [items, busy_ms]
    arrival = by_minute.get(minutes[0], {}).get(ARRIVED, 0) / 60
    stamps = [datetime.fromisoformat(b[LAST_ARRIVAL]) for b in buckets if b.get(LAST_ARRIVAL)]
    return Completions(tuple(samples), arrival, max(stamps, default=None), seen)


def startup_seconds(status: dict, desired: int, running: int, now: datetime) -> float | None:
    """Seconds from our scale-up to every task it asked for running, measured when that is first seen (±1 tick)."""
    started = status.get("startup")
    if started and desired >= started["replicas"] and running >= started["replicas"]:
        return (now - datetime.fromisoformat(started["since"])).total_seconds()
    return None


def startup_after(status: dict, observation: Observation, decision: Decision, acted: bool, now: datetime) -> dict | None:
    """The scale-up still being timed: the first unfinished one is kept; one undone by a scale-in is dropped."""
    started = status.get("startup")
    if started and (observation.startup_s is not None or observation.replicas < started["replicas"]):
        started = None
    if started is None and acted and decision.replicas > observation.replicas:
        started = {"since": now.isoformat(), "replicas": decision.replicas}
    return started


def is_idle(observation: Observation, decision: Decision) -> bool:
    depth = observation.queue
    return observation.replicas == 0 and decision.replicas == 0 and (depth is None or depth.backlog(True) == 0)
