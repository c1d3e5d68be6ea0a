"""The HPA proposal of DESIGN.md "The decision core": ceil(current × usage / target) for CPU and memory, as upstream's replica calculator does it."""
from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone
from typing import Callable

from chalicelib.core.types import History, Observation, PodSample, Proposal
from chalicelib.model import (DEFAULT_CPU_INITIALIZATION_S, DEFAULT_READINESS_DELAY_S, DEFAULT_TOLERANCE,
                              ContainerResourceMetric, PodsMetric, ResourceMetric, Workload)

# kube-controller-manager's defaults: --horizontal-pod-autoscaler-tolerance, -cpu-initialization-period, -initial-readiness-delay.
TOLERANCE = DEFAULT_TOLERANCE
CPU_INITIALIZATION_PERIOD_S = DEFAULT_CPU_INITIALIZATION_S
INITIAL_READINESS_DELAY_S = DEFAULT_READINESS_DELAY_S
# (scale-down, scale-up) tolerance, as upstream's Tolerances: a usage ratio within [1 - down, 1 + up] changes nothing.
Tolerances = tuple[float, float]
BOTH = (TOLERANCE, TOLERANCE)

# Reasons, as upstream's horizontal.go spells them.
FAILED_GET_RESOURCE_METRIC = "FailedGetResourceMetric"
FAILED_GET_CONTAINER_RESOURCE_METRIC = "FailedGetContainerResourceMetric"
FAILED_GET_PODS_METRIC = "FailedGetPodsMetric"
ABOVE_TARGET = "ResourceAboveTarget"
BELOW_TARGET = "ResourceBelowTarget"
WITHIN_TOLERANCE = "ResourceWithinTolerance"
PODS_ABOVE_TARGET = "PodsMetricAboveTarget"
PODS_BELOW_TARGET = "PodsMetricBelowTarget"
PODS_WITHIN_TOLERANCE = "PodsMetricWithinTolerance"

# Go's zero time: what upstream compares against when a pod has no timestamp.
_ZERO = datetime.min.replace(tzinfo=timezone.utc)


class NoReplicaCount(Exception):
    """The metric cannot give a replica count (upstream returns an error); `propose` turns it into an invalid Proposal."""


def within(ratio: float, tolerances: Tolerances) -> bool:
    """Upstream Tolerances.isWithin: close enough to 1 that the count stays."""
    return 1.0 - tolerances[0] <= ratio <= 1.0 + tolerances[1]


def tolerances_of(workload: Workload) -> Tolerances:
    behavior = workload.behavior
    return behavior.scale_down.tolerance, behavior.scale_up.tolerance


