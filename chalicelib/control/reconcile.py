"""The controller's tick (DESIGN.md "How data flows"): observe → decide (the pure core) → act → record."""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime

from aws_lambda_powertools.metrics import MetricUnit

from chalicelib.control import act, observe, record
from chalicelib.core import decide as core
from chalicelib.core import tracking
from chalicelib.core.types import Decision, History, NodeDecision, PoolHistory
from chalicelib.telemetry import logger, metrics


@dataclass
class TickSummary:
    idle: bool
    activated: bool = False  # a workload scaled up from zero: a burst may still be landing
    actions: int = 0
    failures: int = 0
    decisions: dict[str, Decision] = field(default_factory=dict)
    pools: dict[str, NodeDecision] = field(default_factory=dict)


def tick(adapters, now: datetime) -> TickSummary:
    """One pass over every Workload and NodePool; a failing workload becomes a condition and an event, never a stop."""
    begun = time.perf_counter()
    store = adapters.store
    world = observe.observe(adapters, now)
    workloads, pools, observations = world.workloads, world.pools, world.observations
    decision = core.decide_tick(
        workloads=tuple(w for n, w in workloads.items() if n in observations),
        pools={n: p for n, p in pools.items() if n in world.pool_observations},
        observations=observations,
        histories={n: History.from_dict(world.statuses[n].get("history")) for n in observations},
        node_states=world.pool_observations,
        now=now,
        pool_histories={n: PoolHistory.from_dict(world.pool_statuses[n].get("history")) for n in world.pool_observations},
    )
    # Nodes kept for their unneeded time are not idle: the loop ticks on and removes them when that time is up,
    # rather than at whichever scheduled invocation comes next.
    idle = (not world.failures and all(tracking.is_idle(observations[n], d) for n, d in decision.workloads.items())
            and all(world.pool_observations[n].nodes == d.nodes == pools[n].min_nodes
                    for n, d in decision.pools.items()))
    activated = any(observations[n].replicas == 0 < d.replicas for n, d in decision.workloads.items())
    summary = TickSummary(idle=idle, activated=activated, decisions=dict(decision.workloads),
                          pools=dict(decision.pools))
    events: list[dict] = []
    for name, error in world.failures.items():
        target = workloads[name].target
        record.failure(store, workloads[name], world.statuses[name], error,
                       f"{target.kind} {target.service or target.name}", now, events)
        summary.failures += 1
    for name, error in world.pool_states.items():
        if isinstance(error, Exception):
            pool = pools[name]
            record.failure(store, pool, world.pool_statuses[name], error,
                           f"{pool.provider_kind} {pool.auto_scaling_group or pool.nodegroup}", now, events)
            summary.failures += 1
    for name, workload_decision in decision.workloads.items():
        workload, status = workloads[name], world.statuses[name]
        outcome = act.scale_workload(adapters, workload, status, observations[name], workload_decision, now)
        if outcome is None:
            continue
        summary.actions += outcome.acted
        waits = tracking.waits_for_nodes(workload, decision.pools, world.pool_observations)
        record.workload_status(store, workload, status, observations[name], world.completions[name], workload_decision,
                               outcome, waits, now, events)
    for name, node_decision in decision.pools.items():
        outcome = act.resize_pool(adapters, pools[name], world.pool_states[name], node_decision, now)
        summary.actions += outcome.acted
        record.pool_status(store, pools[name], world.pool_statuses[name], world.pool_observations[name],
                           node_decision, outcome, now, events)
    record.events(store, observe.NAMESPACE, events)
    latency_ms = (time.perf_counter() - begun) * 1000
    # Both are added on every tick, idle or not, so the flush is never empty (Powertools warns on an empty one).
    metrics.add_metric(name="DecisionLatencyMs", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="ScaleActions", unit=MetricUnit.Count, value=summary.actions)
    metrics.flush_metrics()
    logger.debug("ticked", extra={"workloads": len(workloads), "nodePools": len(pools), "actions": summary.actions,
                                  "failures": summary.failures, "latencyMs": round(latency_ms, 1)})
    return summary
