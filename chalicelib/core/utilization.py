"""The HPA proposal of DESIGN.md "The decision core": ceil(current × usage / target) for CPU and memory, as upstream's replica calculator does it."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Callable

from chalicelib.core.types import History, Observation, PodSample, Proposal
from chalicelib.model import ResourceMetric, Workload

# kube-controller-manager's defaults: --horizontal-pod-autoscaler-tolerance, -cpu-initialization-period, -initial-readiness-delay.
TOLERANCE = 0.1
CPU_INITIALIZATION_PERIOD_S = 300
INITIAL_READINESS_DELAY_S = 30

# Reasons, as upstream's horizontal.go spells them.
FAILED_GET_RESOURCE_METRIC = "FailedGetResourceMetric"
ABOVE_TARGET = "ResourceAboveTarget"
BELOW_TARGET = "ResourceBelowTarget"
WITHIN_TOLERANCE = "ResourceWithinTolerance"

# Go's zero time: what upstream compares against when a pod has no timestamp.
_ZERO = datetime.min.replace(tzinfo=timezone.utc)


class NoReplicaCount(Exception):
    """The metric cannot give a replica count (upstream returns an error); `propose` turns it into an invalid Proposal."""


def group_pods(pods: tuple[PodSample, ...], resource: str, now: datetime,
               cpu_initialization_s: float = CPU_INITIALIZATION_PERIOD_S,
               readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> tuple[int, set[str], set[str]]:
    """(ready count, ignored names, missing names), upstream's groupPods."""
    ready, ignored, missing = 0, set(), set()
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            continue
        if pod.phase == "Pending":
            ignored.add(pod.name)
            continue
        if pod.value is None:
            missing.add(pod.name)
            continue
        if resource == "cpu" and _is_cpu_unsettled(pod, now, cpu_initialization_s, readiness_delay_s):
            ignored.add(pod.name)
            continue
        ready += 1
    return ready, ignored, missing


def _is_cpu_unsettled(pod: PodSample, now: datetime, cpu_initialization_s: float, readiness_delay_s: float) -> bool:
    # A starting JVM or image cache burns CPU that says nothing about load: upstream ignores such samples.
    if pod.ready is None or pod.started_at is None:
        return True
    changed = pod.ready_changed_at or _ZERO
    if pod.started_at + timedelta(seconds=cpu_initialization_s) > now:
        sampled = pod.sampled_at or _ZERO
        return not pod.ready or sampled < changed + timedelta(seconds=pod.window_s)
    # Unready and never ready since start: its low usage would drag the average down.
    return not pod.ready and pod.started_at + timedelta(seconds=readiness_delay_s) > changed


def _floor_milli(value: float) -> float:
    # Upstream averages int64 milli-values; truncating here keeps ratios (and so ceilings) identical.
    return math.floor(round(value * 1000, 6)) / 1000


