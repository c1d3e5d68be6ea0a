"""The seed's setup: an HPA on CPU utilisation per Deployment, metrics every 30 s, and node alarms growing the group.

The photo company's EKS proof of concept (context/seeds/001): HorizontalPodAutoscalers on CPU at 30-70 %,
metrics-server sampling every 30 s, and CloudWatch alarms on the worker nodes' CPU adding or removing one
m5.large-class node, between 3 and 6 nodes. The defaults are its INSTANCE/CPU - POD/CPU case 4 (pods at 30 %, nodes
out above 50 % and in below 30 %: 32 pods wanted, 26 ran, the last node added after the work). The HPA is the
upstream algorithm (policies/hpa.py) with its defaults: sync every 15 s, tolerance 0.1, the 5-minute CPU
initialisation period, default behavior; an HPA never goes below one replica (minReplicas ≥ 1 without the alpha
HPAScaleToZero gate).
"""
from __future__ import annotations

from dataclasses import dataclass

from ballast.simulate.policies import hpa
from ballast.simulate.policies.metrics_server import MetricsServer
from ballast.simulate.policies.node_alarms import NodeAlarms
from ballast.simulate.policies.policy import due, phase
from ballast.simulate.units import ScenarioError, count, number, positive, seconds


@dataclass(frozen=True)
class Settings:
    target_utilization: float = 30.0  # percent of the CPU request (the seed's INSTANCE/CPU case 4)
    min_replicas: int = 1
    metric_resolution_s: float = 30.0
    sync_period_s: float = hpa.SYNC_PERIOD_S
    tolerance: float = hpa.TOLERANCE
    cpu_initialization_s: float = hpa.CPU_INITIALIZATION_PERIOD_S
    initial_readiness_delay_s: float = hpa.INITIAL_READINESS_DELAY_S
    node_metric: str = "cpu"
    scale_out_above: float = 50.0
    scale_in_below: float = 30.0
    alarm_period_s: float = 60.0  # the agent's crontab published once a minute
    evaluation_periods: int = 1
    cooldown_s: float = 300.0
    min_nodes: int | None = None  # the group's minimum; None: the nodes the HPAs' minimum pods need
    node_base_cpu_percent: float = 5.0  # kubelet, container runtime, daemonsets
    node_base_memory_percent: float = 10.0


def _metric(value, path):
    if value not in ("cpu", "memory"):
        raise ScenarioError(path, f"must be cpu or memory, got {value!r}")
    return value


FIELDS = {
    "targetUtilization": ("target_utilization", positive), "minReplicas": ("min_replicas", count),
    "metricResolution": ("metric_resolution_s", lambda v, p: seconds(v, p, allow_zero=False)),
    "syncPeriod": ("sync_period_s", lambda v, p: seconds(v, p, allow_zero=False)),
    "tolerance": ("tolerance", number), "cpuInitializationPeriod": ("cpu_initialization_s", seconds),
    "initialReadinessDelay": ("initial_readiness_delay_s", seconds), "nodeMetric": ("node_metric", _metric),
    "scaleOutAbove": ("scale_out_above", number), "scaleInBelow": ("scale_in_below", number),
    "alarmPeriod": ("alarm_period_s", lambda v, p: seconds(v, p, allow_zero=False)),
    "evaluationPeriods": ("evaluation_periods", lambda v, p: max(1, count(v, p))),
    "cooldown": ("cooldown_s", seconds), "minNodes": ("min_nodes", count),
    "nodeBaseCpuPercent": ("node_base_cpu_percent", number),
    "nodeBaseMemoryPercent": ("node_base_memory_percent", number),
}


class HpaCpu:
    name = "hpa-cpu"
    label = "seed: HPA on CPU + node alarms"

    def __init__(self, scenario, settings: Settings | None = None):
        self.scenario = scenario
        self.settings = settings or scenario.baselines.get("hpa-cpu", Settings())

    def start(self, cluster) -> None:
        self.cluster, s = cluster, self.settings
        self.metrics = MetricsServer(cluster, s.metric_resolution_s,
                                     phase(self.scenario, "metrics-server", s.metric_resolution_s))
        self.sync_phase = phase(self.scenario, "hpa-controller", s.sync_period_s)
        self.autoscalers = {w.name: hpa.Autoscaler(max(1, s.min_replicas), w.max_replicas)
                            for w in self.scenario.workloads}
        resting = {name: a.min_replicas for name, a in self.autoscalers.items()}
        floors = self._resting_nodes(resting)
        self.alarms = [NodeAlarms(cluster, pool, s, floors[pool], phase(self.scenario, f"alarm:{pool}", s.alarm_period_s))
                       for pool in cluster.pools]
        cluster.preload(floors, resting)

    def _resting_nodes(self, replicas: dict[str, int]) -> dict[str, int]:
        # The group's minimum holds the pods the HPAs keep at rest (the seed kept 3 nodes), or what the scenario says:
        # alarms on a quiet group's low CPU must not take away the node its minimum pods run on.
        floor = self.settings.min_nodes or 0
        return {pool: min(self.cluster.pools[pool].max_nodes, max(floor, count))
                for pool, count in self.cluster.nodes_for(replicas).items()}

    def tick(self, t: int) -> None:
        s = self.settings
        self.metrics.tick(t)
        if due(t, s.sync_period_s, self.sync_phase):
            for name, autoscaler in self.autoscalers.items():
                current = self.cluster.desired[name]
                proposal = hpa.resource_replicas(current, self.metrics.pods(name), s.target_utilization, t,
                                                 s.tolerance, s.cpu_initialization_s, s.initial_readiness_delay_s)
                desired = autoscaler.reconcile(current, proposal, t)
                if desired != current:
                    self.cluster.set_desired(name, desired)
        for alarm in self.alarms:
            alarm.tick(t)

    def on_arrival(self, workload: str, at: float) -> None:
        pass
