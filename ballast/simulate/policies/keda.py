"""KEDA's aws-sqs-queue scaler over the HPA it creates, with cluster-autoscaler growing and shrinking the nodes.

From kedacore/keda:
- pkg/scalers/aws_sqs_queue_scaler.go and the scaler's documentation: the metric is ApproximateNumberOfMessages plus
  ApproximateNumberOfMessagesNotVisible (scaleOnInFlight, default true; delayed messages only with scaleOnDelayed,
  default false), handed to the HPA as an External metric with an AverageValue target of queueLength (default 5);
  the scaler is active while the metric is above activationQueueLength (default 0);
- pkg/scaling/executor/scale_scaledobjects.go, RequestScale, run every pollingInterval (default 30 s): an active
  scaler at zero replicas scales to max(minReplicaCount, 1) and stamps lastActiveTime; an active one only stamps it;
  an inactive one above zero with minReplicaCount 0 scales to zero once lastActiveTime + cooldownPeriod (default
  300 s) has passed;
- the HPA beneath has minReplicas max(minReplicaCount, 1) and the upstream defaults (policies/hpa.py: sync every
  15 s, tolerance 0.1, scale-down stabilisation 300 s), and does nothing while the target is at zero; it asks KEDA's
  metrics server, which reads the queue at that moment (no metrics cache unless useCachedMetrics).
Nodes: cluster-autoscaler (policies/cluster_autoscaler.py); on Fargate there are none to scale.
"""
from __future__ import annotations

from dataclasses import dataclass

from ballast.simulate.fleet import STOPPING
from ballast.simulate.policies import cluster_autoscaler, hpa
from ballast.simulate.policies.policy import due, phase
from ballast.simulate.units import ScenarioError, count, number, positive, seconds


@dataclass(frozen=True)
class Settings:
    queue_length: float = 5.0
    activation_queue_length: float = 0.0
    scale_on_in_flight: bool = True
    polling_interval_s: float = 30.0
    cooldown_period_s: float = 300.0
    hpa_sync_period_s: float = hpa.SYNC_PERIOD_S
    min_replica_count: int | None = None  # None: the Workload's minReplicas


def _flag(value, path):
    if not isinstance(value, bool):
        raise ScenarioError(path, f"must be true or false, got {value!r}")
    return value


FIELDS = {
    "queueLength": ("queue_length", positive), "activationQueueLength": ("activation_queue_length", number),
    "scaleOnInFlight": ("scale_on_in_flight", _flag),
    "pollingInterval": ("polling_interval_s", lambda v, p: seconds(v, p, allow_zero=False)),
    "cooldownPeriod": ("cooldown_period_s", seconds),
    "hpaSyncPeriod": ("hpa_sync_period_s", lambda v, p: seconds(v, p, allow_zero=False)),
    "minReplicaCount": ("min_replica_count", count),
}


@dataclass
class _ScaledObject:
    min_replica_count: int
    last_active: float | None = None


class Keda:
    name = "keda"

    def __init__(self, scenario, settings: Settings | None = None, autoscaler: cluster_autoscaler.Settings | None = None):
        self.scenario = scenario
        self.settings = settings or scenario.baselines.get("keda", Settings())
        self.ca_settings = autoscaler or scenario.baselines.get("cluster-autoscaler", cluster_autoscaler.Settings())
        self.label = "KEDA + cluster-autoscaler" if scenario.platform.has_nodes else "KEDA"

    def start(self, cluster) -> None:
        self.cluster, s = cluster, self.settings
        self.poll_phase = phase(self.scenario, "keda-operator", s.polling_interval_s)
        self.hpa_phase = phase(self.scenario, "hpa-controller", s.hpa_sync_period_s)
        self.objects, self.hpas = {}, {}
        for w in self.scenario.workloads:
            minimum = w.min_replicas if s.min_replica_count is None else s.min_replica_count
            self.objects[w.name] = _ScaledObject(minimum)
            self.hpas[w.name] = hpa.Autoscaler(max(minimum, 1), w.max_replicas)
        self.nodes = cluster_autoscaler.ClusterAutoscaler(cluster, self.ca_settings) if cluster.pools else None
        resting = {name: o.min_replica_count for name, o in self.objects.items()}
        cluster.preload(cluster.nodes_for(resting), resting)

    def tick(self, t: int) -> None:
        if due(t, self.settings.polling_interval_s, self.poll_phase):
            for name in self.objects:
                self._request_scale(name, t)
        if due(t, self.settings.hpa_sync_period_s, self.hpa_phase):
            for name in self.hpas:
                self._hpa(name, t)
        if self.nodes is not None:
            self.nodes.tick(t)

    def on_arrival(self, workload: str, at: float) -> None:
        pass

    def metric(self, name: str) -> int:
        queue = self.cluster.queues[name]
        return len(queue.visible) + (queue.in_flight if self.settings.scale_on_in_flight else 0)

    def _request_scale(self, name: str, t: int) -> None:
        scaled, cluster = self.objects[name], self.cluster
        active = self.metric(name) > self.settings.activation_queue_length
        current = cluster.desired[name]
        if current == 0 and active:
            cluster.set_desired(name, max(scaled.min_replica_count, 1))
            scaled.last_active = t
        elif not active and current > 0 and scaled.min_replica_count == 0:
            if scaled.last_active is None or scaled.last_active + self.settings.cooldown_period_s < t:
                cluster.set_desired(name, 0)
        elif not active and current < scaled.min_replica_count:
            cluster.set_desired(name, scaled.min_replica_count)
        elif active:
            scaled.last_active = t

    def _hpa(self, name: str, t: int) -> None:
        cluster = self.cluster
        current = cluster.desired[name]
        # The scale subresource's status.replicas: the Deployment's pods, those terminating excluded.
        pods = sum(1 for task in cluster.tasks[name] if task.state != STOPPING)
        proposal = hpa.external_per_pod_replicas(pods, self.metric(name), self.settings.queue_length)
        desired = self.hpas[name].reconcile(current, proposal, t)
        if desired != current:
            cluster.set_desired(name, desired)
