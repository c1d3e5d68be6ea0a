"""What a run leaves behind: per-minute stats as the store keeps them, lifetimes for billing, the faults the seed showed.

The engine reports each happening here as it occurs; `measure` turns the record into the report's columns.
"""
from __future__ import annotations

import math
from collections import defaultdict

from ballast.simulate.fleet import PENDING, RUNNING, STARTING, STOPPING, Node, Task

# A plot needs no more points than a screen has pixels: a day is sampled every minute, an hour every two seconds.
TIMELINE_POINTS = 1800


class Record:
    def __init__(self, scenario, cluster, keep_timeline: bool = True):
        self.scenario, self.cluster = scenario, cluster
        self.epoch_s = scenario.start.timestamp()
        # Per workload, per minute since the epoch: [arrived, done, failed, busyMs], as ingest and completions write.
        self.stats: dict[str, dict[int, list]] = {name: defaultdict(lambda: [0, 0, 0, 0]) for name in cluster.by_name}
        self.last_arrival: dict[str, float] = {}
        self.nodes: list[Node] = []
        self.node_ends: dict[int, float] = {}
        self.task_seconds: dict[str, float] = defaultdict(float)
        self.placed_lifetimes: list[tuple[str, float]] = []  # (workload, seconds placed) per ended task, for Fargate
        self.pending_beyond_boot_s = 0.0
        self.pending_s = 0.0
        self.pending_now = 0
        self.most_pending = 0
        self.scale_ups_on_empty = 0
        self.direction_changes = 0
        self.nodes_added_work_done = 0
        self.launch_times: list[float] = []  # of the nodes a policy asked for, not those up before the run
        self._direction: dict[str, int] = {}
        self.step = max(1, int(math.ceil(scenario.duration_s / TIMELINE_POINTS))) if keep_timeline else 0
        self.timeline: dict[str, list] = {k: [] for k in ("t", "backlog", "desired", "running", "pending", "nodes")}

    # ---- the work -----------------------------------------------------------------------------------------------

    def arrival(self, name: str, at: float) -> None:
        self.stats[name][int((self.epoch_s + at) // 60)][0] += 1
        self.last_arrival[name] = at

    def completion(self, name: str, at: float, service_s: float) -> None:
        bucket = self.stats[name][int((self.epoch_s + at) // 60)]
        bucket[1] += 1
        bucket[3] += round(service_s * 1000)

    # ---- scaling ------------------------------------------------------------------------------------------------

    def desired_change(self, name: str, old: int, new: int, at: float, backlog: int) -> None:
        direction = 1 if new > old else -1
        if direction > 0 and backlog == 0:
            self.scale_ups_on_empty += 1  # the seed's fault: more workers for a queue with nothing in it
        if self._direction.get(name, direction) != direction:
            self.direction_changes += 1
        self._direction[name] = direction

    def node_launched(self, node: Node, at: float, preloaded: bool = False) -> None:
        self.nodes.append(node)
        if preloaded:
            return
        self.launch_times.append(at)
        if self.cluster.arrived and self.cluster.all_done():
            self.nodes_added_work_done += 1  # the seed's other fault: a node for work that is already done

    def node_ended(self, node: Node, at: float) -> None:
        self.node_ends[node.id] = at

    # ---- tasks --------------------------------------------------------------------------------------------------

    def task_created(self, task: Task) -> None:
        if self.cluster.platform.has_nodes:
            self.pending_now += 1
            self.most_pending = max(self.most_pending, self.pending_now)

    def task_placed(self, task: Task, at: float) -> None:
        if task.node is not None:
            self.pending_now -= 1
            self._pending(task, at)

    def task_ended(self, task: Task, at: float, was_pending: bool) -> None:
        if was_pending:
            self.pending_now -= 1
            self._pending(task, at)
        else:
            self._placed_lifetime(task, at)

    def _placed_lifetime(self, task: Task, until: float) -> None:
        lifetime = until - task.placed
        self.task_seconds[task.workload] += lifetime
        self.placed_lifetimes.append((task.workload, lifetime))

    def _pending(self, task: Task, until: float) -> None:
        """Pending time beyond a node boot: the part of the wait while no node of the task's pools was booting."""
        waited = until - task.created
        if waited <= 0:
            return
        pools = self.cluster.by_name[task.workload].node_pools
        boots = sorted((n.requested, n.ready_at if n.ended is None else min(n.ready_at, n.ended))
                       for n in self.nodes if n.pool in pools and n.requested < until and n.ready_at > task.created)
        self.pending_s += waited
        self.pending_beyond_boot_s += max(0.0, waited - _covered(task.created, until, boots))

    # ---- the end ------------------------------------------------------------------------------------------------

    def sample(self, t: int) -> None:
        if not self.step or t % self.step:
            return
        cluster, line = self.cluster, self.timeline
        line["t"].append(t)
        line["backlog"].append(sum(q.backlog for q in cluster.queues.values()))
        line["desired"].append(sum(cluster.desired.values()))
        line["running"].append(sum(cluster.count(n, RUNNING, STOPPING) for n in cluster.by_name))
        line["pending"].append(sum(cluster.count(n, PENDING, STARTING) for n in cluster.by_name))
        line["nodes"].append(sum(len(nodes) for nodes in cluster.nodes.values()))

    def close(self, horizon: float) -> None:
        """Bills what still runs at the horizon as if it stopped there; a task still waiting has waited until then."""
        for tasks in self.cluster.tasks.values():
            for task in tasks:
                if task.state == PENDING:
                    self._pending(task, horizon)
                elif task.state in (STARTING, RUNNING, STOPPING):
                    self._placed_lifetime(task, horizon)
        for node in self.nodes:
            self.node_ends.setdefault(node.id, horizon)

    def node_lifetimes(self) -> list[tuple[str, float]]:
        return [(node.pool, self.node_ends[node.id] - node.requested) for node in self.nodes]


def _covered(start: float, end: float, intervals: list[tuple[float, float]]) -> float:
    """How much of [start, end] the union of the (sorted) intervals covers."""
    covered, reach = 0.0, start
    for begin, finish in intervals:
        begin, finish = max(begin, reach), min(finish, end)
        if finish > begin:
            covered += finish - begin
            reach = finish
    return covered
