"""Node counts of DESIGN.md "The decision core": bin-pack task requests onto pool shapes, grow only for waiting tasks, shrink after unneeded-for.

Nodes are counted, not named: an Auto Scaling group or EKS nodegroup is resized by desired capacity, so "a node whose
tasks fit elsewhere" is the packing of every task onto one node fewer, and "unneeded for" is kept per surplus node.
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Mapping

from chalicelib.core import idle
from chalicelib.core.types import NodeDecision, Observation, PoolHistory, PoolObservation
from chalicelib.model import Condition, Event, NodePool, Workload

# cluster-autoscaler's event reasons where the meaning matches.
TRIGGERED_SCALE_UP = "TriggeredScaleUp"
NOT_TRIGGER_SCALE_UP = "NotTriggerScaleUp"
SCALE_DOWN = "ScaleDown"
# Ballast's own.
MAX_NODES_REACHED = "MaxNodesReached"
ABOVE_MAX_NODES = "AboveMaxNodes"
UNNEEDED = "NodesUnneeded"
KEPT_FOR_PREDICTED_WORK = "NodesKeptForPredictedWork"
NODES_MATCH_DEMAND = "NodesMatchDemand"
WITHIN_MAX_NODES = "WithinMaxNodes"
BOOT_SMOOTHING = 0.3


@dataclass(frozen=True)
class Demand:
    workload: Workload
    replicas: int
    may_grow: bool  # False when the workload's queue is drained: its pending tasks wait for no new node
    next_work_in_s: float | None = None  # a drained workload's work is expected back this soon (learned gaps)
    current: int = 0  # replicas it has now
    backlog: int = 0  # work waiting for it, for re-dividing a full pool


@dataclass(frozen=True)
class Limit:
    replicas: int
    reason: str
    message: str


@dataclass(frozen=True)
class Plan:
    capacity: Mapping[str, Limit]  # by workload name: the most replicas its pools can hold, and why
    pools: Mapping[str, NodeDecision]  # by pool name, for every observed pool


# Tasks that request no CPU are bound by memory and task slots alone.
_UNBOUND = 1 << 30


def _fit(free_cpu: int, free_memory: int, cpu: int, memory: int) -> int:
    return min(free_cpu // cpu if cpu else _UNBOUND, free_memory // memory)


class _Bins:
    """The free room of each node of one pool while planning (first fit, identical tasks placed in bulk)."""

    def __init__(self, pool: NodePool, smallest_task: tuple[int, int]):
        self.cpu, self.memory = pool.instance.allocatable_cpu_millicores, pool.instance.allocatable_memory_mib
        # A node's task slots (EKS max pods, ECS awsvpc ENIs) run out before its CPU and memory may.
        self.slots = pool.instance.max_tasks or _UNBOUND
        self.free: list[list[int]] = []  # [cpu, memory, slots] left on each node
        self.tasks = 0
        # First fit fills nodes front to back: nodes before this index hold not even the smallest task, skip them.
        self._smallest = smallest_task
        self._first_open = 0

    def per_node(self, cpu: int, memory: int) -> int:
        return min(_fit(self.cpu, self.memory, cpu, memory), self.slots)

    def place(self, cpu: int, memory: int, count: int, max_bins: int) -> int:
        placed = 0
        least_cpu, least_memory = self._smallest
        free = self.free
        while self._first_open < len(free) and (free[self._first_open][0] < least_cpu or free[self._first_open][1]
                                                < least_memory or free[self._first_open][2] == 0):
            self._first_open += 1
        for index in range(self._first_open, len(free)):
            if placed == count:
                break
            room = free[index]
            fit = min(count - placed, _fit(room[0], room[1], cpu, memory), room[2])
            if fit > 0:
                room[0] -= fit * cpu
                room[1] -= fit * memory
                room[2] -= fit
                placed += fit
        if placed == count or len(free) >= max_bins:  # most calls, in a full pool's rounds: no new node asked
            self.tasks += placed
            return placed
        per_node = self.per_node(cpu, memory)
        while placed < count and len(free) < max_bins and per_node > 0:
            fit = min(count - placed, per_node)
            free.append([self.cpu - fit * cpu, self.memory - fit * memory, self.slots - fit])
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
        shape = pool.instance
        per_node = min(_fit(shape.allocatable_cpu_millicores, shape.allocatable_memory_mib, cpu, memory),
                       shape.max_tasks or _UNBOUND)
        if per_node > 0:
            fitting.append((shape.price_per_hour / per_node, shape.price_per_hour, pool.name, pool))
    return [entry[-1] for entry in sorted(fitting, key=lambda e: e[:3])]


def boot_s(workload: Workload, pools: Mapping[str, NodePool], histories: Mapping[str, PoolHistory]) -> float:
    """How long a node of the workload's cheapest pool takes to boot: learned, or the prior; 0 without a pool."""
    fitting = pools_by_cost(workload, pools)
    if not fitting:
        return 0.0
    history = histories.get(fitting[0].name)
    learned = history.boot_s if history is not None else None
    return learned if learned is not None else idle.BOOT_PRIOR_S


