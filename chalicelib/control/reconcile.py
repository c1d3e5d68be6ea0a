"""The controller of DESIGN.md "How data flows": lease → observe → decide (the pure core) → act → record, every few seconds."""
from __future__ import annotations

import time
import uuid
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta, timezone
from typing import Callable

from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib import config
from chalicelib.photos import job
from chalicelib.core import decide as core
from chalicelib.core.backlog import backlog_of
from chalicelib.core.types import (Decision, History, NodeDecision, Observation, PoolHistory, PoolObservation,
                                   QueueDepth, ResourceUsage, ThroughputSample)
from chalicelib.errors import BallastError, LeaseHeld
from chalicelib.model import (BacklogMetric, Condition, DeadlineMetric, Event, ExternalMetric, NodePool, ResourceMetric, Workload,
                              nodepool_from, workload_from)
from chalicelib.telemetry import logger, metrics

LEASE = "controller"
NAMESPACE = "default"
# Stop ticking this long before the Lambda's timeout: one tick plus the lease release must still fit.
SAFETY_MARGIN_S = 8.0
WAKE_POLL_S = 1.0
FAILED_GET_SCALE = "FailedGetScale"  # HPA's reasons, verbatim
FAILED_RESCALE = "FailedRescale"
SUCCESSFUL_RESCALE = "SuccessfulRescale"
DRY_RUN = "DryRun"


@dataclass
class TickSummary:
    idle: bool
    actions: int = 0
    failures: int = 0
    decisions: dict[str, Decision] = field(default_factory=dict)
    pools: dict[str, NodeDecision] = field(default_factory=dict)


def utcnow() -> datetime:
    return datetime.now(timezone.utc)


def run(adapters, time_left_ms: Callable[[], int], clock: Callable[[], datetime] = utcnow,
        sleep: Callable[[float], None] = time.sleep) -> int:
    """Ticks while this invocation holds the lease and has time left; returns how many ticks it ran.

    An invocation that finds the lease held asks the holder to tick now (the nudge path) and returns at once.
    The loop also ends when nothing is running and nothing is queued, so a quiet night costs one tick a minute.
    """
    store, holder = adapters.store, f"reconcile-{uuid.uuid4().hex[:12]}"
    try:
        store.acquire_lease(LEASE, holder, config.LEASE_TTL_S, clock())
    except LeaseHeld:
        store.request_wake(LEASE, clock())
        logger.info("lease held elsewhere; asked the holder to tick now")
        return 0
    ticks = 0
    try:
        while True:
            started = clock()
            summary = tick(adapters, started)
            ticks += 1
            if summary.idle or not _wait_for_next_tick(adapters, holder, started, time_left_ms, clock, sleep):
                return ticks
    finally:
        store.release_lease(LEASE, holder)


def _wait_for_next_tick(adapters, holder, last_tick, time_left_ms, clock, sleep) -> bool:
    """Sleeps until the next tick is due or a nudge asks for one; False when this invocation must stop."""
    try:
        adapters.store.acquire_lease(LEASE, holder, config.LEASE_TTL_S, clock())
    except LeaseHeld:
        logger.warning("lease lost to another controller; stopping")
        return False
    due = time.monotonic() + config.TICK_INTERVAL_S
    while True:
        spare_s = time_left_ms() / 1000 - SAFETY_MARGIN_S
        if spare_s <= 0:
            return False
        lease = adapters.store.lease_holder(LEASE) or {}
        if time.monotonic() >= due or lease.get("wake", 0) > last_tick.timestamp():
            return True
        sleep(max(0.0, min(WAKE_POLL_S, due - time.monotonic(), spare_s)))