def group_pods(pods: tuple[PodSample, ...], resource: str, now: datetime,
               cpu_initialization_s: float = CPU_INITIALIZATION_PERIOD_S,
               readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> tuple[int, set[str], set[str]]:
    """(ready count, ignored names, missing names), upstream's groupPods."""
    ready, ignored, missing = 0, set(), set()
    # The periods as a time and a length once, not per pod: a tick groups every pod of every workload.
    initializing_after = now - timedelta(seconds=cpu_initialization_s)
    readiness_delay = timedelta(seconds=readiness_delay_s)
    for pod in pods:
        if pod.deleting or pod.phase == "Failed":
            continue
        if pod.phase == "Pending":
            ignored.add(pod.name)
            continue
        if pod.value is None:
            missing.add(pod.name)
            continue
        if resource == "cpu" and _is_cpu_unsettled(pod, initializing_after, readiness_delay):
            ignored.add(pod.name)
            continue
        ready += 1
    return ready, ignored, missing


def _is_cpu_unsettled(pod: PodSample, initializing_after: datetime, readiness_delay: timedelta) -> bool:
    # A starting JVM or image cache burns CPU that says nothing about load: upstream ignores such samples.
    if pod.ready is None or pod.started_at is None:
        return True
    changed = pod.ready_changed_at or _ZERO
    if pod.started_at > initializing_after:  # started within the CPU initialization period
        sampled = pod.sampled_at or _ZERO
        return not pod.ready or sampled < changed + timedelta(seconds=pod.window_s)
    # Unready and never ready since start: its low usage would drag the average down.
    return not pod.ready and pod.started_at + readiness_delay > changed


def _floor_milli(value: float) -> float:
    # Upstream averages int64 milli-values; truncating here keeps ratios (and so ceilings) identical.
    return math.floor(round(value * 1000, 6)) / 1000


def utilization_replicas(current: int, pods: tuple[PodSample, ...], target_pct: float, resource: str, now: datetime,
                         tolerances: Tolerances = BOTH, cpu_initialization_s: float = CPU_INITIALIZATION_PERIOD_S,
                         readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> tuple[int, int]:
    """(replicas, current utilisation %) for a Utilization target: upstream GetResourceReplicas.

    A pod without a request of the resource gives no utilisation at all (upstream calculateRequests): the metric is
    refused, not computed against a request the pod does not make.
    """
    requests = {p.name: p.request for p in pods}
    missing_request = next((name for name, r in requests.items() if r is None or r <= 0), None)
    if missing_request is not None:
        raise NoReplicaCount(f"missing request for {resource} of {missing_request}")

    def utilization(values: dict[str, float]) -> int:
        total_request = sum(requests[name] for name in values)
        if total_request <= 0:
            raise NoReplicaCount("no metrics returned matched known pods")
        return math.floor(round(sum(values.values()) * 100 / total_request, 9))

    # On a scale-down a missing pod counts as using its whole request, or the target where that is above 100 %:
    # counting it at 100 % under a 150 % target would make it look idle and shrink the fleet too far.
    fallback = max(100, target_pct) / 100
    replicas, usage = _calculate(current, pods, resource, now, lambda v: utilization(v) / target_pct,
                                 lambda name: requests[name] * fallback, utilization, tolerances, cpu_initialization_s,
                                 readiness_delay_s)
    return replicas, usage


def average_value_replicas(current: int, pods: tuple[PodSample, ...], target: float, resource: str, now: datetime,
                           tolerances: Tolerances = BOTH, cpu_initialization_s: float = CPU_INITIALIZATION_PERIOD_S,
                           readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> tuple[int, float]:
    """(replicas, current average) for an AverageValue target: upstream GetRawResourceReplicas / calcPlainMetricReplicas."""
    def average(values: dict[str, float]) -> float:
        return _floor_milli(sum(values.values()) / len(values))

    return _calculate(current, pods, resource, now, lambda v: average(v) / target, lambda _: target, average,
                      tolerances, cpu_initialization_s, readiness_delay_s)


def _calculate(current: int, pods: tuple[PodSample, ...], resource: str, now: datetime,
               ratio_of: Callable[[dict], float], fill_down: Callable[[str], float], usage_of: Callable[[dict], float],
               tolerances: Tolerances, cpu_initialization_s: float, readiness_delay_s: float) -> tuple[int, float]:
    ready, ignored, missing = group_pods(pods, resource, now, cpu_initialization_s, readiness_delay_s)
    values = {p.name: p.value for p in pods if p.value is not None and p.name not in ignored and p.name not in missing
              and not p.deleting and p.phase != "Failed"}
    if not values:
        raise NoReplicaCount("did not receive metrics for targeted pods (pods might be unready)")
    ratio, usage = ratio_of(values), usage_of(values)
    scale_up_with_unready = bool(ignored) and ratio > 1.0
    if not scale_up_with_unready and not missing:
        if within(ratio, tolerances):
            return current, usage
        return math.ceil(ratio * ready), usage
    # Missing pods: assume the worst case against the direction we are going; at a ratio of exactly 1, no direction.
    if missing and ratio < 1.0:
        values.update({name: fill_down(name) for name in missing})
    elif missing and ratio > 1.0:
        values.update({name: 0.0 for name in missing})
    if scale_up_with_unready:
        values.update({name: 0.0 for name in ignored})
    new_ratio = ratio_of(values)
    # Re-check: if the pessimistic assumptions flip or flatten the direction, do nothing.
    if within(new_ratio, tolerances) or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current, usage
    replicas = math.ceil(new_ratio * len(values))
    if (new_ratio < 1.0 and replicas > current) or (new_ratio > 1.0 and replicas < current):
        return current, usage
    return replicas, usage


def fleet_average_replicas(current: int, ready: int, ratio: float, tolerances: Tolerances = BOTH) -> int:
    """Replicas from one fleet-wide average (ECS CloudWatch): the ready-pods form of upstream's usage-ratio rule."""
    if within(ratio, tolerances):
        return current
    return math.ceil(ratio * ready)


def propose(workload: Workload, metric: ResourceMetric, observed: Observation, history: History,
            now: datetime) -> Proposal:
    return _propose_resource(workload, metric, observed.resources.get(metric.resource), observed,
                             f"resource:{metric.resource}", FAILED_GET_RESOURCE_METRIC, metric.resource, now)


def propose_container(workload: Workload, metric: ContainerResourceMetric, observed: Observation, history: History,
                      now: datetime) -> Proposal:
    """HPA ContainerResource: as Resource, on one container's usage over its own reservation (Container Insights)."""
    return _propose_resource(workload, metric, observed.resources.get(metric.key), observed,
                             f"containerResource:{metric.container}/{metric.resource}",
                             FAILED_GET_CONTAINER_RESOURCE_METRIC, f"{metric.resource} of container {metric.container}",
                             now)


def _propose_resource(workload: Workload, metric: ResourceMetric | ContainerResourceMetric, usage, observed: Observation,
                      name: str, failed: str, what: str, now: datetime) -> Proposal:
    current = observed.replicas
    tolerances = tolerances_of(workload)
    try:
        if usage is None or (not usage.pods and usage.average_utilization is None and usage.average_value is None):
            raise NoReplicaCount(f"no {what} metrics for {workload.name}")
        if usage.pods and metric.target_type == "Utilization":
            replicas, value = utilization_replicas(current, usage.pods, metric.average_utilization, metric.resource,
                                                   now, tolerances, workload.cpu_initialization_s,
                                                   workload.readiness_delay_s)
            shown = f"{value}% of request (target {metric.average_utilization}%)"
        elif usage.pods:
            replicas, value = average_value_replicas(current, usage.pods, metric.average_value, metric.resource, now,
                                                     tolerances, workload.cpu_initialization_s,
                                                     workload.readiness_delay_s)
            shown = f"average {value:g} (target {metric.average_value:g})"
        else:
            replicas, shown = _from_average(workload, current, observed.ready_replicas, usage, metric, tolerances)
    except NoReplicaCount as error:
        return Proposal(current, name, failed, f"the HPA was unable to compute the replica count: failed to get "
                                               f"{what} utilization: {error}", valid=False)
    reason = ABOVE_TARGET if replicas > current else BELOW_TARGET if replicas < current else WITHIN_TOLERANCE
    return Proposal(replicas, name, reason, f"{what} {shown} -> {replicas} replicas")


def _from_average(workload: Workload, current: int, ready: int, usage, metric, tolerances: Tolerances) -> tuple[int, str]:
    if ready <= 0:
        raise NoReplicaCount("no ready tasks to average over")
    request = _request(workload, metric)
    if metric.target_type == "Utilization":
        if not isinstance(metric, ContainerResourceMetric) and request <= 0:
            # A task with no CPU reservation has no utilisation of it (the HPA's "missing request for cpu").
            raise NoReplicaCount(f"missing request for {metric.resource}: spec.resources sets none")
        if usage.average_utilization is None:
            raise NoReplicaCount(f"no utilization of {metric.resource} reported")
        ratio = math.floor(usage.average_utilization) / metric.average_utilization
        return fleet_average_replicas(current, ready, ratio, tolerances), \
            f"{usage.average_utilization:g}% of request (target {metric.average_utilization}%)"
    value = usage.average_value if usage.average_value is not None else \
        (usage.average_utilization / 100 * request if request > 0 else None)
    if value is None:
        raise NoReplicaCount(f"no usage of {metric.resource} reported")
    return fleet_average_replicas(current, ready, value / metric.average_value, tolerances), \
        f"average {value:g} (target {metric.average_value:g})"


def _request(workload: Workload, metric) -> float:
    return workload.resources.cpu_millicores if metric.resource == "cpu" else workload.resources.memory_mib


def propose_pods(workload: Workload, metric: PodsMetric, observed: Observation, history: History,
                 now: datetime) -> Proposal:
    """HPA Pods: the tasks' average against an AverageValue target, upstream GetMetricReplicas on the fleet's average.

    CloudWatch gives the average over the tasks, not each task's value: every ready task counts as reporting it
    (upstream's plain-metric rule without missing tasks).
    """
    name = f"pods:{metric.name}"
    current = observed.replicas
    value = observed.external.get(metric.key)
    if value is None or observed.ready_replicas <= 0:
        why = f"unable to get metric {metric.key}" if value is None else "no ready tasks to average over"
        return Proposal(current, name, FAILED_GET_PODS_METRIC,
                        f"the HPA was unable to compute the replica count: {why}", valid=False)
    replicas = fleet_average_replicas(current, observed.ready_replicas, value / metric.average_value,
                                      tolerances_of(workload))
    reason = PODS_ABOVE_TARGET if replicas > current else PODS_BELOW_TARGET if replicas < current \
        else PODS_WITHIN_TOLERANCE
    return Proposal(replicas, name, reason,
                    f"{metric.name} average {value:g} (target {metric.average_value:g}) -> {replicas} replicas")
