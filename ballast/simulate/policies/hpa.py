"""The Kubernetes HorizontalPodAutoscaler as the baselines run it: replica calculation, stabilisation, rate policies.

Written from upstream kubernetes/kubernetes pkg/controller/podautoscaler (replica_calculator.go: GetResourceReplicas,
groupPods, GetExternalPerPodMetricReplicas; horizontal.go: reconcileAutoscaler, stabilizeRecommendationWithBehaviors,
convertDesiredReplicasWithBehaviorRate, calculateScaleUpLimitWithScalingRules, calculateScaleDownLimitWithBehaviors,
storeScaleEvent) and kept apart from Ballast's core on purpose: a baseline must not move when the product does.
Times are seconds since the run began.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

# kube-controller-manager flag defaults (pkg/controller/podautoscaler/config/v1alpha1/defaults.go):
SYNC_PERIOD_S = 15  # --horizontal-pod-autoscaler-sync-period
TOLERANCE = 0.1  # --horizontal-pod-autoscaler-tolerance
CPU_INITIALIZATION_PERIOD_S = 300  # --horizontal-pod-autoscaler-cpu-initialization-period
INITIAL_READINESS_DELAY_S = 30  # --horizontal-pod-autoscaler-initial-readiness-delay


@dataclass(frozen=True)
class Rules:
    """One direction of spec.behavior: a stabilisation window, rate policies and how to pick among them."""

    window_s: float
    select: str  # "Max" | "Min" | "Disabled"
    policies: tuple[tuple[str, int, int], ...]  # (type "Pods" | "Percent", value, periodSeconds)


# autoscaling/v2 defaults (pkg/apis/autoscaling/v2/defaults.go, GenerateHPAScaleUpRules / GenerateHPAScaleDownRules):
# up at once by 4 pods or 100% per 15 s, whichever is more; down by up to 100% per 15 s after a 300 s window.
DEFAULT_UP = Rules(0, "Max", (("Pods", 4, 15), ("Percent", 100, 15)))
DEFAULT_DOWN = Rules(300, "Max", (("Percent", 100, 15),))


@dataclass(frozen=True)
class PodMetric:
    """One pod as the HPA sees it: the pod list's phase and Ready condition joined with the metrics API's sample."""

    name: str
    phase: str  # "Pending" | "Running"
    request: float
    value: float | None = None  # usage, None when the metrics API has no sample for the pod
    ready: bool = True
    start_time: float | None = None  # pod.Status.StartTime: when the kubelet took the pod
    ready_since: float | None = None  # the Ready condition's lastTransitionTime
    timestamp: float | None = None  # the sample's end
    window_s: float = 0.0
    deleting: bool = False


def group_pods(pods: list[PodMetric], now: float, cpu_initialization_s: float = CPU_INITIALIZATION_PERIOD_S,
               readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> tuple[int, set[str], set[str]]:
    """groupPods for the CPU resource: (ready count, unready pods, pods without a sample)."""
    ready, ignored, missing = 0, set(), set()
    for pod in pods:
        if pod.deleting:
            continue
        if pod.phase == "Pending":
            ignored.add(pod.name)
            continue
        if pod.value is None:
            missing.add(pod.name)
            continue
        if pod.start_time is None or pod.ready_since is None:
            unsettled = True
        elif pod.start_time + cpu_initialization_s > now:
            # Within the initialisation period a sample counts only once a whole window was measured since Ready.
            unsettled = not pod.ready or pod.timestamp < pod.ready_since + pod.window_s
        else:
            unsettled = not pod.ready and pod.start_time + readiness_delay_s > pod.ready_since
        if unsettled:
            ignored.add(pod.name)
            continue
        ready += 1
    return ready, ignored, missing


def resource_replicas(current: int, pods: list[PodMetric], target_utilization: float, now: float,
                      tolerance: float = TOLERANCE, cpu_initialization_s: float = CPU_INITIALIZATION_PERIOD_S,
                      readiness_delay_s: float = INITIAL_READINESS_DELAY_S) -> int | None:
    """GetResourceReplicas: None where upstream returns an error (no pods, or no sample for any ready pod).

    Pods being deleted drop out entirely and pending or unsettled ones are the `unready` set, as in current upstream
    (groupPods returns ignored and unready apart; only the unready are counted at 0% on a scale-up).
    """
    live = [p for p in pods if not p.deleting]
    if not pods:
        return None
    ready, ignored, missing = group_pods(live, now, cpu_initialization_s, readiness_delay_s)
    usage = {p.name: p.value for p in live if p.name not in ignored and p.name not in missing}
    requests = {p.name: p.request for p in live}
    if not usage:
        return None
    ratio = _utilization_ratio(usage, requests, target_utilization)
    rebalance_ignored = bool(ignored) and ratio > 1.0
    if not rebalance_ignored and not missing:
        if abs(1.0 - ratio) <= tolerance:
            return current
        return math.ceil(ratio * ready)
    if missing:
        # A scale-down counts pods without a sample at 100% of their request, a scale-up at 0%.
        fill = 1.0 if ratio < 1.0 else 0.0
        usage.update({name: requests[name] * fill for name in missing})
    if rebalance_ignored:
        usage.update({name: 0.0 for name in ignored})
    new_ratio = _utilization_ratio(usage, requests, target_utilization)
    if abs(1.0 - new_ratio) <= tolerance or (ratio < 1.0 < new_ratio) or (ratio > 1.0 > new_ratio):
        return current
    proposed = math.ceil(new_ratio * len(usage))
    if (new_ratio < 1.0 and proposed > current) or (new_ratio > 1.0 and proposed < current):
        return current
    return proposed


def _utilization_ratio(usage: dict[str, float], requests: dict[str, float], target: float) -> float:
    """metricsclient.GetResourceUtilizationRatio: summed usage over summed requests of the pods with a sample."""
    used = sum(usage.values())
    requested = sum(requests[name] for name in usage)
    return (used * 100 / requested) / target


def external_per_pod_replicas(status_replicas: int, usage: float, target_per_pod: float,
                              tolerance: float = TOLERANCE) -> int:
    """GetExternalPerPodMetricReplicas: ceil(usage / target) unless within tolerance of the pods there are."""
    replicas = status_replicas
    ratio = usage / (target_per_pod * status_replicas) if status_replicas else math.inf
    if abs(1.0 - ratio) > tolerance:
        replicas = math.ceil(usage / target_per_pod)
    return replicas


@dataclass
class Autoscaler:
    """One HPA object with the memory horizontal.go keeps for it: recent recommendations and scale events."""

    min_replicas: int
    max_replicas: int
    up: Rules = DEFAULT_UP
    down: Rules = DEFAULT_DOWN
    recommendations: list[tuple[float, int]] = field(default_factory=list)  # (at, replicas)
    scale_up_events: list[tuple[float, int]] = field(default_factory=list)  # (at, change)
    scale_down_events: list[tuple[float, int]] = field(default_factory=list)

    def reconcile(self, spec_replicas: int, proposal: int | None, now: float) -> int:
        """reconcileAutoscaler: the count to set, given the target's spec.replicas and the metrics' proposal."""
        if spec_replicas == 0 and self.min_replicas != 0:
            return 0  # "scaling is disabled since the replica count of the target is zero"
        if spec_replicas > self.max_replicas:
            desired = self.max_replicas
        elif spec_replicas < self.min_replicas:
            desired = self.min_replicas
        elif proposal is None:
            return spec_replicas  # FailedGetResourceMetric / FailedComputeMetricsReplicas: keep the count
        else:
            desired = self.normalize(spec_replicas, proposal, now)
        if desired != spec_replicas:
            self._store_scale_event(spec_replicas, desired, now)
        return desired

    def normalize(self, current: int, desired: int, now: float) -> int:
        """normalizeDesiredReplicasWithBehaviors: stabilise, then apply the rate policies and min/max."""
        stabilized = self._stabilize(current, desired, now)
        return self._rate_limit(current, stabilized, now)

    def _stabilize(self, current: int, desired: int, now: float) -> int:
        up_cutoff, down_cutoff = now - self.up.window_s, now - self.down.window_s
        up_floor = down_ceiling = desired
        for at, replicas in self.recommendations:
            if at > up_cutoff:
                up_floor = min(up_floor, replicas)
            if at > down_cutoff:
                down_ceiling = max(down_ceiling, replicas)
        self.recommendations = [(at, r) for at, r in self.recommendations
                                if not (at < up_cutoff and at < down_cutoff)] + [(now, desired)]
        return min(max(current, up_floor), down_ceiling)

    def _rate_limit(self, current: int, desired: int, now: float) -> int:
        if desired > current:
            limit = max(self._scale_up_limit(current, now), current)
            return min(desired, limit, self.max_replicas)
        if desired < current:
            limit = min(self._scale_down_limit(current, now), current)
            return max(desired, limit, self.min_replicas)
        return desired

    def _period_start(self, current: int, period_s: int, now: float) -> int:
        cutoff = now - period_s
        added = sum(change for at, change in self.scale_up_events if at > cutoff)
        removed = sum(change for at, change in self.scale_down_events if at > cutoff)
        return current - added + removed

    def _scale_up_limit(self, current: int, now: float) -> int:
        if self.up.select == "Disabled":
            return current
        proposals = [self._period_start(current, period, now) + value if kind == "Pods"
                     else math.ceil(self._period_start(current, period, now) * (1 + value / 100))
                     for kind, value, period in self.up.policies]
        return (min if self.up.select == "Min" else max)(proposals)

    def _scale_down_limit(self, current: int, now: float) -> int:
        if self.down.select == "Disabled":
            return current
        proposals = [self._period_start(current, period, now) - value if kind == "Pods"
                     else int(self._period_start(current, period, now) * (1 - value / 100))
                     for kind, value, period in self.down.policies]
        # Max picks the biggest change, which for a scale-down is the lowest count.
        return (max if self.down.select == "Min" else min)(proposals)

    def _store_scale_event(self, previous: int, new: int, now: float) -> None:
        if new > previous:
            longest = max(period for _, _, period in self.up.policies)
            self.scale_up_events = [e for e in self.scale_up_events if e[0] >= now - longest] + [(now, new - previous)]
        else:
            longest = max(period for _, _, period in self.down.policies)
            self.scale_down_events = [e for e in self.scale_down_events
                                      if e[0] >= now - longest] + [(now, previous - new)]