def tick(adapters, now: datetime) -> TickSummary:
    """One pass over every Workload and NodePool; a failing workload becomes a condition and an event, never a stop."""
    begun = time.perf_counter()
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
    arrivals = _last_arrivals(store, workloads.values(), now)
    observations, completions, failures = {}, {}, {}
    for name, workload in workloads.items():
        state = fleet_states.get(workload.target)
        if isinstance(state, Exception) or state is None:
            failures[name] = state or BallastError("no state for the target")
            continue
        completions[name] = _completions(store, workload, statuses[name], now)
        observations[name] = _observation(workload, state, queue_depths, utilization, external, completions[name],
                                          _startup_s(statuses[name], state, now), arrivals.get(name))
    pool_states = adapters.nodegroups.observe(list(pools.values()))
    pool_observations = {name: PoolObservation(state.desired, state.ready) for name, state in pool_states.items()
                          if not isinstance(state, Exception)}

    decision = core.decide_tick(
        workloads=tuple(w for n, w in workloads.items() if n in observations),
        pools={n: p for n, p in pools.items() if n in pool_observations},
        observations=observations,
        histories={n: History.from_dict(statuses[n].get("history")) for n in observations},
        node_states=pool_observations,
        now=now,
        pool_histories={n: PoolHistory.from_dict(pool_statuses[n].get("history")) for n in pool_observations},
    )
    # Nodes kept for their unneeded time are not idle: the loop ticks on and removes them when that time is up,
    # rather than at whichever scheduled invocation comes next.
    idle = (not failures and all(_is_idle(observations[n], d) for n, d in decision.workloads.items())
            and all(pool_observations[n].nodes == d.nodes == pools[n].min_nodes for n, d in decision.pools.items()))
    summary = TickSummary(idle=idle, decisions=dict(decision.workloads), pools=dict(decision.pools))
    # Events of the whole tick go out together: batch writes of 25, not one call per workload.
    events: list[dict] = []
    for name, error in failures.items():
        target = workloads[name].target
        _record_failure(store, workloads[name], statuses[name], error, f"{target.kind} {target.service or target.name}",
                        now, events)
        summary.failures += 1
    for name, error in pool_states.items():
        if isinstance(error, Exception):
            pool = pools[name]
            _record_failure(store, pool, pool_statuses[name], error,
                            f"{pool.provider_kind} {pool.auto_scaling_group or pool.nodegroup}", now, events)
            summary.failures += 1
    for name, workload_decision in decision.workloads.items():
        summary.actions += _act_and_record(adapters, workloads[name], statuses[name], observations[name],
                                           completions[name], workload_decision, now, events)
    for name, node_decision in decision.pools.items():
        summary.actions += _act_on_pool(adapters, pools[name], pool_statuses[name], pool_states[name], node_decision, now,
                                        events)
    _record_events(store, events)
    latency_ms = (time.perf_counter() - begun) * 1000
    # Both are added on every tick, idle or not, so the flush is never empty (Powertools warns on an empty one).
    metrics.add_metric(name="DecisionLatencyMs", unit=MetricUnit.Milliseconds, value=latency_ms)
    metrics.add_metric(name="ScaleActions", unit=MetricUnit.Count, value=summary.actions)
    metrics.flush_metrics()
    logger.debug("ticked", extra={"workloads": len(workloads), "nodePools": len(pools), "actions": summary.actions,
                                  "failures": summary.failures, "latencyMs": round(latency_ms, 1)})
    return summary


# ---- observe -------------------------------------------------------------------------------------------------------


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


def _last_arrivals(store, workloads, now) -> dict[str, datetime]:
    names = [w.name for w in workloads if w.queue_name]
    if not names:
        return {}
    try:
        return store.latest_stamps(names, job.LAST_ARRIVAL, now)
    except BallastError as error:
        # The queue's depth still drives the cooldown; only a trickle between ticks goes unseen this once.
        logger.warning("arrivals unavailable", extra={"error": str(error)})
        return {}


def _observation(workload: Workload, state, depths: dict, utilization: dict, external: dict,
                 completions: Completions, startup_s: float | None, last_arrival_at: datetime | None) -> Observation:
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
        last_arrival_at=last_arrival_at,
    )


@dataclass(frozen=True)
class Completions:
    samples: tuple[ThroughputSample, ...] = ()
    arrival_per_s: float | None = None
    through: str | None = None  # the last whole minute read, kept in status.statsThrough


