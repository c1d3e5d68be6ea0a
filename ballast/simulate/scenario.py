"""A scenario of DESIGN.md "The simulator": Workloads and NodePools as `ballast apply` takes them, a platform, work, arrivals.

The values the engine and the policies read; scenario_file.py reads them from YAML and checks them.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from chalicelib.model import NodePool, Workload, nodepool_from, workload_from

from ballast.simulate.arrivals import Arrivals
from ballast.simulate.platform import Platform
from ballast.simulate.units import Distribution

BUILT_IN = Path(__file__).with_name("scenarios")
DEFAULT_START = "2024-05-01T00:00:00+00:00"
TOP_LEVEL = {"name", "description", "seed", "start", "duration", "platform", "workloads", "nodePools", "work",
             "arrivals", "baselines"}
WORK_FIELDS = {"serviceTime", "cpuBusyMillicores", "cpuIdleMillicores", "memoryUsedMiB", "latencyBound"}


@dataclass(frozen=True)
class Work:
    """How one workload's items are worked: the time per item, and what a worker uses while busy or idle."""

    service_time: Distribution
    cpu_busy_millicores: float  # what a busy worker burns (the HPA-on-CPU baseline and node alarms read it)
    cpu_idle_millicores: float  # a worker long-polling an empty queue
    memory_used_mib: float
    latency_bound_s: float | None = None  # an item done later than this after it arrived is late


@dataclass(frozen=True)
class Scenario:
    name: str
    platform: Platform
    workload_manifests: tuple[dict, ...]  # validated and defaulted by parse_spec, as the API stores them
    pool_manifests: tuple[dict, ...]
    work: dict[str, Work]
    arrivals: tuple[Arrivals, ...]
    duration_s: float
    start: datetime = datetime.fromisoformat(DEFAULT_START)
    seed: int = 1
    description: str = ""
    baselines: dict = field(default_factory=dict)  # policy name → its settings
    warnings: tuple[str, ...] = ()

    @property
    def workloads(self) -> tuple[Workload, ...]:
        return tuple(workload_from(m) for m in self.workload_manifests)

    @property
    def pools(self) -> dict[str, NodePool]:
        return {p.name: p for p in (nodepool_from(m) for m in self.pool_manifests)}

    def items(self) -> list[tuple[float, str]]:
        """Every item's arrival time and workload, in time order; the same for every policy of one seed."""
        rng = random.Random(f"{self.seed}:arrivals")
        found = [item for stream in self.arrivals for item in stream.times(rng)]
        found.sort(key=lambda item: item[0])
        return found
