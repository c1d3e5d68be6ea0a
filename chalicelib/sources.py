"""The metric sources a Workload scales on (DESIGN.md "The decision core"), as the frozen values the core reads.

model.py re-exports them: the objects' values are one vocabulary, read from one place.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar


@dataclass(frozen=True)
class BacklogMetric:
    type: ClassVar[str] = "Backlog"
    target_per_replica: float
    activation_threshold: float = 0


@dataclass(frozen=True)
class ResourceMetric:
    type: ClassVar[str] = "Resource"
    resource: str  # "cpu" | "memory"
    target_type: str  # "Utilization" | "AverageValue"
    average_utilization: int | None = None  # percent of the request
    average_value: float | None = None  # millicores or MiB per replica


@dataclass(frozen=True)
class ContainerResourceMetric:
    """HPA ContainerResource: one container's CPU or memory in a multi-container task (Container Insights)."""

    type: ClassVar[str] = "ContainerResource"
    resource: str  # "cpu" | "memory"
    container: str
    target_type: str  # "Utilization" | "AverageValue"
    average_utilization: int | None = None  # percent of the container's reservation
    average_value: float | None = None  # CPU units or MiB per task

    @property
    def key(self) -> str:
        return f"{self.resource}/{self.container}"


def _series_key(namespace: str, name: str, dimensions: tuple[tuple[str, str], ...], statistic: str) -> str:
    return (f"{namespace}/{name}" + "".join(f",{k}={v}" for k, v in dimensions)
            + ("" if statistic == "Average" else f"@{statistic}"))


@dataclass(frozen=True)
class ExternalMetric:
    type: ClassVar[str] = "External"
    namespace: str
    name: str
    target_type: str  # "Value" | "AverageValue"
    value: float | None = None
    average_value: float | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    statistic: str = "Average"

    @property
    def key(self) -> str:
        return _series_key(self.namespace, self.name, self.dimensions, self.statistic)


@dataclass(frozen=True)
class PodsMetric:
    """HPA Pods: the average of a per-task metric over the workload's tasks, from CloudWatch."""

    type: ClassVar[str] = "Pods"
    namespace: str
    name: str
    average_value: float
    dimensions: tuple[tuple[str, str], ...] = ()
    statistic: str = "Average"
    target_type: ClassVar[str] = "AverageValue"

    @property
    def key(self) -> str:
        return _series_key(self.namespace, self.name, self.dimensions, self.statistic)


@dataclass(frozen=True)
class ObjectMetric:
    """HPA Object: one value describing one object (a load balancer, a target group), from CloudWatch.

    The described object is a CloudWatch dimension: its kind the dimension's name, its name the value.
    """

    type: ClassVar[str] = "Object"
    namespace: str
    name: str
    target_type: str  # "Value" | "AverageValue"
    described_kind: str
    described_name: str
    value: float | None = None
    average_value: float | None = None
    dimensions: tuple[tuple[str, str], ...] = ()  # the described object's dimension first
    statistic: str = "Average"

    @property
    def key(self) -> str:
        return _series_key(self.namespace, self.name, self.dimensions, self.statistic)


@dataclass(frozen=True)
class DeadlineMetric:
    type: ClassVar[str] = "Deadline"
    seconds: int
    prior_items_per_s: float = 1.0
    prior_startup_s: float = 30.0
    min_samples: int = 1  # readings with completions before the learned rate replaces the prior


Metric = BacklogMetric | ResourceMetric | ContainerResourceMetric | ExternalMetric | PodsMetric | ObjectMetric | DeadlineMetric
# The metrics read from CloudWatch series (Observation.external holds their values by key).
SERIES_METRICS = (ExternalMetric, PodsMetric, ObjectMetric)
