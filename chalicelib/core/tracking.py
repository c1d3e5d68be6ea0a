"""What the controller derives from its readings and carries in a workload's status between ticks, beside the history.

Pure, so the controller and the simulator carry it the same way: the stats minute last read and the arrival rate
(status.statsThrough, status.arrivalPerSecond) and the scale-up being timed (status.startup).
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.core.types import Decision, Observation, ThroughputSample
from chalicelib.model import DeadlineMetric, Workload

# The per-minute stats item of a workload: what its producers write (ingest, completions) and the controller reads.
ARRIVED = "arrived"
DONE = "done"
FAILED = "failed"
BUSY_MS = "busyMs"
LAST_ARRIVAL = "lastArrivalAt"  # the stats attribute stamped with the latest arrival


@dataclass(frozen=True)
class Completions:
    samples: tuple[ThroughputSample, ...] = ()
    arrival_per_s: float | None = None
    through: str | None = None  # the last whole minute read, kept in status.statsThrough


def stats_read_from(workload: Workload, status: dict, now: datetime) -> datetime | None:
    """From when to read the stats this tick, or None when the stored reading still holds.

    Only the Deadline metric uses them, and the stats change once a minute: so a workload without one costs no
    read, and one with it a single query in the first tick of each minute (the rest reuse the stored rate).
    """
    minute = now.replace(second=0, microsecond=0)
    if status.get("statsThrough") == (minute - timedelta(minutes=1)).isoformat():
        return None
    if not any(isinstance(m, DeadlineMetric) for m in workload.metrics):
        return None
    return minute - timedelta(minutes=3)


def unchanged(status: dict) -> Completions:
    return Completions((), status.get("arrivalPerSecond"), status.get("statsThrough"))


def completions_from(buckets: list[dict], status: dict, now: datetime) -> Completions:
    """Completions of the minutes that ended since the last read, and the latest minute's arrival rate."""
    seen = status.get("statsThrough")
    minute = now.replace(second=0, microsecond=0)
    last = (minute - timedelta(minutes=1)).isoformat()
    finished = [b for b in buckets if b["minute"] < minute.isoformat()]
    fresh = [b for b in finished if seen is None or b["minute"] > seen]
    samples = tuple(ThroughputSample(b.get(DONE, 0) + b.get(FAILED, 0), b.get(BUSY_MS, 0) / 1000)
                    for b in fresh if b.get(BUSY_MS, 0) > 0)
    arrival = finished[-1].get(ARRIVED, 0) / 60 if finished and finished[-1]["minute"] == last else 0.0
    return Completions(samples, arrival, last)


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