def has_room(workload: Workload, workloads, observations: Mapping[str, Observation], pools: Mapping[str, NodePool],
             node_states: Mapping[str, PoolObservation]) -> bool:
    """Whether the ready nodes of the workload's pools hold one more of its tasks beside every task running now."""
    fitting = {p.name for p in pools_by_cost(workload, pools)}
    if not any(node_states.get(name) and _ready(node_states[name]) for name in fitting):
        return False
    running = [Demand(w, observations[w.name].replicas + (w.name == workload.name), True) for w in workloads
               if w.node_pools and w.name in observations]

    def ready_nodes(pool: NodePool, demand: Demand, bins: _Bins) -> int:
        return _ready(node_states[pool.name]) if pool.name in node_states else 0

    _, placed = _pack(running, {n: p for n, p in pools.items() if n in node_states}, ready_nodes)
    return placed.get(workload.name, 0) > observations[workload.name].replicas


def _ready(state: PoolObservation) -> int:
    return state.nodes if state.ready_nodes is None else min(state.ready_nodes, state.nodes)


def _score(demand: Demand, fitting: list[NodePool]) -> float:
    """cluster-autoscaler's DecreasingPodOrderer score: cpu / node cpu + memory / node memory, on the first pool."""
    if not fitting:
        return 0.0
    shape, resources = fitting[0].instance, demand.workload.resources
    return (resources.cpu_millicores / shape.allocatable_cpu_millicores
            + resources.memory_mib / shape.allocatable_memory_mib)


def _pack(demands: list[Demand], pools: Mapping[str, NodePool], max_bins, fair: bool = False
          ) -> tuple[dict[str, _Bins], dict[str, int]]:
    """First fit decreasing, as cluster-autoscaler's binpacking estimator: larger tasks (by its score) first; `fair`
    deals one task per workload per round, so a full pool is shared."""
    smallest = (min((d.workload.resources.cpu_millicores for d in demands), default=1),
                min((d.workload.resources.memory_mib for d in demands), default=1))
    bins = {name: _Bins(pool, smallest) for name, pool in pools.items()}
    order = [(d, pools_by_cost(d.workload, pools)) for d in demands]
    order.sort(key=lambda entry: (-_score(*entry), entry[0].workload.name))
    left = {d.workload.name: d.replicas for d in demands}
    while True:
        placing = []  # in rounds: who placed a task this round and wants more
        for entry in order:
            demand, fitting = entry
            wl = demand.workload
            want = min(1, left[wl.name]) if fair else left[wl.name]
            for pool in fitting:
                if want == 0:
                    break
                got = bins[pool.name].place(wl.resources.cpu_millicores, wl.resources.memory_mib, want,
                                            max_bins(pool, demand, bins[pool.name]))
                want -= got
                left[wl.name] -= got
            if fair and want == 0 and left[wl.name] > 0:
                placing.append(entry)
        # A workload that placed nothing this round places nothing in the next: room only shrinks within a packing,
        # and the rounds' node limits (maxNodes) stay.
        if not (fair and placing):
            return bins, {d.workload.name: d.replicas - left[d.workload.name] for d in demands}
        order = placing


