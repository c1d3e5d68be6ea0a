"""The seed's node scaling: CloudWatch alarms on the nodes' CPU (or memory) driving EC2 Auto Scaling simple scaling.

The seed installed the CloudWatch agent on every worker node, publishing each minute, and scaled the group by one
node when the group's average crossed a threshold (its "INSTANCE/CPU" and "INSTANCE/MEMORY" cases). Facts modelled:
- an alarm compares the last `evaluationPeriods` datapoints of its `period` with the threshold (CloudWatch,
  "Using Amazon CloudWatch alarms": M out of N datapoints; here N of N);
- an alarm with an Auto Scaling action invokes it every period while it stays in ALARM, not only on the change
  (CloudWatch alarm actions: "the exception is for alarms with Auto Scaling actions");
- a simple scaling policy then waits its cooldown, 300 s by default, before it answers another alarm
  (EC2 Auto Scaling, "Scaling cooldowns": DefaultCooldown 300);
- a node reports only once it runs, and measures the whole instance: its pods' usage plus the system's.
"""
from __future__ import annotations

from ballast.simulate.fleet import RUNNING, STOPPING


class NodeAlarms:
    def __init__(self, cluster, pool: str, settings, min_nodes: int, phase_s: float = 0.0):
        self.cluster, self.pool, self.settings, self.min_nodes = cluster, pool, settings, min_nodes
        self._busy_then: dict[int, float] = {}  # task id → busy seconds at the last datapoint
        self._datapoints: list[float] = []
        self._last_scaling = -float("inf")
        self._next = phase_s + settings.alarm_period_s

    def tick(self, t: int) -> None:
        if t < self._next:
            return
        period = self.settings.alarm_period_s
        self._next = t + period
        point = self._datapoint(t, period)
        if point is None:
            return
        self._datapoints = (self._datapoints + [point])[-self.settings.evaluation_periods:]
        if len(self._datapoints) < self.settings.evaluation_periods or t - self._last_scaling < self.settings.cooldown_s:
            return
        size = self.cluster.pool_size(self.pool)
        if all(p > self.settings.scale_out_above for p in self._datapoints):
            self._scale(size + 1, t)
        elif all(p < self.settings.scale_in_below for p in self._datapoints):
            self._scale(size - 1, t)

    def _scale(self, nodes: int, t: int) -> None:
        spec = self.cluster.pools[self.pool]
        # The group's own bounds: Auto Scaling never goes below its minimum nor above its maximum.
        if max(spec.min_nodes, self.min_nodes) <= nodes <= spec.max_nodes and nodes != self.cluster.pool_size(self.pool):
            self.cluster.set_pool_size(self.pool, nodes)
            self._last_scaling = t

    def _datapoint(self, t: int, period: float) -> float | None:
        """The group's average utilisation over the last period, in percent of each instance; None with no node."""
        cluster, settings = self.cluster, self.settings
        shape = cluster.pools[self.pool].instance
        readings = []
        for node in cluster.ready_nodes(self.pool):
            used = 0.0
            for task in node.tasks:
                if task.state not in (RUNNING, STOPPING):
                    continue
                work = cluster.scenario.work[task.workload]
                if settings.node_metric == "memory":
                    used += work.memory_used_mib
                    continue
                busy = cluster.busy_seconds(task, t)
                ran = min(period, t - task.running_at)
                busy_s = min(ran, busy - self._busy_then.get(task.id, 0.0)) if ran > 0 else 0.0
                self._busy_then[task.id] = busy
                if ran > 0:
                    used += (busy_s * work.cpu_busy_millicores + (ran - busy_s) * work.cpu_idle_millicores) / period
            if settings.node_metric == "memory":
                share = used / shape.memory_mib * 100 + settings.node_base_memory_percent
            else:
                share = used / shape.cpu_millicores * 100 + settings.node_base_cpu_percent
            readings.append(min(100.0, share))
        return sum(readings) / len(readings) if readings else None
