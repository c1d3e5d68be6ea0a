"""The KEDA queue proposal of DESIGN.md "The decision core": backlog per replica, activation above the threshold, rest only
after the cooldown (upstream pkg/scalers/aws_sqs_queue_scaler.go and pkg/scaling/executor/scale_scaledobjects.go)."""
from __future__ import annotations

import math
from datetime import datetime

from chalicelib.core import external, idle, utilization
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
FINISHED_BEFORE_START = "BacklogFinishedBeforeNewReplicasStart"
# A queue empty for less than this between two items is one stretch of work, not a gap between bursts.
MIN_GAP_S = 30.0
GAP_SMOOTHING = 0.3


def backlog_of(workload: Workload, queue: QueueDepth) -> int:
    return queue.backlog(workload.include_delayed, workload.include_in_flight)


def is_drained(workload: Workload, observed: Observation) -> bool:
    """True when the workload's queue was read and nothing waits in it nor is being worked on."""
    return workload.queue_name is not None and observed.queue is not None and backlog_of(workload, observed.queue) == 0


def activation_threshold(workload: Workload) -> float:
    threshold = None
    for metric in workload.metrics:  # a loop, not min() over a generator: every workload asks, every tick
        if isinstance(metric, BacklogMetric) and (threshold is None or metric.activation_threshold < threshold):
            threshold = metric.activation_threshold
    return threshold or 0


def is_resting(workload: Workload, current: int) -> bool:
    """Whether the workload is at the count it rests at when inactive (zero, or KEDA's idleReplicaCount)."""
    resting = workload.resting_replicas
    return resting is not None and current <= resting


def is_scaling_disabled(workload: Workload, current: int) -> bool:
    """The HPA's rule: a target at zero with minReplicas above zero is not autoscaled (upstream horizontal.go)."""
    return current == 0 and workload.min_replicas > 0 and workload.idle_replicas is None


def should_wake(workload: Workload, current_replicas: int, backlog: int) -> bool:
    """Whether ingest should nudge the controller now rather than wait for the next scheduled tick."""
    return (workload.paused_replicas is None and not workload.paused_scale_out and is_resting(workload, current_replicas)
            and backlog > activation_threshold(workload))


def remember(workload: Workload, observed: Observation, history: History, now: datetime) -> History:
    """Moves the cooldown's anchor: the last time the queue was seen holding or working on anything.

    A queue read empty at every tick may still be busy: a trickle of uploads that the replicas finish between ticks.
    The last arrival ingest recorded is work the queue held, so it moves the anchor too, and a workload serving a
    trickle keeps its replica instead of flapping between zero and one (KEDA, which sees only the depth, flaps).
    Work coming back after the queue stayed empty for a while teaches the gap between bursts.
    """
    if observed.queue is None:
        return history
    anchor, gap_s = history.queue_last_nonempty_at, history.gap_s
    # Active as KEDA's scaler says it: more than the activation threshold waiting (lastActiveTime moves only then).
    # A workload never seen active keeps no anchor: KEDA scales it to its minimum at once, no cooldown to wait out.
    waiting = backlog_of(workload, observed.queue)
    busy = waiting > activation_threshold(workload)
    returned = observed.last_arrival_at if observed.last_arrival_at is not None and \
        (anchor is None or anchor < observed.last_arrival_at) else None
    if busy:
        new_anchor = now
    elif returned is not None:
        new_anchor = min(returned, now)
    elif anchor is None and is_resting(workload, observed.replicas):
        # At rest there is nothing to scale in: the first sight of the quiet queue starts the clock the first gap
        # between bursts is learned from. Running and never active, the anchor stays unset and the replicas go.
        new_anchor = now
    else:
        new_anchor = anchor
    if anchor is not None and (busy or returned is not None):
        quiet_s = ((returned or now) - anchor).total_seconds()
        if quiet_s >= MIN_GAP_S:
            gap_s = quiet_s if gap_s is None else gap_s + GAP_SMOOTHING * (quiet_s - gap_s)
    waiting_since = idle.waiting_since(observed, waiting, history, now)
    if new_anchor == anchor and gap_s == history.gap_s and waiting_since == history.waiting_since:
        return history
    return history.evolve(queue_last_nonempty_at=new_anchor, gap_s=gap_s, waiting_since=waiting_since)


def _replicas_wanted_in_s(workload: Workload, history: History, now: datetime) -> float | None:
    arrival_in_s = next_work_in_s(history, now)
    if arrival_in_s is None:
        return None
    return arrival_in_s + idle.hold_s(workload, idle.slow_startup_s(workload, history))


def next_work_in_s(history: History, now: datetime) -> float | None:
    """Seconds until work is expected back in a drained queue, from the gaps learned; None when nothing is known."""
    if history.gap_s is None or history.queue_last_nonempty_at is None:
        return None
    due_s = (history.queue_last_nonempty_at - now).total_seconds() + history.gap_s
    # Overdue by more than a gap: the pattern broke, predict nothing.
    return None if due_s < -history.gap_s else max(due_s, 0.0)