def _completions(store, workload: Workload, status: dict, now: datetime) -> Completions:
    """Completions of the minutes that ended since the last read, and the latest minute's arrival rate.

    Only the Deadline metric uses them, and the stats change once a minute: so a workload without one costs no
    read, and one with it a single query in the first tick of each minute (the rest reuse the stored rate).
    """
    seen, arrival = status.get("statsThrough"), status.get("arrivalPerSecond")
    minute = now.replace(second=0, microsecond=0)
    last = (minute - timedelta(minutes=1)).isoformat()
    if seen == last or not any(isinstance(m, DeadlineMetric) for m in workload.metrics):
        return Completions((), arrival, seen)
    try:
        buckets = store.read_stats(workload.name, minute - timedelta(minutes=3))
    except BallastError:
        return Completions((), arrival, seen)
    finished = [b for b in buckets if b["minute"] < minute.isoformat()]
    fresh = [b for b in finished if seen is None or b["minute"] > seen]
    samples = tuple(ThroughputSample(b.get("done", 0) + b.get("failed", 0), b.get("busyMs", 0) / 1000)
                    for b in fresh if b.get("busyMs", 0) > 0)
    arrival = finished[-1].get("arrived", 0) / 60 if finished and finished[-1]["minute"] == last else 0.0
    return Completions(samples, arrival, last)


def _startup_s(status: dict, state, now: datetime) -> float | None:
    """Seconds from our scale-up to every task it asked for running, measured when that is first seen (±1 tick)."""
    started = status.get("startup")
    if started and state.desired >= started["replicas"] and state.running >= started["replicas"]:
        return (now - datetime.fromisoformat(started["since"])).total_seconds()
    return None


def _startup_after(status: dict, observation: Observation, decision: Decision, acted: bool, now: datetime) -> dict | None:
    """The scale-up still being timed: the first unfinished one is kept; one undone by a scale-in is dropped."""
    started = status.get("startup")
    if started and (observation.startup_s is not None or observation.replicas < started["replicas"]):
        started = None
    if started is None and acted and decision.replicas > observation.replicas:
        started = {"since": now.isoformat(), "replicas": decision.replicas}
    return started


def _is_idle(observation: Observation, decision: Decision) -> bool:
    depth = observation.queue
    return observation.replicas == 0 and decision.replicas == 0 and (depth is None or depth.backlog(True) == 0)


# ---- act and record ------------------------------------------------------------------------------------------------


def _act_and_record(adapters, workload: Workload, status: dict, observation: Observation, completions: Completions,
                    decision: Decision, now: datetime, outbox: list[dict]) -> int:
    store = adapters.store
    events, conditions, acted = list(decision.events), list(decision.conditions), 0
    if decision.replicas != observation.replicas:
        if workload.dry_run or config.DRY_RUN:
            events = [_event(workload, "Normal", DRY_RUN, f"would scale {observation.replicas} → {decision.replicas} "
                             f"(dry run): {decision.message}", now)]
            logger.info("would scale", extra={"workload": workload.name, "from": observation.replicas,
                                              "to": decision.replicas, "reason": decision.reason})
        elif _spec_moved(store, workload):
            # Acting on the spec this tick read would undo, until the next tick, a `ballast scale` or patch made
            # meanwhile (a user pinning a workload at zero would see it scaled up): the next tick decides on the new one.
            logger.info("spec changed during the tick, not acted on", extra={"workload": workload.name,
                                                                              "to": decision.replicas})
            return 0
        else:
            try:
                adapters.fleets.set_desired(workload.target, decision.replicas)
                acted = 1
                logger.info("scaled", extra={"workload": workload.name, "from": observation.replicas,
                                             "to": decision.replicas, "reason": decision.reason})
            except BallastError as error:
                conditions = [c for c in conditions if c.type != "AbleToScale"]
                conditions.append(Condition("AbleToScale", False, FAILED_RESCALE, _why(error)))
                events = [_event(workload, "Warning", FAILED_RESCALE, f"New size: {decision.replicas}; error: {_why(error)}",
                                 now)]
                logger.warning("rescale failed", extra={"workload": workload.name, "to": decision.replicas,
                                                        "error": _why(error)})
    history = decision.history
    if not acted and decision.replicas != observation.replicas and not (workload.dry_run or config.DRY_RUN):
        # The scale call failed: the core recorded a scale event that did not happen; keep the old memory of scaling.
        old = History.from_dict(status.get("history"))
        history = replace(history, scale_up_events=old.scale_up_events, scale_down_events=old.scale_down_events,
                          last_scale_at=old.last_scale_at)
    depth = observation.queue
    new_status = {
        "observedGeneration": workload.generation,
        "currentReplicas": observation.replicas,
        "desiredReplicas": decision.replicas,
        "readyReplicas": observation.ready_replicas,
        "pendingReplicas": observation.pending,
        "lastScaleTime": history.last_scale_at.isoformat() if history.last_scale_at else None,
        "backlog": None if depth is None else {"visible": depth.visible, "inFlight": depth.in_flight, "delayed": depth.delayed},
        "reason": decision.reason,
        "message": decision.message,
        "metric": decision.metric,
        "currentMetrics": _current_metrics(workload, observation),
        "dryRun": workload.dry_run or config.DRY_RUN,
        "conditions": _conditions(conditions, status.get("conditions", []), now),
        "history": history.to_dict(),
        "statsThrough": completions.through,
        "arrivalPerSecond": completions.arrival_per_s,
        "startup": _startup_after(status, observation, decision, bool(acted), now),
        "startupSeconds": observation.startup_s if observation.startup_s is not None else status.get("startupSeconds"),
    }
    _write_status(store, "Workload", workload.name, new_status, [e.to_dict() for e in events], outbox)
    if not _is_idle(observation, decision):
        # CloudWatch bills a custom metric for every hour it receives data: a workload asleep at zero publishes
        # nothing, so a quiet night pays for the controller's two tick metrics only (a gap on the graph means zero).
        _publish(workload, observation, decision)
    return acted


