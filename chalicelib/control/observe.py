"""The controller's observe step: the objects of every namespace from the store and every reading the core needs, one
batch per source whatever the number of namespaces."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.adapters.metrics import Readings, Series
from chalicelib.core import tracking
from chalicelib.core.tracking import Completions
from chalicelib.core.types import Observation, PoolObservation, QueueDepth, ResourceUsage
from chalicelib.errors import BallastError
from chalicelib.model import (SERIES_METRICS, ContainerResourceMetric, NodePool, ResourceMetric, Workload,
                              nodepool_from, workload_from)
from chalicelib.telemetry import logger

Ref = tuple[str, str]  # (namespace, name): names are unique within a namespace only


@dataclass
class World:
    """One tick's view: the objects with their stored status, and what could (or could not) be read of each."""

    workloads: dict[Ref, Workload]
    statuses: dict[Ref, dict]
    pools: dict[Ref, NodePool]
    pool_statuses: dict[Ref, dict]
    observations: dict[Ref, Observation]
    completions: dict[Ref, Completions]
    failures: dict[Ref, Exception]  # workloads whose target could not be read
    pool_states: dict[Ref, object]  # a node group's state, or the exception reading it raised
    pool_observations: dict[Ref, PoolObservation]
    # Objects that share what only one may own (created before the API refused a second owner): neither is scaled.
    conflicts: dict[Ref, str] = field(default_factory=dict)
    pool_conflicts: dict[Ref, str] = field(default_factory=dict)

    def namespaces(self) -> list[str]:
        return sorted({ref[0] for ref in self.workloads} | {ref[0] for ref in self.pools})


def ref_of(obj: Workload | NodePool) -> Ref:
    return obj.namespace, obj.name


def observe(adapters, now: datetime) -> World:
    store = adapters.store
    manifests = store.list_all("Workload", None)
    pool_manifests = store.list_all("NodePool", None)
    workloads = {_ref(m): workload_from(m) for m in manifests}
    statuses = {_ref(m): m.get("status", {}) for m in manifests}
    pools = {_ref(m): nodepool_from(m) for m in pool_manifests}
    pool_statuses = {_ref(m): m.get("status", {}) for m in pool_manifests}
    conflicts = _shared({ref: w.target.claim for ref, w in workloads.items()}, "Workload",
                        {ref: w.target.describe() for ref, w in workloads.items()})
    pool_conflicts = _shared({ref: p.claim for ref, p in pools.items() if p.claim}, "NodePool",
                             {ref: p.describe() for ref, p in pools.items()})
    scaled = {ref: w for ref, w in workloads.items() if ref not in conflicts}

    fleet_states = adapters.fleets.observe([w.target for w in scaled.values()])
    queue_depths = adapters.queues.backlog(sorted({w.queue_name for w in scaled.values() if w.queue_name}))
    readings = _metrics(adapters, scaled.values(), now)
    stats = _recent_stats(store, scaled, now)
    observations, completions, failures = {}, {}, {}
    for ref, workload in scaled.items():
        state = fleet_states.get(workload.target)
        if isinstance(state, Exception) or state is None:
            failures[ref] = state or BallastError("no state for the target")
            continue
        completions[ref] = (tracking.unchanged(statuses[ref]) if stats is None
                            else tracking.completions_from(stats.get(ref, []), statuses[ref], now))
        startup_s = tracking.task_startup_seconds(statuses[ref].get("startup"), state.desired, state.running, now)
        observations[ref] = _observation(workload, state, queue_depths, readings, completions[ref], startup_s)
    observed_pools = [p for ref, p in pools.items() if ref not in pool_conflicts]
    by_pool = adapters.nodegroups.observe(observed_pools)
    pool_states = {ref_of(pool): state for pool, state in by_pool.items()}
    pool_observations = {
        ref: PoolObservation(state.desired, state.ready,
                             tracking.scale_up_seconds(pool_statuses[ref].get("boot"), state.desired, state.ready, now))
        for ref, state in pool_states.items() if not isinstance(state, Exception)}
    return World(workloads, statuses, pools, pool_statuses, observations, completions, failures, pool_states,
                 pool_observations, conflicts, pool_conflicts)


def _ref(manifest: dict) -> Ref:
    meta = manifest["metadata"]
    return meta.get("namespace", "default"), meta["name"]


def _shared(claims: dict[Ref, str], kind: str, described: dict[Ref, str]) -> dict[Ref, str]:
    """The objects whose claim another object holds too, each with the message naming the others (HPA's
    AmbiguousSelector: several autoscalers for one set of pods)."""
    holders: dict[str, list[Ref]] = defaultdict(list)
    for ref, claim in claims.items():
        holders[claim].append(ref)
    shared = {}
    for refs in holders.values():
        if len(refs) < 2:
            continue
        for ref in refs:
            others = ", ".join(f"{kind} {ns}/{name}" for ns, name in sorted(refs) if (ns, name) != ref)
            shared[ref] = (f"{described[ref]} is also managed by {others}: none of them is scaled until only one "
                           f"is left")
    return shared


def _metrics(adapters, workloads, now) -> Readings:
    """Every CloudWatch reading of the tick's workloads, in one batched request."""
    targets = [w.target for w in workloads if any(isinstance(m, ResourceMetric) for m in w.metrics)]
    containers = [(w.target, m.container) for w in workloads for m in w.metrics if isinstance(m, ContainerResourceMetric)]
    series = list({m.key: Series.of(m) for w in workloads for m in w.metrics if isinstance(m, SERIES_METRICS)}.values())
    if not (targets or containers or series):
        return Readings()
    try:
        return adapters.metrics.read(targets, containers, series, now)
    except BallastError as error:
        logger.warning("metrics unavailable", extra={"error": str(error)})
        return Readings()


def _recent_stats(store, workloads: dict[Ref, Workload], now) -> dict[Ref, list[dict]] | None:
    """This minute's and the last minute's stats of every queue workload, in batches; None when unreadable."""
    refs = [ref for ref, w in workloads.items() if w.queue_name]
    if not refs:
        return {}
    try:
        return store.recent_stats(refs, now)
    except BallastError as error:
        # The queue's depth still drives the scaling; what the stats teach waits for the next tick.
        logger.warning("stats unavailable", extra={"error": str(error)})
        return None


def _observation(workload: Workload, state, depths: dict, readings: Readings, completions: Completions,
                 startup_s: float | None) -> Observation:
    depth = depths.get(workload.queue_name) if workload.queue_name else None
    usage = readings.utilization.get(workload.target, {})
    resources = {r: (ResourceUsage(average_utilization=usage[r]) if r in usage else None) for r in ("cpu", "memory")}
    for metric in workload.metrics:
        if isinstance(metric, ContainerResourceMetric):
            reading = readings.containers.get((workload.target, metric.container), {}).get(metric.resource)
            resources[metric.key] = None if reading is None else ResourceUsage(average_utilization=reading[0],
                                                                               average_value=reading[1])
    return Observation(
        replicas=state.desired,
        ready=state.running,  # a Deployment's readyReplicas; ECS counts a task as running once its containers are
        running=state.running,
        pending=state.pending,
        resources=resources,
        queue=None if depth is None or isinstance(depth, Exception) else QueueDepth(depth.visible, depth.in_flight, depth.delayed),
        external={m.key: readings.series.get(m.key) for m in workload.metrics if isinstance(m, SERIES_METRICS)},
        throughput=completions.samples,
        arrival_per_s=completions.arrival_per_s,
        startup_s=startup_s,
        last_arrival_at=completions.last_arrival_at,
    )
