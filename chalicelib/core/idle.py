"""Break-even idle of DESIGN.md "The decision core": idle capacity is kept only while it is cheaper than a cold start.

Keeping an idle replica or node is a bet that work comes back before it would have paid for the cold start it saves
(the ski-rental problem): keeping it for as long as a cold start costs is never worse than twice the best choice made
in hindsight. A cold start costs the start-up (a replica) or the boot (a node) paid without work done, and Fargate's
one-minute minimum; both are measured (status.startupSeconds, the pool's boot-to-ready time) and learned in History.
`cooldownSeconds` and `scaleDownUnneededSeconds` stay as explicit overrides.

A workload with a latency bound (`latencyBoundSeconds`, or a Deadline metric's seconds) on a trickle may also let
its items wait at zero and process them together, when starting for each would cost more, never letting an item
wait beyond its bound. And once the gaps between its bursts are learned, capacity that would idle until well after
its break-even time goes at once: keeping it could only cost more than the cold start.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.core.types import History, Observation, PoolHistory
from chalicelib.model import DeadlineMetric, NodePool, Workload

STARTUP_PRIOR_S = 30.0  # a task's start-up before one was measured: Fargate's and ECS-on-EC2's usual pull and start
BOOT_PRIOR_S = 90.0  # a node's launch to ready before one was measured: EC2 boot and ECS/EKS registration
FARGATE_MINIMUM_S = 60.0  # Fargate bills a task for at least a minute
TICK_S = 15.0  # a decision may come this much later than due: the controller's tick
MIN_KEEP_S = TICK_S
MAX_KEEP_S = 900.0
THROUGHPUT_PRIOR_PER_S = 0.5  # items per replica-second before one was learned, for the batching arithmetic only
# A batch is started as if its cold start were this slow: start-ups vary from one to the next, and a bound is a bound.
SLOW_STARTUP_DEVIATIONS = 4.0  # learned start-up plus this many smoothed deviations: start-ups have long tails
PRIOR_DEVIATION = 0.5  # before deviations were learned: this share of the start-up
BOOT_MARGIN = 1.25  # a node's boot, likewise, as this much slower than learned

IDLE_KEPT = "IdleKeptBreakEven"
BATCHING = "BatchingWithinLatencyBound"
BATCH_RELEASED = "BatchReleased"


@dataclass(frozen=True)
class Keep:
    seconds: float
    basis: str  # what the delay rests on, in words

    def is_over(self, idle_s: float) -> bool:
        """Whether the delay is over by the tick nearest its end: decisions come a tick apart, not when due."""
        return idle_s + TICK_S / 2 >= self.seconds


def latency_bound_s(workload: Workload) -> float | None:
    """The longest an item may take from arrival to done: the spec's bound, else the tightest drain deadline."""
    if workload.latency_bound_s is not None:
        return workload.latency_bound_s
    bound = None
    for metric in workload.metrics:  # a loop, not min() over a generator: every workload asks, every tick
        if isinstance(metric, DeadlineMetric) and (bound is None or metric.seconds < bound):
            bound = metric.seconds
    return bound


def hold_s(workload: Workload, cold_start_s: float) -> float:
    """How long a batching workload lets a first item wait at zero, at most, before it must start."""
    bound = latency_bound_s(workload)
    return 0.0 if bound is None else max(bound - cold_start_s - TICK_S, 0.0)


def slow_startup_s(workload: Workload, history: History) -> float:
    """A start-up a batch can count on: the learned one plus the deviation start-ups showed, or a prior's share."""
    typical = startup_s(workload, history)
    deviation = history.startup_dev_s if history.startup_dev_s is not None else typical * PRIOR_DEVIATION
    return typical + SLOW_STARTUP_DEVIATIONS * deviation


def startup_s(workload: Workload, history: History) -> float:
    if history.startup_s is not None:
        return history.startup_s
    prior = next((m.prior_startup_s for m in workload.metrics if isinstance(m, DeadlineMetric)), None)
    return prior if prior is not None else STARTUP_PRIOR_S


