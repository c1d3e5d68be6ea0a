"""The drain-deadline proposal of DESIGN.md "The decision core": fewest replicas that finish backlog plus arrivals in time, from learned throughput."""
from __future__ import annotations

import math
from datetime import datetime

from chalicelib.core import backlog
from chalicelib.core.types import History, Observation, Proposal
from chalicelib.model import DeadlineMetric, Workload

# Smoothing of the learned start-up latency: one noisy scale-up moves the estimate by a tenth of its surprise.
SMOOTHING = 0.1
# The learned throughput is the busy-time-weighted mean of the last this many replica-seconds of work: a burst's
# first completions replace the prior at once, and one slow image moves a long-running estimate little.
THROUGHPUT_MEMORY_S = 1800.0
# Margin on the learned rate before giving replicas back (HPA's tolerance, same purpose).
TOLERANCE = 0.1

AT_RISK = "DeadlineAtRisk"
SURPLUS = "DeadlineSurplus"
ON_TRACK = "DeadlineOnTrack"
UNREACHABLE = "DeadlineUnreachable"


def _smooth(previous: float | None, sample: float) -> float:
    return sample if previous is None else previous + SMOOTHING * (sample - previous)


def learn(observed: Observation, history: History) -> History:
    """Folds this tick's completions and start-up latency into the smoothed estimates kept in History."""
    changes = {}
    busy_s, items = 0, 0
    for sample in observed.throughput:  # one loop, not two sums over generators: every workload, every tick
        if sample.replica_seconds > 0:
            busy_s += sample.replica_seconds
            items += sample.items
    if busy_s > 0:
        learned_s = min(history.throughput_busy_s + busy_s, THROUGHPUT_MEMORY_S)
        previous = history.throughput_per_s if history.throughput_per_s is not None else items / busy_s
        changes.update(throughput_samples=history.throughput_samples + 1, throughput_busy_s=learned_s,
                       throughput_per_s=previous + busy_s / learned_s * (items / busy_s - previous))
    if observed.startup_s is not None:
        changes["startup_s"] = _smooth(history.startup_s, observed.startup_s)
        if history.startup_s is not None:
            changes["startup_dev_s"] = _smooth(history.startup_dev_s, abs(observed.startup_s - history.startup_s))
    return history.evolve(**changes) if changes else history


def throughput_of(metric: DeadlineMetric, history: History) -> float:
    """Items per second per replica: the prior until minSamples readings held completions, then the learned rate."""
    if history.throughput_samples < metric.min_samples or not history.throughput_per_s:
        return metric.prior_items_per_s
    return history.throughput_per_s


def replicas_needed(work: float, ready: int, per_replica_s: float, deadline_s: float, startup_s: float,
                    arrival_per_s: float) -> int | None:
    """Fewest replicas finishing `work` items within the deadline; None when no count can (start-up eats the deadline)."""
    steady = math.ceil(arrival_per_s / per_replica_s - 1e-9)
    if ready * per_replica_s * deadline_s >= work:
        return max(math.ceil(work / (per_replica_s * deadline_s) - 1e-9), steady, 1)
    # New replicas only help once started: each contributes throughput × (deadline - start-up).
    useful_s = deadline_s - startup_s
    if useful_s <= 0:
        return None
    missing = work - ready * per_replica_s * deadline_s
    return max(ready + math.ceil(missing / (per_replica_s * useful_s) - 1e-9), steady)


def propose(workload: Workload, metric: DeadlineMetric, observed: Observation, history: History,
            now: datetime) -> Proposal:
    name = f"deadline:{workload.queue_name}"
    current = observed.replicas
    if observed.queue is None:
        return Proposal(current, name, backlog.FAILED_GET_QUEUE_ATTRIBUTES,
                        f"unable to read the attributes of queue {workload.queue_name}", valid=False)
    waiting = backlog.backlog_of(workload, observed.queue)
    if waiting == 0:
        return Proposal(current, name, backlog.NOT_ACTIVE, "queue and in-flight empty") \
            if backlog.is_resting(workload, current) else backlog.drained(workload, observed, history, now, name)
    per_replica_s = throughput_of(metric, history)
    startup_s = history.startup_s if history.startup_s is not None else metric.prior_startup_s
    arrival_per_s = observed.arrival_per_s or 0.0
    work = waiting + arrival_per_s * metric.seconds
    shown = (f"backlog {waiting} + {arrival_per_s:g}/s within {metric.seconds}s at {per_replica_s:.3g}/s per replica "
             f"(start-up {startup_s:.0f}s)")
    needed = replicas_needed(work, min(observed.ready_replicas, current), per_replica_s, metric.seconds, startup_s,
                             arrival_per_s)
    if needed is None:
        return Proposal(workload.max_replicas, name, UNREACHABLE, f"{shown}: unreachable, asking for the maximum")
    if needed < current:
        # Hysteresis: shrink only to what would still finish were the replicas a tolerance slower than estimated,
        # so noise in the learned rate cannot walk the count down and back up.
        needed = min(current, replicas_needed(work, min(observed.ready_replicas, current),
                                              per_replica_s * (1 - TOLERANCE), metric.seconds, startup_s,
                                              arrival_per_s) or current)
        if needed == current:
            return Proposal(current, name, ON_TRACK, f"{shown} -> keeping {current}")
    reason = AT_RISK if needed > current else SURPLUS if needed < current else ON_TRACK
    return Proposal(needed, name, reason, f"{shown} -> {needed} replicas")
