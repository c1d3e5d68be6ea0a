"""The lower bound: every slot of the largest fleet asked for at time zero, so it is there after one boot, until the work ends.

The largest fleet is each Workload at maxReplicas, cut to what its pools hold at maxNodes, the room dealt one task
per workload per round (as Ballast's core shares a full pool). It knows the future: when a workload's last item is
done its slots go to the workloads still working, and when the last item is done everything goes. So no policy that
starts cold finishes sooner except by luckier boots (one that keeps nodes warm at rest may, and pays for it). Its
node-seconds, task-seconds and cost are not this run's but the work itself over what a node can hold
(`measure.lower_bound_costs`): a bound no real fleet reaches.
"""
from __future__ import annotations

from ballast.simulate.fleet import Fleet


def largest_fleet(cluster: Fleet, working: set[str] | None = None) -> tuple[dict[str, int], dict[str, int]]:
    """(replicas per workload, nodes per pool) of the largest fleet the pools hold, for the `working` workloads."""
    working = set(cluster.by_name) if working is None else working
    replicas = {name: 0 for name in cluster.by_name}
    if not cluster.platform.has_nodes:
        return {name: (w.max_replicas if name in working else 0) for name, w in cluster.by_name.items()}, {}
    nodes: dict[str, list[list[float]]] = {pool: [] for pool in cluster.pools}
    progress = True
    while progress:
        progress = False
        for name, workload in cluster.by_name.items():
            if name not in working:
                continue
            if replicas[name] >= workload.max_replicas:
                continue
            if _place(cluster, workload, nodes):
                replicas[name] += 1
                progress = True
    return replicas, {pool: len(bins) for pool, bins in nodes.items()}


def _place(cluster: Fleet, workload, nodes: dict[str, list[list[float]]]) -> bool:
    cpu, memory = workload.resources.cpu_millicores, workload.resources.memory_mib
    for pool in workload.node_pools:
        spec = cluster.pools[pool]
        for room in nodes[pool]:
            if room[0] >= cpu and room[1] >= memory and (room[2] is None or room[2] >= 1):
                room[0] -= cpu
                room[1] -= memory
                room[2] = None if room[2] is None else room[2] - 1
                return True
        shape = spec.instance
        pods = cluster.platform.max_pods(shape.type)
        fresh = [shape.allocatable_cpu_millicores, shape.allocatable_memory_mib, pods]
        if len(nodes[pool]) < spec.max_nodes and fresh[0] >= cpu and fresh[1] >= memory and (pods is None or pods >= 1):
            nodes[pool].append([fresh[0] - cpu, fresh[1] - memory, None if pods is None else pods - 1])
            return True
    return False


class LowerBound:
    name = "lower-bound"
    label = "lower bound"

    def __init__(self, scenario):
        self.scenario = scenario
        self.working: set[str] = set()

    def start(self, cluster) -> None:
        self.cluster = cluster
        self.totals = {name: cluster.item_workload.count(name) for name in cluster.by_name}
        self.working = {name for name, total in self.totals.items() if total}
        cluster.preload({pool: spec.min_nodes for pool, spec in cluster.pools.items()}, {})
        self.replicas, self.pool_sizes = largest_fleet(cluster, self.working)

    def tick(self, t: int) -> None:
        cluster = self.cluster
        if t == 0:
            for pool, size in self.pool_sizes.items():
                cluster.set_pool_size(pool, size)
            for name, count in self.replicas.items():
                cluster.set_desired(name, count)
            return
        working = {name for name in self.working if cluster.done_by[name] < self.totals[name]}
        if working == self.working:
            return
        self.working = working
        replicas, _ = largest_fleet(cluster, working)
        for name, count in replicas.items():
            cluster.set_desired(name, count)
        if not working:
            for pool in self.pool_sizes:
                cluster.set_pool_size(pool, 0)

    def on_arrival(self, workload: str, at: float) -> None:
        pass
