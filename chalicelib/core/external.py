"""The HPA External-metric proposal of DESIGN.md "The decision core": a CloudWatch value against a Value or AverageValue target."""
from __future__ import annotations

import math
from datetime import datetime

from chalicelib.core.types import History, Observation, Proposal
from chalicelib.core.utilization import TOLERANCE
from chalicelib.model import ExternalMetric, Workload

FAILED_GET_EXTERNAL_METRIC = "FailedGetExternalMetric"
ABOVE_TARGET = "ExternalMetricAboveTarget"
BELOW_TARGET = "ExternalMetricBelowTarget"
WITHIN_TOLERANCE = "ExternalMetricWithinTolerance"


def value_replicas(current: int, ready: int, value: float, target: float, tolerance: float = TOLERANCE) -> int:
    """Upstream GetExternalMetricReplicas: the ratio scales the ready pods; at zero replicas it is the count itself."""
    ratio = value / target
    if current == 0:
        return math.ceil(ratio)
    if abs(1.0 - ratio) <= tolerance:
        return current
    return math.ceil(ratio * ready)


def average_value_replicas(current: int, value: float, target_per_replica: float, tolerance: float = TOLERANCE) -> int:
    """Upstream GetExternalPerPodMetricReplicas: ceil(value / target) unless within tolerance of the current count."""
    ratio = value / (target_per_replica * current) if current else math.inf
    if abs(1.0 - ratio) > tolerance:
        return math.ceil(value / target_per_replica)
    return current


def propose(workload: Workload, metric: ExternalMetric, observed: Observation, history: History,
            now: datetime) -> Proposal:
    name = f"external:{metric.key}"
    value = observed.external.get(metric.key)
    current = observed.replicas
    if value is None:
        return Proposal(current, name, FAILED_GET_EXTERNAL_METRIC,
                        f"the HPA was unable to compute the replica count: unable to get external metric {metric.key}",
                        valid=False)
    if metric.target_type == "Value":
        replicas = value_replicas(current, observed.ready_replicas, value, metric.value)
        shown = f"{value:g} (target {metric.value:g})"
    else:
        replicas = average_value_replicas(current, value, metric.average_value)
        shown = f"{value:g} (target {metric.average_value:g} per replica)"
    reason = ABOVE_TARGET if replicas > current else BELOW_TARGET if replicas < current else WITHIN_TOLERANCE
    return Proposal(replicas, name, reason, f"{metric.key} {shown} -> {replicas} replicas")
