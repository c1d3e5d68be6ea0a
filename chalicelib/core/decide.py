"""The decision of DESIGN.md "The decision core": the largest metric proposal, through behaviour, capped by node capacity, explained."""
from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Mapping

from chalicelib.core import backlog, behavior, deadline, external, idle, nodes, utilization
from chalicelib.core.types import (Decision, History, Observation, PoolHistory, PoolObservation, Proposal,
                                   TickDecision)
from chalicelib.model import Condition, Event, NodePool, Workload

PROPOSERS = {"Backlog": backlog.propose, "Resource": utilization.propose,
             "ContainerResource": utilization.propose_container, "External": external.propose,
             "Pods": utilization.propose_pods, "Object": external.propose_object, "Deadline": deadline.propose}

# Upstream horizontal.go's spellings.
SUCCEEDED_GET_SCALE = "SucceededGetScale"
SUCCEEDED_RESCALE = "SucceededRescale"
SUCCESSFUL_RESCALE = "SuccessfulRescale"
VALID_METRIC_FOUND = "ValidMetricFound"
FAILED_COMPUTE_METRICS_REPLICAS = "FailedComputeMetricsReplicas"
SCALING_DISABLED = "ScalingDisabled"
ABOVE_MAX = "Current number of replicas above Spec.MaxReplicas"
BELOW_MIN = "Current number of replicas below Spec.MinReplicas"
# Ballast's own.
NO_METRICS = "NoMetricsConfigured"
QUEUE_DRAINED = "QueueDrained"
SCALE_IN_PAUSED = "ScaleInPaused"  # KEDA's autoscaling.keda.sh/paused-scale-in, as spec.pausedScaleIn
SCALE_OUT_PAUSED = "ScaleOutPaused"  # KEDA's autoscaling.keda.sh/paused-scale-out, as spec.pausedScaleOut
TARGET_AT_ZERO = "scaling is disabled since the replica count of the target is zero"  # upstream's message


def decide(workload: Workload, observed: Observation, history: History, now: datetime) -> Decision:
    """Replicas for one workload this tick, with conditions, events and the history to store for the next."""
    return conclude(workload, observed, recommend(workload, observed, history, now), now)


