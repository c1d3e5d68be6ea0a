"""Builders of the core's inputs for the table tests: a fleet of pods, a workload, a clock."""
from datetime import datetime, timedelta, timezone

from chalicelib.core.types import PodSample
from chalicelib.model import (BacklogMetric, Behavior, NodePool, InstanceShape, Resources, ScalingPolicy, ScalingRules,
                              Target, Workload, behavior_from)

NOW = datetime(2024, 5, 1, 12, 0, tzinfo=timezone.utc)
# Upstream's replica calculator tests run with a 2 min CPU initialisation period and a 10 s readiness delay;
# a "hot" pod started now, a "cool" one 3 minutes ago.
UPSTREAM_PERIODS = {"cpu_initialization_s": 120, "readiness_delay_s": 10}
HOT = NOW
COOL = NOW - timedelta(minutes=3)


def ago(seconds: float) -> datetime:
    return NOW - timedelta(seconds=seconds)


def pods(levels, count=None, requests=None, ready=None, started=None, phase=None, deleting=None) -> tuple:
    """Pods named pod-0.. as upstream's test harness builds them: level i is pod i's usage, missing when absent."""
    count = max(count or 0, len(levels), len(phase or ()), len(ready or ()))
    return tuple(PodSample(
        name=f"pod-{i}",
        value=levels[i] if i < len(levels) else None,
        request=(requests[i] if requests else 1000),
        phase=(phase[i] if phase else "Running"),
        ready=(ready[i] if ready else True),
        started_at=(started[i] if started else COOL),
        deleting=bool(deleting and deleting[i]),
    ) for i in range(count))


def rules(window_s=0, select="Max", policies=(("Pods", 4, 15), ("Percent", 100, 15))) -> ScalingRules:
    return ScalingRules(window_s, select, tuple(ScalingPolicy(k, v, p) for k, v, p in policies))


def workload(name="thumbnail", min_replicas=1, max_replicas=100, metrics=(BacklogMetric(5),), queue="thumbnail",
             behavior: Behavior | None = None, cpu=1000, memory=2048, node_pools=(), cooldown_s=300,
             include_delayed=False, paused=None) -> Workload:
    return Workload(name=name, target=Target("ECSService", "ballast", name), min_replicas=min_replicas,
                    max_replicas=max_replicas, queue_name=queue, metrics=tuple(metrics),
                    behavior=behavior or behavior_from({}), resources=Resources(cpu, memory),
                    node_pools=tuple(node_pools), cooldown_s=cooldown_s, include_delayed=include_delayed,
                    paused_replicas=paused)


def pool(name="general", cpu=4000, memory=8192, max_nodes=6, min_nodes=0, price=0.2, reserved_cpu=0,
         reserved_memory=0, unneeded_s=600) -> NodePool:
    return NodePool(name=name, provider_kind="AutoScalingGroup",
                    instance=InstanceShape(cpu, memory, reserved_cpu, reserved_memory, price, "m6g.xlarge"),
                    max_nodes=max_nodes, min_nodes=min_nodes, auto_scaling_group=f"asg-{name}",
                    scale_down_unneeded_s=unneeded_s)