def plan(demands: list[Demand], pools: Mapping[str, NodePool], observed: Mapping[str, PoolObservation],
         histories: Mapping[str, PoolHistory], now: datetime) -> Plan:
    """Caps each workload to what its pools hold at maxNodes, then sizes every observed pool for the capped tasks."""
    demands = [d for d in demands if any(name in pools for name in d.workload.node_pools)]
    def at_max_nodes(pool: NodePool, demand: Demand, bins: _Bins) -> int:
        return pool.max_nodes

    _, at_most = _pack(demands, pools, at_max_nodes)
    if any(at_most[d.workload.name] < d.replicas for d in demands):
        # Not everything fits: deal the room out rather than let the first workloads take it all, in proportion to
        # the work waiting where it is known, task by task for the rest. The shares are placed in rounds too, the
        # estimator's larger tasks first within each: placed whole in that order, a share of large tasks could take
        # the room a smaller task's share was counted in, and leave that workload at zero.
        _, at_most = _pack(demands, pools, at_max_nodes, fair=True)
        shares = _shares(demands, sum(at_most.values()))
        if shares:
            _, at_most = _pack([replace(d, replicas=shares[d.workload.name]) for d in demands], pools, at_max_nodes,
                               fair=True)
    capacity, capped_pools = {}, set()
    for demand in demands:
        wl = demand.workload
        if at_most[wl.name] < demand.replicas:
            capacity[wl.name] = _limit(wl, pools, at_most[wl.name])
            capped_pools.update(wl.node_pools)
    capped = [replace(d, replicas=min(d.replicas, at_most[d.workload.name])) for d in demands]

    def room(pool: NodePool, demand: Demand, bins: _Bins) -> int:
        # Never add a node for a task nobody waits for: a drained workload only fills nodes that already exist.
        existing = observed[pool.name].nodes if pool.name in observed else 0
        return pool.max_nodes if demand.may_grow else max(existing, len(bins.free))

    bins, _ = _pack(capped, pools, room)
    decisions = {name: _size(pools[name], observed[name], _learn(histories.get(name, PoolHistory()), observed[name]),
                             bins[name], name in capped_pools, _work_due(demands, name), now)
                 for name in pools if name in observed}
    return Plan(capacity, decisions)


def _learn(history: PoolHistory, observed: PoolObservation) -> PoolHistory:
    if observed.boot_s is None:
        return history
    boot_s = observed.boot_s if history.boot_s is None else history.boot_s + BOOT_SMOOTHING * (observed.boot_s - history.boot_s)
    return PoolHistory(history.unneeded_since, boot_s)


def _work_due(demands: list[Demand], pool: str) -> tuple[float | None, bool]:
    """The soonest a drained workload of the pool wants nodes again, and whether every drained one said when."""
    drained = [d for d in demands if pool in d.workload.node_pools and not d.may_grow]
    due = [d.next_work_in_s for d in drained if d.next_work_in_s is not None]
    return min(due, default=None), len(due) == len(drained)


def _shares(demands: list[Demand], room: int) -> dict[str, int]:
    """The room a full pool holds, divided in proportion to the work waiting for each workload (largest remainder).

    Equal shares would stop the busiest queue's workers to start a lighter one's, which then finishes first while the
    busiest waits: in proportion, every queue drains at once, and a share moves only as fast as the backlogs do.
    """
    total = sum(d.backlog for d in demands)
    if total == 0:
        return {}
    shares, left, open_demands = {d.workload.name: 0 for d in demands}, room, list(demands)
    while left > 0 and open_demands:
        weight = sum(d.backlog for d in open_demands) or len(open_demands)
        exact = {d.workload.name: left * (d.backlog or 1) / weight for d in open_demands}
        given = {name: int(share) for name, share in exact.items()}
        by_remainder = sorted(open_demands, key=lambda d: (given[d.workload.name] - exact[d.workload.name], d.workload.name))
        for demand in by_remainder[:left - sum(given.values())]:
            given[demand.workload.name] += 1
        left = 0
        for demand in open_demands:
            name = demand.workload.name
            take = min(given[name], demand.replicas - shares[name])
            shares[name] += take
            left += given[name] - take
        open_demands = [d for d in open_demands if shares[d.workload.name] < d.replicas]
    # A share grows only into room free now: room another workload gives back this tick is still held by its
    # stopping tasks, so growing into it would leave tasks pending with no node on the way; it is taken next tick.
    free = room - sum(d.current for d in demands)
    for demand in sorted(demands, key=lambda d: d.workload.name):
        name = demand.workload.name
        if shares[name] > demand.current:
            grown = min(shares[name] - demand.current, max(free, 0))
            shares[name], free = demand.current + grown, free - grown
    return shares


