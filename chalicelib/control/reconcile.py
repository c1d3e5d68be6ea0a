"""The controller's tick (DESIGN.md "How data flows"): observe → decide (the pure core) → act → record, for every
namespace at once: one read of each source for all of them, the core's decisions one namespace at a time, so a
Workload sees and shares node pools with its own namespace only."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.control import act, observe, record
from chalicelib.control.observe import Ref, World
from chalicelib.core import decide as core
from chalicelib.core import tracking
from chalicelib.core.types import Decision, History, NodeDecision, PoolHistory, TickDecision
from chalicelib.telemetry import logger, metrics


@dataclass
class NamespaceView:
    """One namespace's share of the world, by name, as the core takes it."""

    workloads: dict = field(default_factory=dict)
    observations: dict = field(default_factory=dict)
    pools: dict = field(default_factory=dict)
    node_states: dict = field(default_factory=dict)
    decided_pools: dict = field(default_factory=dict)


@dataclass
class TickSummary:
    idle: bool
    activated: bool = False  # a workload scaled up from zero: a burst may still be landing
    actions: int = 0
    failures: int = 0
    decisions: dict[Ref, Decision] = field(default_factory=dict)
    pools: dict[Ref, NodeDecision] = field(default_factory=dict)


def tick(adapters, now: datetime) -> TickSummary:
    """One pass over every Workload and NodePool; a failing workload becomes a condition and an event, never a stop."""
    begun = time.perf_counter()
    store = adapters.store
    world = observe.observe(adapters, now)
    by_namespace = _grouped(world)
    decided, decided_pools = {}, {}
    for namespace, view in by_namespace.items():
        decision = _decide(world, namespace, view, now)
        decided.update({(namespace, name): d for name, d in decision.workloads.items()})
        decided_pools.update({(namespace, name): d for name, d in decision.pools.items()})
        view.decided_pools = decision.pools
    observations, pools = world.observations, world.pools
    # Nodes kept for their unneeded time are not idle: the loop ticks on and removes them when that time is up,
    # rather than at whichever scheduled invocation comes next.
    idle = (not world.failures and all(tracking.is_idle(observations[r], d) for r, d in decided.items())
            and all(world.pool_observations[r].nodes == d.nodes == pools[r].min_nodes for r, d in decided_pools.items()))
    activated = any(observations[r].replicas == 0 < d.replicas for r, d in decided.items())
    summary = TickSummary(idle=idle, activated=activated, decisions=decided, pools=decided_pools)
    events: list[dict] = []
    for ref, message in {**world.conflicts, **world.pool_conflicts}.items():
        obj, status = (world.workloads[ref], world.statuses[ref]) if ref in world.conflicts else \
            (pools[ref], world.pool_statuses[ref])
        record.conflict(store, obj, status, message, now, events)
    for ref, error in world.failures.items():
        target = world.workloads[ref].target
        record.failure(store, world.workloads[ref], world.statuses[ref], error,
                       f"{target.kind} {target.service or target.name}", now, events)
        summary.failures += 1
    for ref, error in world.pool_states.items():
        if isinstance(error, Exception):
            pool = pools[ref]
            record.failure(store, pool, world.pool_statuses[ref], error,
                           f"{pool.provider_kind} {pool.auto_scaling_group or pool.nodegroup}", now, events)
            summary.failures += 1
    for ref, workload_decision in decided.items():
        workload, status = world.workloads[ref], world.statuses[ref]
        outcome = act.scale_workload(adapters, workload, status, observations[ref], workload_decision, now)
        if outcome is None:
            continue
        summary.actions += outcome.acted
        view = by_namespace[ref[0]]
        waits = tracking.waits_for_nodes(workload, view.decided_pools, view.node_states)
        record.workload_status(store, workload, status, observations[ref], world.completions[ref], workload_decision,
                               outcome, waits, now, events)
    for ref, node_decision in decided_pools.items():
        outcome = act.resize_pool(adapters, pools[ref], world.pool_states[ref], node_decision, now)
        summary.actions += outcome.acted
        record.pool_status(store, pools[ref], world.pool_statuses[ref], world.pool_observations[ref],
                           node_decision, outcome, now, events)
    record.events(store, events)
    latency_ms = (time.perf_counter() - begun) * 1000
    # Both are added on every tick, idle or not, so the flush is never empty (Powertools warns on an empty one).
    metrics.add_metric(name="DecisionLatencyMs", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="ScaleActions", unit=MetricUnit.Count, value=summary.actions)
    metrics.flush_metrics()
    logger.debug("ticked", extra={"workloads": len(world.workloads), "nodePools": len(pools),
                                  "namespaces": len(world.namespaces()), "actions": summary.actions,
                                  "failures": summary.failures, "latencyMs": round(latency_ms, 1)})
    return summary


def _grouped(world: World) -> dict[str, NamespaceView]:
    """Each namespace's workloads, observations, pools and node states by name, built in one pass over each."""
    views = {namespace: NamespaceView() for namespace in world.namespaces()}
    for (namespace, name), observation in world.observations.items():
        views[namespace].observations[name] = observation
        views[namespace].workloads[name] = world.workloads[(namespace, name)]
    for (namespace, name), state in world.pool_observations.items():
        views[namespace].node_states[name] = state
        views[namespace].pools[name] = world.pools[(namespace, name)]
    return views


def _decide(world: World, namespace: str, view: NamespaceView, now: datetime) -> TickDecision:
    """The core's decisions for one namespace: its workloads, capped by its own node pools."""
    return core.decide_tick(
        workloads=tuple(view.workloads.values()),
        pools=view.pools,
        observations=view.observations,
        histories={name: History.from_dict(world.statuses[(namespace, name)].get("history"))
                   for name in view.observations},
        node_states=view.node_states,
        now=now,
        pool_histories={name: PoolHistory.from_dict(world.pool_statuses[(namespace, name)].get("history"))
                        for name in view.node_states},
    )