def recommend(workload: Workload, observed: Observation, history: History, now: datetime,
              cold_start_s: float | None = None, capacity_paid: bool = False) -> Decision:
    """The decision before it is final: no rescale event and no scale event recorded yet (see `conclude`).

    `cold_start_s` is what starting from zero takes now (start-up, and a node's boot when none has room), and
    `capacity_paid` says a ready node has room for a task: decide_tick knows the pools, a lone workload does not.
    """
    history = deadline.learn(observed, backlog.remember(workload, observed, history, now))
    current = observed.replicas
    if workload.paused_replicas is not None:
        return _held(workload.paused_replicas, history, SCALING_DISABLED,
                     f"autoscaling is paused: replicas held at {workload.paused_replicas} by spec.replicas")
    if backlog.is_scaling_disabled(workload, current):
        # The HPA leaves a target someone scaled to zero alone; only a workload that may rest at zero wakes itself.
        return _held(0, history, SCALING_DISABLED, TARGET_AT_ZERO)
    resting = backlog.is_resting(workload, current)
    if current > workload.max_replicas or (current < workload.min_replicas and not resting):
        why = ABOVE_MAX if current > workload.max_replicas else BELOW_MIN
        target = min(max(current, workload.min_replicas), workload.max_replicas)
        return Decision(target, (_able(SUCCEEDED_GET_SCALE),), (), history, why, why)
    if (resting and current == 0 and idle.latency_bound_s(workload) is not None and history.waiting_since is not None
            and observed.queue is not None):
        waiting = backlog.backlog_of(workload, observed.queue)
        cold_s = cold_start_s if cold_start_s is not None else idle.slow_startup_s(workload, history)
        batch = idle.batch(workload, waiting, history, now, cold_s, capacity_paid)
        if batch.hold and waiting > backlog.activation_threshold(workload):
            return Decision(0, (_able(SUCCEEDED_GET_SCALE), behavior.condition(
                behavior.SCALING_ACTIVE, True, idle.BATCHING, batch.message)), (), history, idle.BATCHING,
                batch.message)
    proposals = [PROPOSERS[m.type](workload, m, observed, history, now) for m in workload.metrics]
    chosen, active = combine(proposals, current)
    invalid = [p for p in proposals if not p.valid]
    warnings = tuple(_event(workload, "Warning", p.reason, p.message, now) for p in invalid) if invalid else ()
    if chosen is None:
        failed = _event(workload, "Warning", FAILED_COMPUTE_METRICS_REPLICAS, active.message, now)
        return Decision(current, (_able(SUCCEEDED_GET_SCALE), active), warnings + (failed,), history, active.reason,
                        active.message)
    chosen = _paused(workload, current, _unless_drained(workload, observed, chosen))
    if resting and chosen.replicas > current and workload.activation == "Paced":
        # KEDA's scaleFromZeroOrIdle: max(minReplicaCount, 1), then the HPA's rate policies pace the rest.
        paced = max(workload.min_replicas, 1)
        chosen = Proposal(min(paced, workload.max_replicas), chosen.metric, backlog.ACTIVATED,
                          f"{chosen.message}; activating to {paced} (activation Paced, as KEDA)")
    if chosen.reason == backlog.DEACTIVATED and workload.resting_replicas is not None:
        # KEDA scales an inactive target to rest itself once the cooldown passed; the cooldown was the stabilisation.
        return Decision(chosen.replicas, (_able(behavior.READY_FOR_NEW_SCALE), active, _within_range()), warnings,
                        history, chosen.reason, chosen.message, chosen.metric)
    limited = behavior.limit(workload, current, chosen.replicas, history, now)
    if resting and limited.replicas < chosen.replicas and workload.behavior.scale_up.select_policy != "Disabled":
        # Activation is not paced by the rate policies (KEDA's executor sets the count itself), and with Sized
        # activation it goes straight to the backlog-sized count: the policies pace a running fleet's growth on a
        # noisy metric; a workload at rest with a queue full of work gains nothing from starting a few at a time.
        activated = min(max(chosen.replicas, workload.min_replicas), workload.max_replicas)
        limited = behavior.Limited(activated, limited.stabilized, (limited.conditions[0], behavior.condition(
            behavior.SCALING_LIMITED, activated < chosen.replicas, behavior.TOO_MANY_REPLICAS
            if activated < chosen.replicas else behavior.DESIRED_WITHIN_RANGE,
            "the desired replica count is more than the maximum replica count" if activated < chosen.replicas
            else "the desired count is within the acceptable range")), limited.history)
    reason = limited.reason if limited.replicas != chosen.replicas else chosen.reason
    why = ""
    for condition in limited.conditions:  # a loop, not next() over a generator: every workload, every tick
        if condition.reason == reason:
            why = condition.message
            break
    message = chosen.message if reason == chosen.reason else f"{chosen.message}; {why}"
    return Decision(limited.replicas, (limited.conditions[0], active, limited.conditions[1]), warnings,
                    limited.history, reason, message, chosen.metric)


def combine(proposals: list[Proposal], current: int) -> tuple[Proposal | None, Condition]:
    """Upstream computeReplicasForMetrics: the largest valid proposal, unless invalid metrics forbid acting."""
    chosen = None
    for proposal in proposals:
        if proposal.valid and (chosen is None or proposal.replicas > chosen.replicas):
            chosen = proposal
    invalid = [p for p in proposals if not p.valid]
    if not proposals:
        return None, Condition(behavior.SCALING_ACTIVE, False, NO_METRICS, "the workload lists no metrics")
    # A metric we cannot read may hide load: it never lets the others scale down, only up.
    if chosen is None or (invalid and chosen.replicas < current):
        first = invalid[0]
        return None, Condition(behavior.SCALING_ACTIVE, False, first.reason, first.message)
    return chosen, behavior.condition(behavior.SCALING_ACTIVE, True, VALID_METRIC_FOUND,
                             f"the HPA was able to successfully calculate a replica count from {chosen.metric}")


def _unless_drained(workload: Workload, observed: Observation, chosen: Proposal) -> Proposal:
    # The seed scaled up after its queues had drained: with nothing queued or in flight, more workers do nothing.
    if chosen.replicas > observed.replicas and backlog.is_drained(workload, observed):
        return Proposal(observed.replicas, chosen.metric, QUEUE_DRAINED,
                        f"queue and in-flight empty: not scaling up ({chosen.message})")
    return chosen