def _current_metrics(workload: Workload, observation: Observation) -> list[dict]:
    """What each of the spec's metrics read this tick, in the spec's order, as the HPA's status.currentMetrics shows it."""
    depth = observation.queue
    backlog = None if depth is None else backlog_of(workload, depth)
    shown = []
    for metric in workload.metrics:
        if isinstance(metric, BacklogMetric):
            current = {} if backlog is None else {"value": backlog,
                                                  "averageValue": round(backlog / max(observation.replicas, 1), 3)}
            shown.append({"type": metric.type, "backlog": {"queue": workload.queue_name, "current": current}})
        elif isinstance(metric, ResourceMetric):
            usage = observation.resources.get(metric.resource)
            request = workload.resources.cpu_millicores if metric.resource == "cpu" else workload.resources.memory_mib
            current = {} if usage is None or usage.average_utilization is None else {
                "averageUtilization": round(usage.average_utilization),
                "averageValue": round(usage.average_utilization / 100 * request)}
            shown.append({"type": metric.type, "resource": {"name": metric.resource, "current": current}})
        elif isinstance(metric, ExternalMetric):
            value = observation.external.get(metric.key)
            current = {} if value is None else {"value": value,
                                                "averageValue": round(value / max(observation.replicas, 1), 3)}
            shown.append({"type": metric.type, "external": {"metric": {"name": metric.name}, "current": current}})
        else:
            shown.append({"type": metric.type, "deadline": {"current": {} if backlog is None else {"value": backlog}}})
    return shown


def _publish(workload: Workload, observation: Observation, decision: Decision) -> None:
    """One EMF document per workload and tick: desired, actual and backlog side by side under its own dimension.

    Ephemeral, because the shared Metrics' dimensions would apply to the tick's totals too; and not single_metric,
    which keeps only its first metric.
    """
    emf = EphemeralMetrics()
    emf.add_dimension(name="workload", value=workload.name)
    emf.add_metric(name="DesiredReplicas", unit=MetricUnit.Count, value=decision.replicas)
    emf.add_metric(name="CurrentReplicas", unit=MetricUnit.Count, value=observation.replicas)
    emf.add_metric(name="ReadyReplicas", unit=MetricUnit.Count, value=observation.ready_replicas)
    if observation.queue is not None:
        emf.add_metric(name="Backlog", unit=MetricUnit.Count, value=observation.queue.backlog(workload.include_delayed))
    emf.flush_metrics()


