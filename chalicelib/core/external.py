"""The HPA External- and Object-metric proposals of DESIGN.md "The decision core": a CloudWatch value against a Value or
AverageValue target."""
from __future__ import annotations

import math
from datetime import datetime

from chalicelib.core.types import History, Observation, Proposal
from chalicelib.core.utilization import BOTH, Tolerances, tolerances_of, within
from chalicelib.model import ExternalMetric, ObjectMetric, Workload

FAILED_GET_EXTERNAL_METRIC = "FailedGetExternalMetric"
FAILED_GET_OBJECT_METRIC = "FailedGetObjectMetric"
ABOVE_TARGET = "ExternalMetricAboveTarget"
BELOW_TARGET = "ExternalMetricBelowTarget"
WITHIN_TOLERANCE = "ExternalMetricWithinTolerance"
OBJECT_ABOVE_TARGET = "ObjectMetricAboveTarget"
OBJECT_BELOW_TARGET = "ObjectMetricBelowTarget"
OBJECT_WITHIN_TOLERANCE = "ObjectMetricWithinTolerance"


def value_replicas(current: int, ready: int, value: float, target: float, tolerances: Tolerances = BOTH) -> int:
    """Upstream getUsageRatioReplicaCount (External and Object Value targets): the ratio scales the ready pods; at zero
    replicas it is the count itself."""
    ratio = value / target
    if current == 0:
        return math.ceil(ratio)
    if within(ratio, tolerances):
        return current
    return math.ceil(ratio * ready)


def average_value_replicas(current: int, value: float, target_per_replica: float, tolerances: Tolerances = BOTH) -> int:
    """Upstream GetExternalPerPodMetricReplicas / GetObjectPerPodMetricReplicas: ceil(value / target) unless within
    tolerance of the current count."""
    ratio = value / (target_per_replica * current) if current else math.inf
    if not within(ratio, tolerances):
        return math.ceil(value / target_per_replica)
    return current


def propose(workload: Workload, metric: ExternalMetric, observed: Observation, history: History,
            now: datetime) -> Proposal:
    return _propose(workload, metric, observed, f"external:{metric.key}", FAILED_GET_EXTERNAL_METRIC,
                    f"external metric {metric.key}", (ABOVE_TARGET, BELOW_TARGET, WITHIN_TOLERANCE))


def propose_object(workload: Workload, metric: ObjectMetric, observed: Observation, history: History,
                   now: datetime) -> Proposal:
    """HPA Object: one object's value, upstream GetObjectMetricReplicas (Value) and GetObjectPerPodMetricReplicas."""
    described = f"{metric.described_kind} {metric.described_name}"
    return _propose(workload, metric, observed, f"object:{described}/{metric.name}", FAILED_GET_OBJECT_METRIC,
                    f"metric {metric.name} on {described}",
                    (OBJECT_ABOVE_TARGET, OBJECT_BELOW_TARGET, OBJECT_WITHIN_TOLERANCE))


def _propose(workload: Workload, metric: ExternalMetric | ObjectMetric, observed: Observation, name: str, failed: str,
             what: str, reasons: tuple[str, str, str]) -> Proposal:
    value = observed.external.get(metric.key)
    current = observed.replicas
    if value is None:
        return Proposal(current, name, failed, f"the HPA was unable to compute the replica count: unable to get {what}",
                        valid=False)
    tolerances = tolerances_of(workload)
    if metric.target_type == "Value":
        replicas = value_replicas(current, observed.ready_replicas, value, metric.value, tolerances)
        shown = f"{value:g} (target {metric.value:g})"
    else:
        replicas = average_value_replicas(current, value, metric.average_value, tolerances)
        shown = f"{value:g} (target {metric.average_value:g} per replica)"
    above, below, within_tolerance = reasons
    reason = above if replicas > current else below if replicas < current else within_tolerance
    return Proposal(replicas, name, reason, f"{metric.key} {shown} -> {replicas} replicas")
