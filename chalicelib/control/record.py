"""The controller's record step: status with conditions, events with their reasons, and the per-workload metrics."""
from __future__ import annotations

from datetime import datetime
from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit

from chalicelib import config
from chalicelib.control.act import Outcome
from chalicelib.control.explain import event, kind_of, why
from chalicelib.core import tracking
from chalicelib.core.backlog import backlog_of
from chalicelib.core.tracking import Completions
from chalicelib.core.types import Decision, NodeDecision, Observation, PoolObservation
from chalicelib.errors import BallastError
from chalicelib.model import (BacklogMetric, Condition, ContainerResourceMetric, ExternalMetric, NodePool, ObjectMetric,
                              PodsMetric, ResourceMetric, Workload)
from chalicelib.telemetry import logger

FAILED_GET_SCALE = "FailedGetScale"  # HPA's reason, verbatim
AMBIGUOUS = "AmbiguousSelector"  # HPA's, when several autoscalers select the same pods
# status.samples, the console's chart of the last hour: [epoch s, *values] at each tick that changed a value.
SAMPLES_KEPT_S = 3600
SAMPLES_MAX = 240  # an hour of 15 s ticks that all changed something: about 6 KB of status at most
WORKLOAD_SAMPLE = ("backlog", "desired", "current", "ready")
POOL_SAMPLE = ("desired", "current", "ready", "tasks")


def workload_status(store, workload: Workload, status: dict, observation: Observation, completions: Completions,
                    decision: Decision, outcome: Outcome, waits_for_nodes: bool, now: datetime,
                    outbox: list[dict]) -> None:
    history = outcome.history
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
        "conditions": _conditions(outcome.conditions, status.get("conditions", []), now),
        "history": history.to_dict(),
        "statsSeen": completions.seen,
        "arrivalPerSecond": completions.arrival_per_s,
        "startup": tracking.scale_up_timing(status.get("startup"), tracking.scale_up_seconds(
                                                status.get("startup"), observation.replicas, observation.running,
                                                now) is not None,
                                            observation.replicas, decision.replicas, outcome.acted, now,
                                            waits_for_nodes),
        "startupSeconds": observation.startup_s if observation.startup_s is not None else status.get("startupSeconds"),
        "samples": sampled(status.get("samples"), [None if depth is None else depth.backlog(workload.include_delayed),
                                                   decision.replicas, observation.replicas, observation.ready_replicas], now),
    }
    _write_status(store, workload, new_status, [e.to_dict() for e in outcome.events], outbox)
    if not tracking.is_idle(observation, decision):
        # CloudWatch bills a custom metric for every hour it receives data: a workload asleep at zero publishes
        # nothing, so a quiet night pays for the controller's two tick metrics only (a gap on the graph means zero).
        _publish(workload, observation, decision)


def pool_status(store, pool: NodePool, status: dict, observation: PoolObservation, decision: NodeDecision,
                outcome: Outcome, now: datetime, outbox: list[dict]) -> None:
    new_status = {
        "currentNodes": observation.nodes,
        "readyNodes": observation.ready_nodes,
        "desiredNodes": decision.nodes,
        "requestedNodes": outcome.requested,
        "tasks": decision.tasks,
        "reason": decision.reason,
        "message": decision.message,
        "conditions": _conditions(outcome.conditions, status.get("conditions", []), now),
        "history": decision.history.to_dict(),
        "boot": tracking.scale_up_timing(status.get("boot"), observation.boot_s is not None, observation.nodes,
                                         outcome.requested, outcome.acted, now),
        "bootSeconds": observation.boot_s if observation.boot_s is not None else status.get("bootSeconds"),
        "samples": sampled(status.get("samples"), [decision.nodes, observation.nodes, observation.ready_nodes, decision.tasks],
                           now),
    }
    _write_status(store, pool, new_status, outcome.events, outbox)


def failure(store, obj: Workload | NodePool, status: dict, error: Exception, what: str, now: datetime,
            outbox: list[dict]) -> None:
    """The fleet or node group could not be read: touch nothing (HPA's FailedGetScale), say so, keep the rest of the status."""
    condition = Condition("AbleToScale", False, FAILED_GET_SCALE, why(error))
    others = [c for c in status.get("conditions", []) if c["type"] != "AbleToScale"]
    new_status = {**status, "conditions": others + _conditions([condition], status.get("conditions", []), now)}
    warning = event(obj, "Warning", FAILED_GET_SCALE, f"could not read {what}: {why(error)}", now)
    logger.warning("scale unreadable", extra={"kind": kind_of(obj), "object": obj.name, "error": why(error)})
    _write_status(store, obj, new_status, [warning.to_dict()], outbox)