def utilization_replicas(current: int, pods: tuple[PodSample, ...], target_pct: float, resource: str, now: datetime,
                         default_request: float | None = None, tolerance: float = TOLERANCE,
                         cpu_initialization_s: float = CPU_INITIALIZATION_PERIOD_S,
                         readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> tuple[int, int]:
    """(replicas, current utilisation %) for a Utilization target: upstream GetResourceReplicas."""
    requests = {p.name: (p.request if p.request is not None else default_request) for p in pods}
    if any(r is None or r <= 0 for r in requests.values()):
        raise NoReplicaCount(f"missing request for {resource}")

    def utilization(values: dict[str, float]) -> int:
        total_request = sum(requests[name] for name in values)
        if total_request <= 0:
            raise NoReplicaCount("no metrics returned matched known pods")
        return math.floor(round(sum(values.values()) * 100 / total_request, 9))

    replicas, usage = _calculate(current, pods, resource, now, lambda v: utilization(v) / target_pct,
                                 lambda name: requests[name], utilization, tolerance, cpu_initialization_s,
                                 readiness_delay_s)
    return replicas, usage


def average_value_replicas(current: int, pods: tuple[PodSample, ...], target: float, resource: str, now: datetime,
                           tolerance: float = TOLERANCE, cpu_initialization_s: float = CPU_INITIALIZATION_PERIOD_S,
                           readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> tuple[int, float]:
    """(replicas, current average) for an AverageValue target: upstream GetRawResourceReplicas / calcPlainMetricReplicas."""
    def average(values: dict[str, float]) -> float:
        return _floor_milli(sum(values.values()) / len(values))

    return _calculate(current, pods, resource, now, lambda v: average(v) / target, lambda _: target, average,
                      tolerance, cpu_initialization_s, readiness_delay_s, fill_zero_at_ratio_one=True)


def _calculate(current: int, pods: tuple[PodSample, ...], resource: str, now: datetime,
               ratio_of: Callable[[dict], float], fill_down: Callable[[str], float], usage_of: Callable[[dict], float],
               tolerance: float, cpu_initialization_s: float, readiness_delay_s: float,
               fill_zero_at_ratio_one: bool = False) -> tuple[int, float]:
    ready, ignored, missing = group_pods(pods, resource, now, cpu_initialization_s, readiness_delay_s)
    values = {p.name: p.value for p in pods if p.value is not None and p.name not in ignored and p.name not in missing
              and not p.deleting and p.phase != "Failed"}
    if not values:
        raise NoReplicaCount("did not receive metrics for targeted pods (pods might be unready)")
    ratio, usage = ratio_of(values), usage_of(values)
    scale_up_with_unready = bool(ignored) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return current, usage
        return math.ceil(ratio * ready), usage
    # Missing pods: assume the worst case against the direction we are going (upstream: 100% down, 0% up).
    if missing and ratio < 1.0:
        values.update({name: fill_down(name) for name in missing})
    elif missing and (ratio > 1.0 or fill_zero_at_ratio_one):
        values.update({name: 0.0 for name in missing})
    if scale_up_with_unready:
        values.update({name: 0.0 for name in ignored})
    new_ratio = ratio_of(values)
    # Re-check: if the pessimistic assumptions flip or flatten the direction, do nothing.
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, usage
    replicas = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current, usage
    return replicas, usage


def fleet_average_replicas(current: int, ready: int, ratio: float, tolerance: float = TOLERANCE) -> int:
    """Replicas from one fleet-wide average (ECS CloudWatch): the ready-pods form of upstream's usage-ratio rule."""
    if abs(1.0 - ratio) <= tolerance:
        return current
    return math.ceil(ratio * ready)


def propose(workload: Workload, metric: ResourceMetric, observed: Observation, history: History,
            now: datetime) -> Proposal:
    name = f"resource:{metric.resource}"
    usage = observed.resources.get(metric.resource)
    request = workload.resources.cpu_millicores if metric.resource == "cpu" else workload.resources.memory_mib
    current = observed.replicas
    try:
        if usage is None or (not usage.pods and usage.average_utilization is None):
            raise NoReplicaCount(f"no {metric.resource} metrics for {workload.name}")
        if usage.pods and metric.target_type == "Utilization":
            replicas, value = utilization_replicas(current, usage.pods, metric.average_utilization, metric.resource,
                                                   now, default_request=request)
            shown = f"{value}% of request (target {metric.average_utilization}%)"
        elif usage.pods:
            replicas, value = average_value_replicas(current, usage.pods, metric.average_value, metric.resource, now)
            shown = f"average {value:g} (target {metric.average_value:g})"
        else:
            replicas, shown = _from_average(current, observed.ready_replicas, usage.average_utilization, metric, request)
    except NoReplicaCount as error:
        return Proposal(current, name, FAILED_GET_RESOURCE_METRIC,
                        f"the HPA was unable to compute the replica count: failed to get {metric.resource} "
                        f"utilization: {error}", valid=False)
    reason = ABOVE_TARGET if replicas > current else BELOW_TARGET if replicas < current else WITHIN_TOLERANCE
    return Proposal(replicas, name, reason, f"{metric.resource} {shown} -> {replicas} replicas")


def _from_average(current: int, ready: int, average_pct: float, metric: ResourceMetric, request: float) -> tuple[int, str]:
    if ready <= 0:
        raise NoReplicaCount("no ready tasks to average over")
    if metric.target_type == "Utilization":
        ratio = math.floor(average_pct) / metric.average_utilization
        return fleet_average_replicas(current, ready, ratio), f"{average_pct:g}% of request (target {metric.average_utilization}%)"
    value = average_pct / 100 * request
    return fleet_average_replicas(current, ready, value / metric.average_value), \
        f"average {value:g} (target {metric.average_value:g})"