def _paused(workload: Workload, current: int, chosen: Proposal) -> Proposal:
    # KEDA's pause annotations hold one direction (its executor neither deactivates nor activates, its HPA's
    # policy for that direction is Disabled); the other direction scales as ever.
    if workload.paused_scale_in and chosen.replicas < current:
        return Proposal(current, chosen.metric, SCALE_IN_PAUSED,
                        f"scale-in paused by spec.pausedScaleIn: keeping {current} ({chosen.message})")
    if workload.paused_scale_out and chosen.replicas > current:
        return Proposal(current, chosen.metric, SCALE_OUT_PAUSED,
                        f"scale-out paused by spec.pausedScaleOut: keeping {current} ({chosen.message})")
    return chosen


def conclude(workload: Workload, observed: Observation, decision: Decision, now: datetime) -> Decision:
    """Adds what only a final count may: the rescale event, AbleToScale=SucceededRescale, the scale event for the rates."""
    current = observed.replicas
    if decision.replicas == current:
        return _asleep(workload, decision) if current == 0 else decision
    why = _rescale_reason(decision, current)
    event = _event(workload, "Normal", SUCCESSFUL_RESCALE, f"New size: {decision.replicas}; reason: {why}", now,
                   (("from", current), ("to", decision.replicas), ("metric", decision.metric),
                    ("reason", decision.reason), ("detail", decision.message)))
    able = behavior.condition(behavior.ABLE_TO_SCALE, True, SUCCEEDED_RESCALE,
                     f"the HPA controller was able to update the target scale to {decision.replicas}")
    conditions = (able,) + tuple([c for c in decision.conditions if c.type != behavior.ABLE_TO_SCALE])
    history = decision.history
    if decision.replicas > current:
        history = history.evolve(last_scale_up_at=now)
    if decision.replicas > current and backlog.is_resting(workload, current):
        # Activation is not paced (recommend), and the fleet's growth from there is paced as from new.
        history = history.evolve(last_scale_at=now)
    else:
        history = behavior.record_scale(history, workload.behavior.scale_up, workload.behavior.scale_down, current,
                                        decision.replicas, now)
    # The constructor, not dataclasses.replace: a tick concludes thousands of decisions and replace introspects each.
    return Decision(decision.replicas, conditions, decision.events + (event,), history, decision.reason,
                    decision.message, decision.metric)


def _asleep(workload: Workload, decision: Decision) -> Decision:
    """At zero and staying there, ScalingActive is False as the HPA shows it (KEDA's Active=False); a reason of its own
    (a queue that cannot be read, autoscaling paused) is kept."""
    active = next((c for c in decision.conditions if c.type == behavior.SCALING_ACTIVE), None)
    if active is None or not active.status:
        return decision
    threshold = backlog.activation_threshold(workload)
    wakes = f"; a backlog above {threshold:g} scales it up" if any(m.type in ("Backlog", "Deadline") for m in workload.metrics) else ""
    asleep = Condition(behavior.SCALING_ACTIVE, False, SCALING_DISABLED,
                       f"scaling is disabled since the replica count of the target is zero{wakes}")
    return replace(decision, conditions=tuple(asleep if c is active else c for c in decision.conditions))


def _rescale_reason(decision: Decision, current: int) -> str:
    if decision.reason in (ABOVE_MAX, BELOW_MIN, SCALING_DISABLED):
        return decision.reason if decision.reason != SCALING_DISABLED else decision.message
    if decision.replicas > current:
        return f"{decision.metric} above target"
    return "All metrics below target"


def cap(decision: Decision, capacity: int, reason: str, message: str) -> Decision:
    """Lowers a recommendation to what the node pools can hold, saying so in ScalingLimited."""
    if decision.replicas <= capacity:
        return decision
    limited = Condition(behavior.SCALING_LIMITED, True, reason, message)
    conditions = tuple(c for c in decision.conditions if c.type != behavior.SCALING_LIMITED) + (limited,)
    return replace(decision, replicas=capacity, conditions=conditions, reason=reason,
                   message=f"{decision.message}; {message}")


