"""The controller's observe step: the objects from the store and every reading the core needs, one batch per source."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from chalicelib.core import tracking
from chalicelib.core.tracking import Completions
from chalicelib.core.types import Observation, PoolObservation, QueueDepth, ResourceUsage
from chalicelib.errors import BallastError
from chalicelib.model import ExternalMetric, NodePool, ResourceMetric, Workload, nodepool_from, workload_from
from chalicelib.telemetry import logger

NAMESPACE = "default"


@dataclass
class World:
    """One tick's view: the objects with their stored status, and what could (or could not) be read of each."""

    workloads: dict[str, Workload]
    statuses: dict[str, dict]
    pools: dict[str, NodePool]
    pool_statuses: dict[str, dict]
    observations: dict[str, Observation]
    completions: dict[str, Completions]
    failures: dict[str, Exception]  # workloads whose target could not be read
    pool_states: dict[str, object]  # a node group's state, or the exception reading it raised
    pool_observations: dict[str, PoolObservation]


def observe(adapters, now: datetime) -> World:
    store = adapters.store
    manifests = store.list_all("Workload", NAMESPACE)
    pool_manifests = store.list_all("NodePool", NAMESPACE)
    workloads = {m["metadata"]["name"]: workload_from(m) for m in manifests}
    statuses = {m["metadata"]["name"]: m.get("status", {}) for m in manifests}
    pools = {m["metadata"]["name"]: nodepool_from(m) for m in pool_manifests}
    pool_statuses = {m["metadata"]["name"]: m.get("status", {}) for m in pool_manifests}

    fleet_states = adapters.fleets.observe([w.target for w in workloads.values()])
    queue_depths = adapters.queues.backlog(sorted({w.queue_name for w in workloads.values() if w.queue_name}))
    utilization = _utilization(adapters, workloads.values(), now)
    external = _external(adapters, workloads.values(), now)
    stats = _recent_stats(store, workloads.values(), now)
    observations, completions, failures = {}, {}, {}
    for name, workload in workloads.items():
        state = fleet_states.get(workload.target)
        if isinstance(state, Exception) or state is None:
            failures[name] = state or BallastError("no state for the target")
            continue
        completions[name] = (tracking.unchanged(statuses[name]) if stats is None
                             else tracking.completions_from(stats.get(name, []), statuses[name], now))
        startup_s = tracking.task_startup_seconds(statuses[name].get("startup"), state.desired, state.running, now)
        observations[name] = _observation(workload, state, queue_depths, utilization, external, completions[name],
                                          startup_s)
    pool_states = adapters.nodegroups.observe(list(pools.values()))
    pool_observations = {
        name: PoolObservation(state.desired, state.ready,
                              tracking.scale_up_seconds(pool_statuses[name].get("boot"), state.desired, state.ready, now))
        for name, state in pool_states.items() if not isinstance(state, Exception)}
    return World(workloads, statuses, pools, pool_statuses, observations, completions, failures, pool_states,
                 pool_observations)


def _utilization(adapters, workloads, now) -> dict:
    targets = [w.target for w in workloads if any(isinstance(m, ResourceMetric) for m in w.metrics)]
    if not targets:
        return {}
    try:
        return adapters.metrics.utilization(targets, now)
    except BallastError as error:
        logger.warning("utilization unavailable", extra={"error": str(error)})
        return {}


def _external(adapters, workloads, now) -> dict:
    wanted = [m for w in workloads for m in w.metrics if isinstance(m, ExternalMetric)]
    if not wanted:
        return {}
    try:
        return adapters.metrics.external(wanted, now)
    except BallastError as error:
        logger.warning("external metrics unavailable", extra={"error": str(error)})
        return {}


def _recent_stats(store, workloads, now) -> dict[str, list[dict]] | None:
    """This minute's and the last minute's stats of every queue workload, in batches; None when unreadable."""
    names = [w.name for w in workloads if w.queue_name]
    if not names:
        return {}
    try:
        return store.recent_stats(names, now)
    except BallastError as error:
        # The queue's depth still drives the scaling; what the stats teach waits for the next tick.
        logger.warning("stats unavailable", extra={"error": str(error)})
        return None


def _observation(workload: Workload, state, depths: dict, utilization: dict, external: dict,
                 completions: Completions, startup_s: float | None) -> Observation:
    depth = depths.get(workload.queue_name) if workload.queue_name else None
    usage = utilization.get(workload.target, {})
    return Observation(
        replicas=state.desired,
        ready=state.running,  # a Deployment's readyReplicas; ECS counts a task as running once its containers are
        running=state.running,
        pending=state.pending,
        resources={r: (ResourceUsage(average_utilization=usage[r]) if r in usage else None) for r in ("cpu", "memory")},
        queue=None if depth is None or isinstance(depth, Exception) else QueueDepth(depth.visible, depth.in_flight, depth.delayed),
        external={m.key: external.get(m.key) for m in workload.metrics if isinstance(m, ExternalMetric)},
        throughput=completions.samples,
        arrival_per_s=completions.arrival_per_s,
        startup_s=startup_s,
        last_arrival_at=completions.last_arrival_at,
    )
