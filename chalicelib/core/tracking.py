"""What the controller derives from its readings and carries in a workload's status between ticks, beside the history.

Pure, so the controller and the simulator carry it the same way: the stats as last read and the arrival rate
(status.statsSeen, status.arrivalPerSecond) and the scale-ups being timed (status.startup of a workload, status.boot of
a node pool).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Mapping

from chalicelib.core.types import Decision, NodeDecision, Observation, PoolObservation, ThroughputSample
from chalicelib.model import Workload

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


def scale_up_seconds(timing: dict | None, desired: int, ready: int, now: datetime) -> float | None:
    """Seconds from our scale-up to all it asked for ready (tasks running, nodes ready), when first seen (±1 tick).

    `timing` is the scale-up being timed as status keeps it (status.startup of a workload, status.boot of a pool).
    """
    if timing and desired >= timing["replicas"] and ready >= timing["replicas"]:
        return (now - datetime.fromisoformat(timing["since"])).total_seconds()
    return None


def task_startup_seconds(timing: dict | None, desired: int, ready: int, now: datetime) -> float | None:
    """A workload's start-up when its scale-up waited for no node: a wait for a boot is not a task's start-up."""
    return None if timing and timing.get("withNodes") else scale_up_seconds(timing, desired, ready, now)


def scale_up_timing(timing: dict | None, ended: bool, current: int, decided: int, acted: bool, now: datetime,
                    with_nodes: bool = False) -> dict | None:
    """The scale-up still being timed: the first unfinished one is kept; one undone by a scale-in is dropped.

    `ended` says the one timed finished this tick; `with_nodes`, that the new one waits for nodes to boot.
    """
    if timing and (ended or current < timing["replicas"]):
        timing = None
    if timing is None and acted and decided > current:
        timing = {"since": now.isoformat(), "replicas": decided, **({"withNodes": True} if with_nodes else {})}
    return timing


def waits_for_nodes(workload: Workload, decided: Mapping[str, NodeDecision],
                    observed: Mapping[str, PoolObservation]) -> bool:
    """Whether tasks asked for now may wait for a node: one of its pools grows this tick, or has nodes booting."""
    for name in workload.node_pools:
        if name in decided and name in observed:
            state = observed[name]
            if decided[name].nodes > state.nodes or (state.ready_nodes is not None and state.ready_nodes < state.nodes):
                return True
    return False


def is_idle(observation: Observation, decision: Decision) -> bool:
    depth = observation.queue
    return observation.replicas == 0 and decision.replicas == 0 and (depth is None or depth.backlog(True) == 0)