def _act_on_pool(adapters, pool: NodePool, status: dict, state, decision: NodeDecision, now: datetime,
                 outbox: list[dict]) -> int:
    events, conditions, acted = [e.to_dict() for e in decision.events], list(decision.conditions), 0
    requested = state.desired
    if decision.nodes != state.desired:
        if pool.dry_run or config.DRY_RUN:
            events = [_event(pool, "Normal", DRY_RUN, f"would resize {state.desired} → {decision.nodes} nodes (dry run): "
                             f"{decision.message}", now).to_dict()]
        else:
            try:
                requested = adapters.nodegroups.set_desired(pool, decision.nodes, state)
                acted = int(requested != state.desired)
                if acted:
                    logger.info("resized", extra={"nodePool": pool.name, "from": state.desired, "to": requested,
                                                  "reason": decision.reason})
            except BallastError as error:
                conditions = [c for c in conditions if c.type != "AbleToScale"]
                conditions.append(Condition("AbleToScale", False, FAILED_RESCALE, _why(error)))
                events = [_event(pool, "Warning", FAILED_RESCALE, f"New size: {decision.nodes}; error: {_why(error)}",
                                 now).to_dict()]
                logger.warning("resize failed", extra={"nodePool": pool.name, "to": decision.nodes, "error": _why(error)})
    new_status = {
        "currentNodes": state.desired,
        "readyNodes": state.ready,
        "desiredNodes": decision.nodes,
        "requestedNodes": requested,
        "tasks": decision.tasks,
        "reason": decision.reason,
        "message": decision.message,
        "conditions": _conditions(conditions, status.get("conditions", []), now),
        "history": decision.history.to_dict(),
    }
    _write_status(adapters.store, "NodePool", pool.name, new_status, events, outbox)
    return acted


def _spec_moved(store, workload: Workload) -> bool:
    """Whether the Workload's spec changed (or it went) since the tick read it; read only when about to scale."""
    try:
        return store.get("Workload", NAMESPACE, workload.name)["metadata"]["generation"] != workload.generation
    except BallastError:
        return True  # gone, or the store unreachable: nothing to act on safely this tick


def _record_failure(store, obj: Workload | NodePool, status: dict, error: Exception, what: str, now: datetime,
                    outbox: list[dict]) -> None:
    """The fleet or node group could not be read: touch nothing (HPA's FailedGetScale), say so, keep the rest of the status."""
    condition = Condition("AbleToScale", False, FAILED_GET_SCALE, _why(error))
    others = [c for c in status.get("conditions", []) if c["type"] != "AbleToScale"]
    new_status = {**status, "conditions": others + _conditions([condition], status.get("conditions", []), now)}
    event = _event(obj, "Warning", FAILED_GET_SCALE, f"could not read {what}: {_why(error)}", now)
    kind = "Workload" if isinstance(obj, Workload) else "NodePool"
    logger.warning("scale unreadable", extra={"kind": kind, "object": obj.name, "error": _why(error)})
    _write_status(store, kind, obj.name, new_status, [event.to_dict()], outbox)


def _write_status(store, kind: str, name: str, status: dict, events: list[dict], outbox: list[dict]) -> None:
    try:
        store.update_status(kind, NAMESPACE, name, status)
    except BallastError as error:
        # Deleted between read and write, or the store hiccuped: the next tick writes a fresh status.
        logger.warning("status not recorded", extra={"kind": kind, "object": name, "error": str(error)})
        return
    outbox.extend(events)


def _record_events(store, events: list[dict]) -> None:
    if not events:
        return
    try:
        store.record_events(NAMESPACE, events, config.EVENT_TTL_S)
    except BallastError as error:
        logger.warning("events not recorded", extra={"events": len(events), "error": str(error)})


def _conditions(conditions, previous: list[dict], now: datetime) -> list[dict]:
    """Conditions with lastTransitionTime kept from the previous status while their status is unchanged."""
    before = {c["type"]: c for c in previous}
    result = []
    for condition in conditions:
        old = before.get(condition.type)
        since = now
        if old and old["status"] == ("True" if condition.status else "False") and old.get("lastTransitionTime"):
            since = datetime.fromisoformat(old["lastTransitionTime"])
        result.append(condition.to_dict(since))
    return result


def _why(error: Exception) -> str:
    """The error with its AWS code when it has one, so a condition tells throttling from denial at a glance."""
    code = getattr(error, "code", "")
    return f"{error} ({code})" if code and code not in str(error) else str(error)


def _event(obj, kind: str, reason: str, message: str, now: datetime) -> Event:
    return Event(kind, reason, message, "Workload" if isinstance(obj, Workload) else "NodePool", obj.name, now)