def bills_a_minimum(workload: Workload) -> bool:
    return workload.target.kind == "ECSService" and workload.target.launch_type == "FARGATE"


def replica_keep(workload: Workload, history: History) -> Keep:
    """How long a drained workload keeps its replicas before it goes to minReplicas.

    A task on a node pool costs its node, not itself, and restarts in seconds on a node kept warm: the node's own
    break-even (node_keep) keeps the capacity, so its replicas go after a tick. A Fargate task costs itself and
    restarts in its measured start-up: it stays that long.
    """
    if workload.cooldown_s is not None:
        return Keep(workload.cooldown_s, "cooldownSeconds")
    if workload.node_pools:
        return Keep(MIN_KEEP_S, "break-even: its nodes, kept warm on their own, restart a task in seconds")
    cold_s = startup_s(workload, history)
    return Keep(_bounded(cold_s), f"break-even: a cold start costs {cold_s:.0f}s of start-up")


def paid_for_s(workload: Workload, history: History, now: datetime) -> float:
    """Seconds of the newest tasks' billing minimum still ahead: idling through them costs nothing more."""
    if not bills_a_minimum(workload) or history.last_scale_up_at is None:
        return 0.0
    return max(FARGATE_MINIMUM_S - (now - history.last_scale_up_at).total_seconds() - TICK_S / 2, 0.0)


def node_keep(pool: NodePool, history: PoolHistory) -> Keep:
    """How long a node stays unneeded before it goes."""
    if pool.scale_down_unneeded_s is not None:
        return Keep(pool.scale_down_unneeded_s, "scaleDownUnneededSeconds")
    boot_s = history.boot_s if history.boot_s is not None else BOOT_PRIOR_S
    return Keep(_bounded(boot_s), f"break-even: a node boots in {boot_s:.0f}s")


def _bounded(seconds: float) -> float:
    return min(max(seconds, MIN_KEEP_S), MAX_KEEP_S)


def waiting_since(observed: Observation, backlog: int, history: History, now: datetime) -> datetime | None:
    """When work began waiting for a workload at zero: the age of its oldest item, as far as the controller saw."""
    if observed.replicas == 0 and backlog > 0:
        return history.waiting_since or now
    return None


@dataclass(frozen=True)
class Batch:
    hold: bool
    message: str


def batch(workload: Workload, backlog: int, history: History, now: datetime, cold_start_s: float,
          capacity_paid: bool) -> Batch:
    """Whether a workload at zero with work waiting under a latency bound waits for more, or starts now.

    It waits while its oldest item can still be done in time after one more tick, and the work waiting is smaller
    than the cold start it would pay for (beyond that, waiting amortises little more). It starts at once when the
    capacity it needs is already paid for: a ready node of its pool with room for its task.
    """
    bound = latency_bound_s(workload)
    rate = history.throughput_per_s or THROUGHPUT_PRIOR_PER_S
    drain_s = backlog / rate
    waited_s = (now - (history.waiting_since or now)).total_seconds()
    slack_s = bound - waited_s - cold_start_s - drain_s - TICK_S
    fixed_s = max(cold_start_s, FARGATE_MINIMUM_S) if bills_a_minimum(workload) else cold_start_s
    shown = (f"{backlog} waiting for {waited_s:.0f}s of the {bound}s bound; a start now takes {cold_start_s:.0f}s "
             f"and {drain_s:.0f}s of work")
    if capacity_paid:
        return Batch(False, f"{shown}: a ready node has room, starting now")
    if slack_s <= 0:
        return Batch(False, f"{shown}: starting now to finish within the bound")
    if drain_s >= fixed_s:
        return Batch(False, f"{shown}: the work outweighs the cold start, starting now")
    return Batch(True, f"{shown}: waiting up to {slack_s:.0f}s more to process them together")