def conflict(store, obj: Workload | NodePool, status: dict, message: str, now: datetime, outbox: list[dict]) -> None:
    """Another object owns what this one does (they predate the API's check): scale neither, say so (HPA's
    AmbiguousSelector, on ScalingActive), warn once when the conflict is first seen, keep the rest of the status."""
    condition = Condition("ScalingActive", False, AMBIGUOUS, message)
    before = next((c for c in status.get("conditions", []) if c["type"] == "ScalingActive"), {})
    others = [c for c in status.get("conditions", []) if c["type"] != "ScalingActive"]
    new_status = {**status, "reason": AMBIGUOUS, "message": message,
                  "conditions": others + _conditions([condition], status.get("conditions", []), now)}
    warnings = [] if before.get("reason") == AMBIGUOUS else [event(obj, "Warning", AMBIGUOUS, message, now).to_dict()]
    if warnings:
        logger.warning("owner conflict", extra={"kind": kind_of(obj), "object": obj.name, "namespace": obj.namespace,
                                                "detail": message})
    _write_status(store, obj, new_status, warnings, outbox)


def events(store, outbox: list[dict]) -> None:
    """The whole tick's events together, each in its object's namespace: batch writes of 25, not one call per workload."""
    if not outbox:
        return
    try:
        store.record_events("default", outbox, config.EVENT_TTL_S)
    except BallastError as error:
        logger.warning("events not recorded", extra={"events": len(outbox), "error": str(error)})


def sampled(previous: list | None, values: list, now: datetime) -> list:
    """The samples with this tick's values appended if any changed, trimmed to the last hour.

    A step series: each sample holds until the next, so an unchanged tick adds nothing (a quiet night writes no new
    sample) and the newest sample older than the hour stays, as the value the window starts with.
    """
    samples = list(previous or [])
    if not samples or samples[-1][1:] != values:
        samples.append([int(now.timestamp()), *values])
    cutoff = now.timestamp() - SAMPLES_KEPT_S
    inside = next((i for i, sample in enumerate(samples) if sample[0] > cutoff), len(samples))
    return samples[max(inside - 1, 0):][-SAMPLES_MAX:]


def _write_status(store, obj: Workload | NodePool, status: dict, events: list[dict], outbox: list[dict]) -> None:
    try:
        store.update_status(kind_of(obj), obj.namespace, obj.name, status)
    except BallastError as error:
        # Deleted between read and write, or the store hiccuped: the next tick writes a fresh status.
        logger.warning("status not recorded", extra={"kind": kind_of(obj), "object": obj.name,
                                                     "namespace": obj.namespace, "error": str(error)})
        return
    outbox.extend(events)


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
        elif isinstance(metric, ContainerResourceMetric):
            usage = observation.resources.get(metric.key)
            current = {} if usage is None else {k: round(v) for k, v in (("averageUtilization", usage.average_utilization),
                                                                          ("averageValue", usage.average_value))
                                                if v is not None}
            shown.append({"type": metric.type, "containerResource": {"name": metric.resource,
                                                                     "container": metric.container, "current": current}})
        elif isinstance(metric, (ExternalMetric, PodsMetric, ObjectMetric)):
            value = observation.external.get(metric.key)
            if value is None:
                current = {}
            elif isinstance(metric, PodsMetric):
                current = {"averageValue": value}  # already the tasks' average
            else:
                current = {"value": value, "averageValue": round(value / max(observation.replicas, 1), 3)}
            block = {ExternalMetric: "external", PodsMetric: "pods", ObjectMetric: "object"}[type(metric)]
            shown.append({"type": metric.type, block: {"metric": {"name": metric.name}, "current": current}})
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
    if workload.namespace != "default":  # the default namespace keeps the series it published before namespaces
        emf.add_dimension(name="namespace", value=workload.namespace)
    emf.add_metric(name="DesiredReplicas", unit=MetricUnit.Count, value=decision.replicas)
    emf.add_metric(name="CurrentReplicas", unit=MetricUnit.Count, value=observation.replicas)
    emf.add_metric(name="ReadyReplicas", unit=MetricUnit.Count, value=observation.ready_replicas)
    if observation.queue is not None:
        emf.add_metric(name="Backlog", unit=MetricUnit.Count, value=observation.queue.backlog(workload.include_delayed))
    emf.flush_metrics()
