"""Benchmark of DESIGN.md "The decision core": one tick's decisions for 1,000 workloads, against a trivial baseline.

Run: .venv/bin/python bench/decisions.py — prints the median tick time and its ratio to the baseline, which is the same
loop over the same observations computing only ceil(backlog / target) per workload.
"""
import math
import statistics
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from chalicelib.core.decide import decide_tick  # noqa: E402
from chalicelib.core.types import (History, Observation, PodSample, PoolObservation, QueueDepth,  # noqa: E402
                                   Recommendation, ResourceUsage, ThroughputSample)
from chalicelib.model import (BacklogMetric, DeadlineMetric, InstanceShape, NodePool, ResourceMetric,  # noqa: E402
                              Resources, Target, Workload)

WORKLOADS = 1000
RUNS = 21
NOW = datetime(2024, 5, 1, 12, tzinfo=timezone.utc)


def fleet():
    """A mixed fleet: Fargate queue workers, CPU-scaled services with per-pod samples, deadline workers, EC2 pools."""
    pools = {f"pool-{i}": NodePool(f"pool-{i}", "AutoScalingGroup", InstanceShape(4000 * (i + 1), 8192 * (i + 1),
                                                                                   price_per_hour=0.2 * (i + 1) ** 0.9),
                                   max_nodes=40) for i in range(5)}
    workloads, observations, histories = [], {}, {}
    for i in range(WORKLOADS):
        kind = i % 10
        metrics = (BacklogMetric(5),)
        if kind in (1, 2):
            metrics += (ResourceMetric("cpu", "Utilization", average_utilization=70),)
        if kind == 3:
            metrics = (DeadlineMetric(300, min_samples=5),)
        name = f"w{i:04d}"
        workloads.append(Workload(name, Target("ECSService", "ballast", name), max_replicas=50, min_replicas=0,
                                  queue_name=name, metrics=metrics, resources=Resources(500 + 250 * (i % 4), 1024),
                                  node_pools=(f"pool-{i % 5}", f"pool-{(i + 1) % 5}") if kind == 9 else ()))
        current = i % 12
        pods = tuple(PodSample(f"{name}-{p}", 300 + 70 * ((i + p) % 9), 1000, started_at=NOW - timedelta(hours=1))
                     for p in range(current))
        observations[name] = Observation(
            replicas=current, queue=QueueDepth((i * 37) % 400, (i * 11) % 30), resources={"cpu": ResourceUsage(pods)},
            throughput=(ThroughputSample(30, 60),) * 3, startup_s=20.0, arrival_per_s=0.5)
        histories[name] = History(recommendations=tuple(Recommendation(current + d, NOW - timedelta(seconds=60 * d))
                                                        for d in range(4)),
                                  queue_last_nonempty_at=NOW - timedelta(seconds=i % 600))
    nodes = {name: PoolObservation(3) for name in pools}
    return tuple(workloads), pools, observations, histories, nodes


def baseline(workloads, observations):
    out = {}
    for wl in workloads:
        queue = observations[wl.name].queue
        out[wl.name] = math.ceil((queue.visible + queue.in_flight) / 5)
    return out


def median_ms(fn, clock, runs=RUNS):
    samples = []
    for _ in range(runs):
        start = clock()
        fn()
        samples.append((clock() - start) * 1000)
    return statistics.median(samples)


def main():
    workloads, pools, observations, histories, nodes = fleet()
    # CPU time as well as wall time: on a shared machine the wall clock also measures the neighbours.
    for label, clock in (("wall", time.perf_counter), ("cpu", time.process_time)):
        tick_ms = median_ms(lambda: decide_tick(workloads, pools, observations, histories, nodes, NOW), clock)
        base_ms = median_ms(lambda: baseline(workloads, observations), clock)
        print(f"{label}: decide_tick {WORKLOADS} workloads in {tick_ms:.1f} ms (median of {RUNS}), "
              f"{WORKLOADS / tick_ms * 1000:,.0f} decisions/s, goal < 50 ms {'met' if tick_ms < 50 else 'MISSED'}; "
              f"baseline ceil(backlog/target) {base_ms:.3f} ms; ratio {tick_ms / max(base_ms, 1e-3):.0f}x")


if __name__ == "__main__":
    main()
