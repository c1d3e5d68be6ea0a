"""Node counts of DESIGN.md "The decision core": bin-pack task requests onto pool shapes, grow only for waiting tasks, shrink after unneeded-for.

Nodes are counted, not named: an Auto Scaling group or EKS nodegroup is resized by desired capacity, so "a node whose
tasks fit elsewhere" is the packing of every task onto one node fewer, and "unneeded for" is kept per surplus node.
"""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Mapping

from chalicelib.core.types import NodeDecision, PoolHistory, PoolObservation
from chalicelib.model import Condition, Event, NodePool, Workload

# cluster-autoscaler's event reasons where the meaning matches.
TRIGGERED_SCALE_UP = "TriggeredScaleUp"
NOT_TRIGGER_SCALE_UP = "NotTriggerScaleUp"
SCALE_DOWN = "ScaleDown"
# Ballast's own.
MAX_NODES_REACHED = "MaxNodesReached"
ABOVE_MAX_NODES = "AboveMaxNodes"
UNNEEDED = "NodesUnneeded"
NODES_MATCH_DEMAND = "NodesMatchDemand"
WITHIN_MAX_NODES = "WithinMaxNodes"


@dataclass(frozen=True)
class Demand:
    workload: Workload
    replicas: int
    may_grow: bool  # False when the workload's queue is drained: its pending tasks wait for no new node


@dataclass(frozen=True)
class Limit:
    replicas: int
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    capacity: Mapping[str, Limit]  # by workload name: the most replicas its pools can hold, and why
    pools: Mapping[str, NodeDecision]  # by pool name, for every observed pool


