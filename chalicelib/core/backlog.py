"""The KEDA queue proposal of DESIGN.md "The decision core": backlog per replica, activation at any backlog, zero only after the cooldown."""
from __future__ import annotations

import math
from datetime import datetime, timedelta

from chalicelib.core import external
from chalicelib.core.types import History, Observation, Proposal, QueueDepth
from chalicelib.model import BacklogMetric, Workload

# KEDA's event reasons where the meaning matches (pkg/eventreason), ours otherwise.
ACTIVATED = "KEDAScaleTargetActivated"
DEACTIVATED = "KEDAScaleTargetDeactivated"
NOT_ACTIVE = "ScalerNotActive"
FAILED_GET_QUEUE_ATTRIBUTES = "FailedGetQueueAttributes"
ABOVE_TARGET = "BacklogAboveTarget"
BELOW_TARGET = "BacklogBelowTarget"
WITHIN_TOLERANCE = "BacklogWithinTolerance"
COOLDOWN = "BacklogEmptyCoolingDown"


def backlog_of(workload: Workload, queue: QueueDepth) -> int:
    return queue.backlog(workload.include_delayed)


def is_drained(workload: Workload, observed: Observation) -> bool:
    """True when the workload's queue was read and nothing waits in it nor is being worked on."""
    return workload.queue_name is not None and observed.queue is not None and backlog_of(workload, observed.queue) == 0


def activation_threshold(workload: Workload) -> float:
    return min((m.activation_threshold for m in workload.metrics if isinstance(m, BacklogMetric)), default=0)


def should_wake(workload: Workload, current_replicas: int, backlog: int) -> bool:
    """Whether ingest should nudge the controller now rather than wait for the next scheduled tick."""
    return workload.paused_replicas is None and current_replicas == 0 and backlog > activation_threshold(workload)


def remember(workload: Workload, observed: Observation, history: History, now: datetime) -> History:
    """Moves the cooldown's anchor: the last time the queue was seen holding or working on anything.

    A queue read empty at every tick may still be busy: a trickle of uploads that the replicas finish between ticks.
    The last arrival ingest recorded is work the queue held, so it moves the anchor too, and a workload serving a
    trickle keeps its replica instead of flapping between zero and one (KEDA, which sees only the depth, flaps).
    """
    if observed.queue is None:
        return history
    anchor = history.queue_last_nonempty_at
    # With no memory of the queue, assume it was busy just now: a missing record must never shorten the cooldown.
    if backlog_of(workload, observed.queue) > 0 or anchor is None:
        anchor = now
    elif observed.last_arrival_at is not None and anchor < observed.last_arrival_at:
        anchor = min(observed.last_arrival_at, now)
    return history if anchor == history.queue_last_nonempty_at else history.evolve(queue_last_nonempty_at=anchor)


def propose(workload: Workload, metric: BacklogMetric, observed: Observation, history: History,
            now: datetime) -> Proposal:
    name = f"backlog:{workload.queue_name}"
    current = observed.replicas
    if observed.queue is None:
        return Proposal(current, name, FAILED_GET_QUEUE_ATTRIBUTES,
                        f"unable to read the attributes of queue {workload.queue_name}", valid=False)
    backlog = backlog_of(workload, observed.queue)
    shown = f"backlog {backlog} at {metric.target_per_replica:g} per replica"
    if current == 0:
        if backlog > metric.activation_threshold:
            replicas = max(1, math.ceil(backlog / metric.target_per_replica))
            return Proposal(replicas, name, ACTIVATED, f"{shown}: activating from zero to {replicas}")
        return Proposal(0, name, NOT_ACTIVE, f"{shown}: at or below activation {metric.activation_threshold:g}")
    if backlog == 0:
        return drained(workload, history, now, name)
    replicas = max(1, external.average_value_replicas(current, backlog, metric.target_per_replica))
    reason = ABOVE_TARGET if replicas > current else BELOW_TARGET if replicas < current else WITHIN_TOLERANCE
    return Proposal(replicas, name, reason, f"{shown} -> {replicas} replicas")


def drained(workload: Workload, history: History, now: datetime, name: str) -> Proposal:
    """The proposal for a running workload whose queue is empty: one until the cooldown has passed, then zero."""
    since = history.queue_last_nonempty_at or now
    empty_s = (now - since).total_seconds()
    if empty_s >= workload.cooldown_s:
        return Proposal(0, name, DEACTIVATED, f"queue and in-flight empty for {empty_s:.0f}s "
                                              f"(cooldown {workload.cooldown_s}s): scaling to zero")
    # KEDA hands an idle queue to the HPA, whose floor is one replica, until the cooldown has passed.
    left = since + timedelta(seconds=workload.cooldown_s) - now
    return Proposal(1, name, COOLDOWN, f"queue and in-flight empty; zero allowed in {left.total_seconds():.0f}s")