def decide_tick(workloads: tuple[Workload, ...], pools: Mapping[str, NodePool],
                observations: Mapping[str, Observation], histories: Mapping[str, History],
                node_states: Mapping[str, PoolObservation], now: datetime,
                pool_histories: Mapping[str, PoolHistory] | None = None) -> TickDecision:
    """One reconcile tick: replicas for every observed workload, capped by node capacity, then nodes for every pool."""
    pool_histories = pool_histories or {}
    observed = [w for w in workloads if w.name in observations]
    recommended = {}
    for w in observed:
        history = histories.get(w.name)
        if history is None:  # not .get(name, History()): that builds a History for every workload that has one
            history = History()
        cold_start_s, paid = None, False
        if idle.latency_bound_s(w) is not None and observations[w.name].replicas == 0:
            paid = nodes.has_room(w, observed, observations, pools, node_states)
            cold_start_s = idle.slow_startup_s(w, history) + (0 if paid else idle.BOOT_MARGIN * nodes.boot_s(
                w, pools, pool_histories))
        recommended[w.name] = recommend(w, observations[w.name], history, now, cold_start_s, paid)
    by_name = {w.name: w for w in observed}
    # Replicas a user pinned (spec.replicas) are wanted whatever the queue holds: their tasks may get new nodes.
    demands = [nodes.Demand(w, recommended[w.name].replicas,
                            w.paused_replicas is not None or not backlog.is_drained(w, observations[w.name]),
                            _nodes_wanted_in_s(w, observations[w.name], recommended[w.name].history, pools,
                                               pool_histories, now),
                            observations[w.name].replicas, _backlog(w, observations[w.name]))
               for w in by_name.values() if w.node_pools]
    plan = nodes.plan(demands, pools, node_states, pool_histories, now)
    decided = {}
    for name, decision in recommended.items():
        if name in plan.capacity:
            limit = plan.capacity[name]
            decision = cap(decision, limit.replicas, limit.reason, limit.message)
        decided[name] = conclude(by_name[name], observations[name], decision, now)
    return TickDecision(decided, plan.pools)


def _backlog(workload: Workload, observed: Observation) -> int:
    return backlog.backlog_of(workload, observed.queue) if observed.queue is not None else 0


def _nodes_wanted_in_s(workload: Workload, observed: Observation, history: History, pools, pool_histories,
                       now: datetime) -> float | None:
    """When a drained workload will want nodes again: its next work, and for a batching one the wait it allows.

    A workload with a latency bound wants nodes no sooner than that wait even when nothing predicts its next work: an
    item arriving at once may wait for a batch. Without this a trickle across a pool's queues, each item coming
    before the pool's break-even time, kept a node up all night for a few seconds of work a minute.
    """
    if not backlog.is_drained(workload, observed):
        return None
    arrival_in_s = backlog.next_work_in_s(history, now)
    if arrival_in_s is None:
        if idle.latency_bound_s(workload) is None:
            return None
        arrival_in_s = 0.0
    cold_start_s = idle.slow_startup_s(workload, history) + idle.BOOT_MARGIN * nodes.boot_s(workload, pools,
                                                                                             pool_histories)
    return arrival_in_s + idle.hold_s(workload, cold_start_s)


def _able(reason: str) -> Condition:
    messages = {SUCCEEDED_GET_SCALE: "the HPA controller was able to get the target's current scale",
                behavior.READY_FOR_NEW_SCALE: "recommended size matches current size"}
    return behavior.condition(behavior.ABLE_TO_SCALE, True, reason, messages[reason])


def _within_range() -> Condition:
    return behavior.condition(behavior.SCALING_LIMITED, False, behavior.DESIRED_WITHIN_RANGE,
                     "the desired count is within the acceptable range")


def _held(replicas: int, history: History, reason: str, message: str) -> Decision:
    return Decision(replicas, (_able(SUCCEEDED_GET_SCALE), Condition(behavior.SCALING_ACTIVE, False, reason, message)),
                    (), history, reason, message)


def _event(workload: Workload, kind: str, reason: str, message: str, now: datetime,
           data: tuple[tuple[str, object], ...] = ()) -> Event:
    return Event(kind, reason, message, "Workload", workload.name, now, data, workload.namespace)