class _Bins:
    """The free room of each node of one pool while planning (first fit, identical tasks placed in bulk)."""

    def __init__(self, pool: NodePool, smallest_task: tuple[int, int]):
        self.cpu, self.memory = pool.instance.allocatable_cpu_millicores, pool.instance.allocatable_memory_mib
        self.free: list[list[int]] = []
        self.tasks = 0
        # First fit fills nodes front to back: nodes before this index hold not even the smallest task, skip them.
        self._smallest = smallest_task
        self._first_open = 0

    def per_node(self, cpu: int, memory: int) -> int:
        return min(self.cpu // cpu, self.memory // memory)

    def place(self, cpu: int, memory: int, count: int, max_bins: int) -> int:
        placed = 0
        least_cpu, least_memory = self._smallest
        while self._first_open < len(self.free) and (self.free[self._first_open][0] < least_cpu
                                                     or self.free[self._first_open][1] < least_memory):
            self._first_open += 1
        for index in range(self._first_open, len(self.free)):
            if placed == count:
                break
            room = self.free[index]
            fit = min(count - placed, room[0] // cpu, room[1] // memory)
            if fit > 0:
                room[0] -= fit * cpu
                room[1] -= fit * memory
                placed += fit
        per_node = self.per_node(cpu, memory)
        while placed < count and len(self.free) < max_bins and per_node > 0:
            fit = min(count - placed, per_node)
            self.free.append([self.cpu - fit * cpu, self.memory - fit * memory])
            placed += fit
        self.tasks += placed
        return placed


def pools_by_cost(workload: Workload, pools: Mapping[str, NodePool]) -> list[NodePool]:
    """The workload's pools whose node can hold one of its tasks, cheapest per task first."""
    cpu, memory = workload.resources.cpu_millicores, workload.resources.memory_mib
    fitting = []
    for name in workload.node_pools:
        pool = pools.get(name)
        if pool is None:
            continue
        per_node = min(pool.instance.allocatable_cpu_millicores // cpu, pool.instance.allocatable_memory_mib // memory)
        if per_node > 0:
            fitting.append((pool.instance.price_per_hour / per_node, pool.instance.price_per_hour, pool.name, pool))
    return [entry[-1] for entry in sorted(fitting, key=lambda e: e[:3])]


def _largest_first(demands: list[Demand]) -> list[Demand]:
    return sorted(demands, key=lambda d: (-d.workload.resources.cpu_millicores, -d.workload.resources.memory_mib,
                                          d.workload.name))


def _pack(demands: list[Demand], pools: Mapping[str, NodePool], max_bins, fair: bool = False
          ) -> tuple[dict[str, _Bins], dict[str, int]]:
    """First fit, largest tasks first; `fair` deals one task per workload per round, so a full pool is shared."""
    smallest = (min((d.workload.resources.cpu_millicores for d in demands), default=1),
                min((d.workload.resources.memory_mib for d in demands), default=1))
    bins = {name: _Bins(pool, smallest) for name, pool in pools.items()}
    order = [(d, pools_by_cost(d.workload, pools)) for d in _largest_first(demands)]
    left = {d.workload.name: d.replicas for d in demands}
    while True:
        progress = False
        for demand, fitting in order:
            wl = demand.workload
            want = min(1, left[wl.name]) if fair else left[wl.name]
            for pool in fitting:
                if want == 0:
                    break
                got = bins[pool.name].place(wl.resources.cpu_millicores, wl.resources.memory_mib, want,
                                            max_bins(pool, demand, bins[pool.name]))
                want -= got
                left[wl.name] -= got
                progress = progress or got > 0
        if not (fair and progress):
            return bins, {d.workload.name: d.replicas - left[d.workload.name] for d in demands}


def plan(demands: list[Demand], pools: Mapping[str, NodePool], observed: Mapping[str, PoolObservation],
         histories: Mapping[str, PoolHistory], now: datetime) -> Plan:
    """Caps each workload to what its pools hold at maxNodes, then sizes every observed pool for the capped tasks."""
    demands = [d for d in demands if any(name in pools for name in d.workload.node_pools)]
    def at_max_nodes(pool: NodePool, demand: Demand, bins: _Bins) -> int:
        return pool.max_nodes

    _, at_most = _pack(demands, pools, at_max_nodes)
    if any(at_most[d.workload.name] < d.replicas for d in demands):
        # Not everything fits: deal the room out task by task rather than let the first workloads take it all.
        _, at_most = _pack(demands, pools, at_max_nodes, fair=True)
    capacity, capped_pools = {}, set()
    for demand in demands:
        wl = demand.workload
        if at_most[wl.name] < demand.replicas:
            capacity[wl.name] = _limit(wl, pools, at_most[wl.name])
            capped_pools.update(wl.node_pools)
    capped = [Demand(d.workload, min(d.replicas, at_most[d.workload.name]), d.may_grow) for d in demands]

    def room(pool: NodePool, demand: Demand, bins: _Bins) -> int:
        # Never add a node for a task nobody waits for: a drained workload only fills nodes that already exist.
        existing = observed[pool.name].nodes if pool.name in observed else 0
        return pool.max_nodes if demand.may_grow else max(existing, len(bins.free))

    bins, _ = _pack(capped, pools, room)
    decisions = {name: _size(pools[name], observed[name], histories.get(name, PoolHistory()), bins[name],
                             name in capped_pools, now)
                 for name in pools if name in observed}
    return Plan(capacity, decisions)


def _limit(workload: Workload, pools: Mapping[str, NodePool], replicas: int) -> Limit:
    task = f"{workload.resources.cpu_millicores}m/{workload.resources.memory_mib}MiB"
    names = ", ".join(n for n in workload.node_pools if n in pools)
    if not pools_by_cost(workload, pools):
        return Limit(0, NOT_TRIGGER_SCALE_UP, f"a task of {task} fits no node of pool {names}")
    return Limit(replicas, MAX_NODES_REACHED, f"pool {names} holds at most {replicas} tasks of {task} at maxNodes")


def _size(pool: NodePool, observed: PoolObservation, history: PoolHistory, bins: _Bins, capped: bool,
          now: datetime) -> NodeDecision:
    current = observed.nodes
    needed = min(max(len(bins.free), pool.min_nodes), pool.max_nodes)
    limited = Condition("ScalingLimited", capped, MAX_NODES_REACHED if capped else WITHIN_MAX_NODES,
                        f"tasks wanted more than {pool.max_nodes} nodes hold" if capped
                        else f"the tasks fit within {pool.max_nodes} nodes")
    shown = f"{bins.tasks} tasks need {needed} of {pool.instance.type or 'these'} nodes, {current} exist"
    if current > pool.max_nodes:
        # As HPA does for replicas above maxReplicas: the spec bound applies at once, not after unneeded-for.
        message = f"{shown}: above maxNodes {pool.max_nodes}"
        return NodeDecision(pool.max_nodes, (limited,),
                            (_event(pool, ABOVE_MAX_NODES, message, now, current, pool.max_nodes),),
                            PoolHistory(), ABOVE_MAX_NODES, message, bins.tasks)
    if needed > current:
        message = f"{shown}: adding {needed - current}"
        return NodeDecision(needed, (limited,), (_event(pool, TRIGGERED_SCALE_UP, message, now, current, needed),),
                            PoolHistory(), TRIGGERED_SCALE_UP, message, bins.tasks)
    if needed == current:
        return NodeDecision(current, (limited,), (), PoolHistory(), NODES_MATCH_DEMAND, shown, bins.tasks)
    surplus = current - needed
    # The most recently unneeded slots stay: if demand came back for some nodes, assume it took the oldest idle ones.
    since = history.unneeded_since[-surplus:]
    since = since + (now,) * (surplus - len(since))
    ripe = sum(1 for t in since if (now - t).total_seconds() >= pool.scale_down_unneeded_s)
    if ripe == 0:
        waited = (now - since[0]).total_seconds()
        message = f"{shown}: {surplus} unneeded for {waited:.0f}s of {pool.scale_down_unneeded_s}s"
        return NodeDecision(current, (limited,), (), PoolHistory(since), UNNEEDED, message, bins.tasks)
    message = f"{shown}: removing {ripe} unneeded for {pool.scale_down_unneeded_s}s or more"
    return NodeDecision(current - ripe, (limited,), (_event(pool, SCALE_DOWN, message, now, current, current - ripe),),
                        PoolHistory(since[ripe:]), SCALE_DOWN, message, bins.tasks)


def _event(pool: NodePool, reason: str, message: str, now: datetime, before: int, after: int) -> Event:
    return Event("Normal", reason, message, "NodePool", pool.name, now, (("from", before), ("to", after)))