def _limit(workload: Workload, pools: Mapping[str, NodePool], replicas: int) -> Limit:
    task = f"{workload.resources.cpu_millicores}m/{workload.resources.memory_mib}MiB"
    names = ", ".join(n for n in workload.node_pools if n in pools)
    if not pools_by_cost(workload, pools):
        return Limit(0, NOT_TRIGGER_SCALE_UP, f"a task of {task} fits no node of pool {names}")
    return Limit(replicas, MAX_NODES_REACHED, f"pool {names} holds at most {replicas} tasks of {task} at maxNodes")


def _size(pool: NodePool, observed: PoolObservation, history: PoolHistory, bins: _Bins, capped: bool,
          work_due: tuple[float | None, bool], now: datetime) -> NodeDecision:
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
                            PoolHistory(boot_s=history.boot_s), ABOVE_MAX_NODES, message, bins.tasks)
    if needed > current:
        message = f"{shown}: adding {needed - current}"
        return NodeDecision(needed, (limited,), (_event(pool, TRIGGERED_SCALE_UP, message, now, current, needed),),
                            PoolHistory(boot_s=history.boot_s), TRIGGERED_SCALE_UP, message, bins.tasks)
    if needed == current:
        return NodeDecision(current, (limited,), (), PoolHistory(boot_s=history.boot_s), NODES_MATCH_DEMAND, shown,
                            bins.tasks)
    surplus = current - needed
    # The most recently unneeded slots stay: if demand came back for some nodes, assume it took the oldest idle ones.
    since = history.unneeded_since[-surplus:]
    since = since + (now,) * (surplus - len(since))
    keep = idle.node_keep(pool, history)
    explicit = pool.scale_down_unneeded_s is not None
    ripe = sum(1 for t in since if ((now - t).total_seconds() >= keep.seconds if explicit
                                    else keep.is_over((now - t).total_seconds())))
    boot = history.boot_s if history.boot_s is not None else idle.BOOT_PRIOR_S
    due_s, all_known = work_due
    learned = pool.scale_down_unneeded_s is None and due_s is not None
    if learned and all_known and due_s > keep.seconds:
        ripe = surplus  # the work is not back before its break-even time: keeping any of the surplus only costs
    if ripe and learned and due_s <= boot:
        # Removing now would mean booting again for work expected back sooner than a node boots.
        message = f"{shown}: {surplus} unneeded, kept: work is expected back in {due_s:.0f}s, a boot takes {boot:.0f}s"
        return NodeDecision(current, (limited,), (), PoolHistory(since, history.boot_s), KEPT_FOR_PREDICTED_WORK,
                            message, bins.tasks)
    if ripe == 0:
        waited = (now - since[0]).total_seconds()
        message = f"{shown}: {surplus} unneeded for {waited:.0f}s of {keep.seconds:.0f}s ({keep.basis})"
        return NodeDecision(current, (limited,), (), PoolHistory(since, history.boot_s), UNNEEDED, message, bins.tasks)
    why = (f"work is expected back in {due_s:.0f}s, after the break-even {keep.seconds:.0f}s" if learned and all_known
           and due_s > keep.seconds else f"unneeded for {keep.seconds:.0f}s or more ({keep.basis})")
    message = f"{shown}: removing {ripe}: {why}"
    return NodeDecision(current - ripe, (limited,), (_event(pool, SCALE_DOWN, message, now, current, current - ripe),),
                        PoolHistory(since[ripe:], history.boot_s), SCALE_DOWN, message, bins.tasks)


def _event(pool: NodePool, reason: str, message: str, now: datetime, before: int, after: int) -> Event:
    return Event("Normal", reason, message, "NodePool", pool.name, now, (("from", before), ("to", after)), pool.namespace)
