"""Kubernetes cluster-autoscaler, the node half of the KEDA and target-tracking baselines.

From kubernetes/autoscaler cluster-autoscaler (FAQ.md "How does scale-up work?", "How does scale-down work?", "What
are the parameters to CA?"; core/static_autoscaler.go RunOnce):
- every --scan-interval (10 s) it looks for pods the scheduler marked unschedulable; pods that fit on nodes already
  coming up (the group's target size not yet registered) wait for those; for the rest a binpacking estimate of new
  nodes of the group's template is added to the group's target size, up to its maximum (--new-pod-scale-up-delay 0),
  and a loop that scaled up does no scale-down work;
- a ready node whose pods' requests are below --scale-down-utilization-threshold (0.5, the larger of the CPU and the
  memory share of allocatable) and whose pods all fit on the other nodes is unneeded; it is removed after
  --scale-down-unneeded-time (10 min) unneeded. Unneeded time is counted even while scale-down is in cooldown, but no
  node goes within --scale-down-delay-after-add (10 min) of a scale-up, nor within --scale-down-delay-after-delete
  (the scan interval) of a deletion;
- empty nodes go together (--max-empty-bulk-delete 10), a node with pods one at a time: drained (its pods evicted and
  recreated elsewhere by their controllers), then terminated with the group's desired size decremented.
Not modelled: --max-node-provision-time (15 min; no boot here fails), scale-down-delay-after-failure (nothing fails).
"""
from __future__ import annotations

from dataclasses import dataclass

from ballast.simulate.fleet import STOPPING, Node, Task
from ballast.simulate.policies.policy import due, phase
from ballast.simulate.units import count, fraction, seconds


@dataclass(frozen=True)
class Settings:
    scan_interval_s: float = 10.0
    scale_down_unneeded_s: float = 600.0
    scale_down_delay_after_add_s: float = 600.0
    scale_down_delay_after_delete_s: float = 10.0  # defaults to the scan interval
    scale_down_utilization_threshold: float = 0.5
    max_empty_bulk_delete: int = 10


FIELDS = {
    "scanInterval": ("scan_interval_s", lambda v, p: seconds(v, p, allow_zero=False)),
    "scaleDownUnneededTime": ("scale_down_unneeded_s", seconds),
    "scaleDownDelayAfterAdd": ("scale_down_delay_after_add_s", seconds),
    "scaleDownDelayAfterDelete": ("scale_down_delay_after_delete_s", seconds),
    "scaleDownUtilizationThreshold": ("scale_down_utilization_threshold", fraction),
    "maxEmptyBulkDelete": ("max_empty_bulk_delete", lambda v, p: max(1, count(v, p))),
}


class _Room:
    """A node's free room while simulating where pods would go."""

    __slots__ = ("cpu", "memory", "pods")

    def __init__(self, cpu: float, memory: float, pods: int | None):
        self.cpu, self.memory, self.pods = cpu, memory, pods

    def take(self, task: Task) -> bool:
        if self.cpu >= task.cpu and self.memory >= task.memory and (self.pods is None or self.pods >= 1):
            self.cpu -= task.cpu
            self.memory -= task.memory
            if self.pods is not None:
                self.pods -= 1
            return True
        return False


