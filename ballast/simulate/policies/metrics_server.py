"""metrics-server as the HPA-on-CPU baseline reads it: per-pod CPU from two kubelet readings, refreshed every resolution.

metrics-server scrapes each kubelet every --metric-resolution and reports a pod's usage as the change of its
cumulative CPU between two scrapes over the time between them (kubernetes-sigs/metrics-server, pkg/storage: a pod
needs two points before it has a rate). So a new pod has no sample until its second scrape, and every sample is up to
a resolution old: the lag the seed saw ("intervals between checks on the utilisation took 30 seconds").
"""
from __future__ import annotations

import math

from ballast.simulate.fleet import PENDING, RUNNING, STARTING, STOPPING, Task
from ballast.simulate.policies.hpa import PodMetric


class MetricsServer:
    def __init__(self, cluster, resolution_s: float, phase_s: float = 0.0):
        self.cluster, self.resolution_s = cluster, resolution_s
        self._last: dict[int, tuple[float, float]] = {}  # task id → (scraped at, busy seconds then)
        self._sample: dict[int, tuple[float, float, float]] = {}  # task id → (millicores, at, window)
        self._next = float(phase_s)

    def tick(self, t: int) -> None:
        if t < self._next:
            return
        self._next = t + self.resolution_s
        cluster, seen = self.cluster, set()
        for name, tasks in cluster.tasks.items():
            work = cluster.scenario.work[name]
            for task in tasks:
                if task.state not in (RUNNING, STOPPING):
                    continue
                seen.add(task.id)
                busy = cluster.busy_seconds(task, t)
                previous = self._last.get(task.id)
                if previous is not None and t > previous[0]:
                    window = t - previous[0]
                    busy_share = min(1.0, (busy - previous[1]) / window)
                    usage = busy_share * work.cpu_busy_millicores + (1 - busy_share) * work.cpu_idle_millicores
                    self._sample[task.id] = (usage, float(t), window)
                self._last[task.id] = (float(t), busy)
        for gone in set(self._last) - seen:
            self._last.pop(gone, None)
            self._sample.pop(gone, None)

    def pods(self, name: str) -> list[PodMetric]:
        """The HPA's view of the workload's pods: phase, Ready since when, and the latest sample if any."""
        return [self._pod(task) for task in self.cluster.tasks[name]]

    def _pod(self, task: Task) -> PodMetric:
        if task.state in (PENDING, STARTING):
            return PodMetric(f"pod-{task.id}", "Pending", task.cpu, start_time=task.placed)
        sample = self._sample.get(task.id)
        value, at, window = sample if sample else (None, None, 0.0)
        # No readiness probe: a worker is Ready once its container runs. A pod told to stop carries a deletion time.
        started = task.created if task.created == -math.inf else task.placed  # a pod from before the run: long ago
        return PodMetric(f"pod-{task.id}", "Running", task.cpu, value, True, started, task.running_at, at, window,
                         deleting=task.state == STOPPING)
