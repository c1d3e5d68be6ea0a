"""AWS Application Auto Scaling target tracking of an ECS service on SQS backlog per task, with cluster-autoscaler nodes.

From the AWS documentation:
- "Scaling policy based on Amazon SQS" (EC2 Auto Scaling user guide) and its metric-math form: the tracked metric is
  ApproximateNumberOfMessagesVisible divided by the running tasks (RunningTaskCount), and the target is the
  acceptable backlog per task = acceptable latency / average processing time of an item;
- "How target tracking scaling for Application Auto Scaling works": the service creates the alarms and computes the
  adjustment from the metric and the target; the scale-out alarm needs 3 one-minute datapoints above the target, the
  scale-in alarm 15 below it (a scale-in is deliberately slower); the policy is invoked every minute an alarm stays in
  ALARM; the scale-in alarm sits at 90 % of the target (as the alarm the service creates shows; not documented: a
  setting here);
- ScaleOutCooldown / ScaleInCooldown default to 300 s for ECS services (Application Auto Scaling API,
  TargetTrackingScalingPolicyConfiguration): within a scale-out cooldown only a larger scale-out happens, and no
  scale-in; within a scale-in cooldown no further scale-in; a scale-out is never held back by a scale-in cooldown.
The adjustment is proportional, ceil(capacity × metric / target), AWS's "keep the metric at the target". Backlog per
task is undefined with no task running (no datapoint, the alarms see missing data), so capacity never goes below one.
Nodes, when the platform has them: cluster-autoscaler (policies/cluster_autoscaler.py), as for KEDA.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

from ballast.simulate.fleet import RUNNING, STOPPING
from ballast.simulate.policies import cluster_autoscaler
from ballast.simulate.units import count, fraction, positive, seconds

PERIOD_S = 60


@dataclass(frozen=True)
class Settings:
    acceptable_latency_s: float = 300.0
    target_value: float | None = None  # None: acceptable latency / mean service time (AWS's recipe)
    scale_out_datapoints: int = 3
    scale_in_datapoints: int = 15
    scale_in_threshold: float = 0.9  # of the target
    scale_out_cooldown_s: float = 300.0
    scale_in_cooldown_s: float = 300.0
    min_capacity: int | None = None  # None: the Workload's minReplicas, at least one


FIELDS = {
    "acceptableLatency": ("acceptable_latency_s", lambda v, p: seconds(v, p, allow_zero=False)),
    "targetValue": ("target_value", positive),
    "scaleOutDatapoints": ("scale_out_datapoints", lambda v, p: max(1, count(v, p))),
    "scaleInDatapoints": ("scale_in_datapoints", lambda v, p: max(1, count(v, p))),
    "scaleInThreshold": ("scale_in_threshold", fraction),
    "scaleOutCooldown": ("scale_out_cooldown_s", seconds), "scaleInCooldown": ("scale_in_cooldown_s", seconds),
    "minCapacity": ("min_capacity", lambda v, p: max(1, count(v, p))),
}


class _Target:
    """One scalable target: its minute being averaged, its datapoints, and when it last scaled each way."""

    def __init__(self, target_value: float, min_capacity: int, max_capacity: int):
        self.target_value, self.min_capacity, self.max_capacity = target_value, min_capacity, max_capacity
        self.visible_sum = self.running_sum = 0.0
        self.samples = 0
        self.datapoints: list[float | None] = []
        self.last_out = self.last_in = -math.inf


class TargetTracking:
    name = "target-tracking"
    label = "AWS target tracking (backlog per task)"

    def __init__(self, scenario, settings: Settings | None = None, autoscaler: cluster_autoscaler.Settings | None = None):
        self.scenario = scenario
        self.settings = settings or scenario.baselines.get("target-tracking", Settings())
        self.ca_settings = autoscaler or scenario.baselines.get("cluster-autoscaler", cluster_autoscaler.Settings())

    def start(self, cluster) -> None:
        self.cluster, s = cluster, self.settings
        self.targets = {}
        for w in self.scenario.workloads:
            value = s.target_value or s.acceptable_latency_s / max(self.scenario.work[w.name].service_time.mean, 1e-9)
            minimum = max(1, w.min_replicas if s.min_capacity is None else s.min_capacity)
            self.targets[w.name] = _Target(value, min(minimum, w.max_replicas), w.max_replicas)
        self.nodes = cluster_autoscaler.ClusterAutoscaler(cluster, self.ca_settings) if cluster.pools else None
        resting = {name: target.min_capacity for name, target in self.targets.items()}
        cluster.preload(cluster.nodes_for(resting), resting)

    def on_arrival(self, workload: str, at: float) -> None:
        pass

    def tick(self, t: int) -> None:
        cluster = self.cluster
        for name, target in self.targets.items():
            target.visible_sum += len(cluster.queues[name].visible)
            target.running_sum += cluster.count(name, RUNNING, STOPPING)
            target.samples += 1
            if t and t % PERIOD_S == 0:
                self._datapoint(target)
                self._evaluate(name, target, t)
        if self.nodes is not None:
            self.nodes.tick(t)

    def _datapoint(self, target: _Target) -> None:
        running = target.running_sum / target.samples
        point = None if running == 0 else (target.visible_sum / target.samples) / running
        target.datapoints = (target.datapoints + [point])[-max(self.settings.scale_in_datapoints,
                                                               self.settings.scale_out_datapoints):]
        target.visible_sum = target.running_sum = 0.0
        target.samples = 0

    def _evaluate(self, name: str, target: _Target, t: int) -> None:
        s, points = self.settings, target.datapoints
        latest = points[-1]
        if latest is None:
            return
        desired = self.cluster.desired[name]
        proposal = math.ceil(desired * latest / target.target_value - 1e-9)
        if _breaching(points, s.scale_out_datapoints, lambda p: p > target.target_value):
            proposal = min(max(proposal, target.min_capacity), target.max_capacity)
            if proposal > desired:
                self.cluster.set_desired(name, proposal)
                target.last_out = t
        elif _breaching(points, s.scale_in_datapoints, lambda p: p < s.scale_in_threshold * target.target_value):
            if t - target.last_in < s.scale_in_cooldown_s or t - target.last_out < s.scale_out_cooldown_s:
                return
            proposal = max(proposal, target.min_capacity)
            if proposal < desired:
                self.cluster.set_desired(name, proposal)
                target.last_in = t


def _breaching(points: list[float | None], needed: int, test) -> bool:
    recent = points[-needed:]
    return len(recent) == needed and all(p is not None and test(p) for p in recent)
