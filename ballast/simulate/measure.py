"""The report's columns from a run's record: time to finish, item latency, what was billed, and the seed's faults.

Billing follows the providers: a node from its launch request to its termination, a Fargate task from its placement
(the image pull starts) to its end, per second with the provider's minimum (platform.py). Nothing is billed for the
control planes themselves (EKS's hourly cluster fee, Ballast's Lambdas): they are the same whichever policy runs.
"""
from __future__ import annotations

import math
from collections import defaultdict

from ballast.simulate.engine import Cluster

COLUMNS = ("makespan_s", "p50_s", "p95_s", "node_seconds", "task_seconds", "cost")


def summarize(cluster: Cluster, policy, elapsed_s: float) -> dict:
    record = cluster.record
    latencies = sorted(d - a for a, d in zip(cluster.arrival_t, cluster.done_t) if not math.isnan(d))
    items, done = len(cluster.arrival_t), len(latencies)
    finished = items == done and items > 0
    last = max((d for d in cluster.done_t if not math.isnan(d)), default=math.nan)
    return {
        "policy": policy.name, "label": getattr(policy, "label", policy.name),
        "items": items, "done": done, "unfinished": items - done,
        "makespan_s": (last - cluster.arrival_t[0]) if finished else None,
        "p50_s": _percentile(latencies, 50), "p95_s": _percentile(latencies, 95),
        "node_seconds": sum(lifetime for _, lifetime in record.node_lifetimes()),
        "task_seconds": sum(record.task_seconds.values()),
        "cost": _cost(cluster),
        "late": _late(cluster),
        "scale_ups_on_empty": record.scale_ups_on_empty,
        "nodes_added_work_done": record.nodes_added_work_done,
        "nodes_added_after_last_completion": sum(1 for at in record.launch_times if at > last),
        "pending_beyond_boot_s": record.pending_beyond_boot_s,
        "pending_s": record.pending_s,
        "most_pending": record.most_pending,
        "direction_changes": record.direction_changes,
        "node_launches": len(record.launch_times),
        "elapsed_s": elapsed_s,
    }


def _percentile(values: list[float], pct: float) -> float | None:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    if not values:
        return None
    return values[max(0, math.ceil(pct / 100 * len(values)) - 1)]


def _late(cluster: Cluster) -> int:
    """Items done after their workload's latency bound, and unfinished ones that had a bound."""
    late = 0
    for arrived, done, name in zip(cluster.arrival_t, cluster.done_t, cluster.item_workload):
        bound = cluster.scenario.work[name].latency_bound_s
        if bound is not None and (math.isnan(done) or done - arrived > bound):
            late += 1
    return late


def _cost(cluster: Cluster) -> float:
    platform, record = cluster.platform, cluster.record
    if not platform.has_nodes:
        total = 0.0
        for name, lifetime in record.placed_lifetimes:
            workload = cluster.by_name[name]
            total += platform.billed(lifetime) * platform.task_price_per_s(workload.resources.cpu_millicores,
                                                                           workload.resources.memory_mib)
        return total
    prices = {name: _node_price(cluster, name) for name in cluster.pools}
    return sum(platform.billed(lifetime) * prices[pool] / 3600 for pool, lifetime in record.node_lifetimes())


def _node_price(cluster: Cluster, pool: str) -> float:
    shape = cluster.pools[pool].instance
    return cluster.platform.node_price(shape.type, shape.price_per_hour)


def lower_bound_costs(cluster: Cluster) -> dict:
    """The work itself over what the platform can hold: busy seconds × a task's share of its cheapest node.

    A task's share is the largest of its CPU and memory over the node's allocatable, and one pod of the node's pod
    limit: the node-seconds a perfect packing would need with no start-up, no boot and no idle time.
    """
    busy = defaultdict(float)
    for name, service_s in zip(cluster.item_workload, cluster.service_s):
        busy[name] += service_s
    platform = cluster.platform
    task_seconds = sum(busy.values())
    if not platform.has_nodes:
        cost = sum(seconds * platform.task_price_per_s(cluster.by_name[name].resources.cpu_millicores,
                                                       cluster.by_name[name].resources.memory_mib)
                   for name, seconds in busy.items())
        return {"node_seconds": 0.0, "task_seconds": task_seconds, "cost": cost}
    node_seconds = cost = 0.0
    for name, seconds in busy.items():
        _, share, price = min(_share(cluster, cluster.by_name[name], pool) for pool in cluster.by_name[name].node_pools)
        node_seconds += seconds * share
        cost += seconds * share * price / 3600
    return {"node_seconds": node_seconds, "task_seconds": task_seconds, "cost": cost}


def _share(cluster: Cluster, workload, pool: str) -> tuple[float, float, float]:
    shape = cluster.pools[pool].instance
    pods = cluster.platform.max_pods(shape.type)
    share = max(workload.resources.cpu_millicores / shape.allocatable_cpu_millicores,
                workload.resources.memory_mib / shape.allocatable_memory_mib, 1 / pods if pods else 0.0)
    price = _node_price(cluster, pool)
    return share * price, share, price  # cheapest first, by what a task-second costs there


def ratio(value: float | None, reference: float | None) -> float | None:
    if value is None or reference is None:
        return None
    if reference == 0:
        return None if value else 1.0
    return value / reference