def propose(workload: Workload, metric: BacklogMetric, observed: Observation, history: History,
            now: datetime) -> Proposal:
    name = f"backlog:{workload.queue_name}"
    current = observed.replicas
    if observed.queue is None:
        return Proposal(current, name, FAILED_GET_QUEUE_ATTRIBUTES,
                        f"unable to read the attributes of queue {workload.queue_name}", valid=False)
    backlog = backlog_of(workload, observed.queue)
    shown = f"backlog {backlog} at {metric.target_per_replica:g} per replica"
    active = backlog > metric.activation_threshold
    if is_resting(workload, current):
        if active:
            replicas = max(1, workload.min_replicas, math.ceil(backlog / metric.target_per_replica))
            return Proposal(replicas, name, ACTIVATED, f"{shown}: activating from {current} to {replicas}")
        return Proposal(current, name, NOT_ACTIVE, f"{shown}: at or below activation {metric.activation_threshold:g}")
    if not active:
        # KEDA's scaler is inactive at or below activationQueueLength: the cooldown runs as for an empty queue.
        return drained(workload, observed, history, now, name)
    replicas = max(1, external.average_value_replicas(current, backlog, metric.target_per_replica,
                                                      utilization.tolerances_of(workload)))
    if replicas > current and _finished_before_a_start(workload, observed, backlog, history):
        return Proposal(current, name, FINISHED_BEFORE_START,
                        f"{shown}: the {min(observed.ready_replicas, current)} running finish it before a new replica "
                        f"would start ({idle.startup_s(workload, history):.0f}s): keeping {current}")
    reason = ABOVE_TARGET if replicas > current else BELOW_TARGET if replicas < current else WITHIN_TOLERANCE
    return Proposal(replicas, name, reason, f"{shown} -> {replicas} replicas")


def _finished_before_a_start(workload: Workload, observed: Observation, backlog: int, history: History) -> bool:
    """Whether the replicas running now clear the backlog before a new one could start: adding one only costs.

    Only with a learned throughput: the prior is a guess, and a guess must not hold back a burst.
    """
    if history.throughput_per_s is None or history.throughput_samples == 0:
        return False
    running = min(observed.ready_replicas, observed.replicas)
    return backlog <= running * history.throughput_per_s * idle.startup_s(workload, history)


def drained(workload: Workload, observed: Observation, history: History, now: datetime, name: str) -> Proposal:
    """The proposal for a running workload whose queue is inactive: its replicas for the break-even time, then rest.

    With an explicit cooldownSeconds, KEDA's way: the HPA's floor until the cooldown has strictly passed. A workload
    never seen active goes to rest at once (KEDA: no lastActiveTime, no cooldown).
    """
    rest = workload.resting_replicas or 0
    since = history.queue_last_nonempty_at
    if since is None:
        return Proposal(rest, name, DEACTIVATED, f"queue inactive and never seen active: scaling to {rest} at once")
    empty_s = (now - since).total_seconds()
    keep = idle.replica_keep(workload, history)
    paid_s = idle.paid_for_s(workload, history, now)
    if workload.cooldown_s is None and paid_s > 0:
        return Proposal(observed.replicas, name, idle.IDLE_KEPT,
                        f"queue and in-flight empty; keeping {observed.replicas} for the {paid_s:.0f}s of Fargate's "
                        f"minimum already paid for")
    # KEDA scales in once lastActiveTime + cooldownPeriod is Before(now): strictly after, not at, the boundary.
    if (empty_s > keep.seconds) if workload.cooldown_s is not None else keep.is_over(empty_s):
        return Proposal(rest, name, DEACTIVATED, f"queue and in-flight empty for {empty_s:.0f}s, the {keep.seconds:.0f}s "
                                                 f"{'cooldown' if workload.cooldown_s is not None else 'break-even'} "
                                                 f"({keep.basis}): scaling to {rest}")
    wanted_in_s = _replicas_wanted_in_s(workload, history, now)
    if workload.cooldown_s is None and wanted_in_s is not None and wanted_in_s > keep.seconds:
        return Proposal(rest, name, DEACTIVATED, f"queue and in-flight empty; work is expected back in "
                                                 f"{wanted_in_s:.0f}s, after the break-even {keep.seconds:.0f}s: "
                                                 f"scaling to {rest} now")
    left_s = since.timestamp() + keep.seconds - now.timestamp()
    if workload.cooldown_s is not None:
        # KEDA hands an inactive queue to the HPA, whose floor is minReplicas or one, until the cooldown has passed.
        return Proposal(max(1, workload.min_replicas), name, COOLDOWN,
                        f"queue and in-flight empty; {rest} allowed in {left_s:.0f}s")
    return Proposal(observed.replicas, name, idle.IDLE_KEPT,
                    f"queue and in-flight empty for {empty_s:.0f}s; keeping {observed.replicas} for {left_s:.0f}s more "
                    f"({keep.basis})")