class ClusterAutoscaler:
    def __init__(self, cluster, settings: Settings):
        self.cluster, self.settings = cluster, settings
        self.phase = phase(cluster.scenario, "cluster-autoscaler", settings.scan_interval_s)
        self.unneeded_since: dict[int, float] = {}  # node id → when it was first found unneeded, continuously
        self.last_scale_up = -float("inf")
        self.last_delete = -float("inf")

    def tick(self, t: int) -> None:
        if not due(t, self.settings.scan_interval_s, self.phase):
            return
        if self.cluster.dirty:
            # kube-scheduler tries a new pod within milliseconds; only a pod it could not place is "unschedulable".
            self.cluster.schedule(self.cluster.now)
        if self._scale_up(t):
            return  # RunOnce returns after a scale-up: no scale-down work in the same loop
        self._scale_down(t)

    def _scale_up(self, t: int) -> bool:
        cluster = self.cluster
        if not cluster.pending:
            return False
        upcoming = {pool: [_room(node) for node in nodes if not node.ready and not node.draining]
                    for pool, nodes in cluster.nodes.items()}
        new: dict[str, list[_Room]] = {pool: [] for pool in cluster.pools}
        for task in cluster.pending:
            pools = [p for p in cluster.by_name[task.workload].node_pools if p in cluster.pools]
            if any(room.take(task) for pool in pools for room in upcoming[pool]):
                continue
            for pool in pools:
                if any(room.take(task) for room in new[pool]):
                    break
                spec = cluster.pools[pool]
                if cluster.pool_size(pool) + len(new[pool]) >= spec.max_nodes:
                    continue
                template = _template(cluster, pool)
                if template.take(task):
                    new[pool].append(template)
                    break
        for pool, rooms in new.items():
            if rooms:
                cluster.set_pool_size(pool, cluster.pool_size(pool) + len(rooms))
                self.last_scale_up = t
        return self.last_scale_up == t

    def _scale_down(self, t: int) -> None:
        cluster, s = self.cluster, self.settings
        ready = [node for pool in cluster.pools for node in cluster.ready_nodes(pool)]
        rooms = {node.id: _room(node) for node in ready}
        unneeded = []
        for node in sorted(ready, key=lambda n: (_utilization(n), n.id)):
            if _utilization(node) >= s.scale_down_utilization_threshold:
                continue
            others = [n for n in ready if n is not node and n.id not in {u.id for u in unneeded}]
            if _movable(node, others, rooms, cluster.by_name):
                unneeded.append(node)
        self.unneeded_since = {node.id: self.unneeded_since.get(node.id, t) for node in unneeded}
        if t - self.last_scale_up < s.scale_down_delay_after_add_s or \
                t - self.last_delete < s.scale_down_delay_after_delete_s:
            return
        ripe = [node for node in unneeded if t - self.unneeded_since[node.id] >= s.scale_down_unneeded_s]
        removable = {pool: cluster.pool_size(pool) - spec.min_nodes for pool, spec in cluster.pools.items()}
        chosen = []
        for node in ripe:
            if removable[node.pool] > 0:
                removable[node.pool] -= 1
                chosen.append(node)
        empty = [node for node in chosen if not _pods(node)][:s.max_empty_bulk_delete]
        victims = empty or chosen[:1]
        for node in victims:
            cluster.remove_node(node)
            self.unneeded_since.pop(node.id, None)
        if victims:
            self.last_delete = t


def _pods(node: Node) -> list[Task]:
    return [task for task in node.tasks if task.state != STOPPING]


def _utilization(node: Node) -> float:
    pods = _pods(node)
    return max(sum(p.cpu for p in pods) / node.cpu, sum(p.memory for p in pods) / node.memory)


def _room(node: Node) -> _Room:
    return _Room(node.free_cpu, node.free_memory, node.free_pods)


def _template(cluster, pool: str) -> _Room:
    shape = cluster.pools[pool].instance
    return _Room(shape.allocatable_cpu_millicores, shape.allocatable_memory_mib, cluster.platform.max_pods(shape.type))


def _movable(node: Node, others: list[Node], rooms: dict[int, _Room], workloads: dict) -> bool:
    """Whether every pod of `node` fits on `others` of its pools (first fit); if so the simulated rooms keep them."""
    trial = {n.id: _Room(rooms[n.id].cpu, rooms[n.id].memory, rooms[n.id].pods) for n in others}
    for pod in _pods(node):
        pools = workloads[pod.workload].node_pools
        if not any(trial[n.id].take(pod) for n in others if n.pool in pools):
            return False
    rooms.update(trial)
    return True
