"""CloudWatch GetMetricData for every metric the tick reads (utilisation, containers, External, Pods and Object series),
batched 500 queries a call in one request, never one call per target or per kind of metric."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from chalicelib.adapters.aws import translated
from chalicelib.model import ECS_CONTAINER_INSIGHTS, EKS_CONTAINER_INSIGHTS, ExternalMetric, Target

QUERY_LIMIT = 500  # GetMetricData takes at most 500 MetricDataQueries per call
PERIOD_S = 60  # ECS service metrics and Container Insights both publish once a minute

# ECS: AWS/ECS CPUUtilization and MemoryUtilization per service are already percent of what the tasks reserve,
# which is the HPA's "utilisation of the request".
ECS_METRICS = {"cpu": "CPUUtilization", "memory": "MemoryUtilization"}
# EKS: Container Insights has no "percent of request" metric (pod_cpu_utilization is of the node,
# *_over_pod_limit of the limit), so the HPA's number is usage over request, both per pod averaged over the
# Deployment's pods (PodName is the owner's name, not one pod's). Divided here: moto does not evaluate metric math.
POD_METRICS = {"cpu": ("pod_cpu_usage_total", "pod_cpu_request"), "memory": ("pod_memory_working_set", "pod_memory_request")}
# One container of a multi-container task. ECS Container Insights with enhanced observability publishes its use and its
# reservation per service and container. EKS's enhanced Container Insights publishes a container's use as a percent
# of the node (container_cpu_utilization = usage / node_cpu_limit) and its request: usage over request needs the
# node's capacity, read here at the cluster's dimension (exact for a cluster of one node size).
ECS_CONTAINER_METRICS = {"cpu": ("ContainerCpuUtilized", "ContainerCpuReserved"),
                         "memory": ("ContainerMemoryUtilized", "ContainerMemoryReserved")}
EKS_CONTAINER_METRICS = {"cpu": ("container_cpu_utilization", "node_cpu_limit", "container_cpu_request"),
                         "memory": ("container_memory_utilization", "node_memory_limit", "container_memory_request")}
MIB = 2**20


@dataclass(frozen=True)
class Series:
    """One CloudWatch series a metric reads (External, Pods, Object), named by the metric's key."""

    key: str
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    statistic: str = "Average"

    @classmethod
    def of(cls, metric) -> Series:
        return cls(metric.key, metric.namespace, metric.name, metric.dimensions, metric.statistic)


@dataclass(frozen=True)
class Readings:
    """One tick's CloudWatch readings; what had no datapoint in the window is absent."""

    utilization: dict = field(default_factory=dict)  # Target -> {"cpu": percent, "memory": percent}
    containers: dict = field(default_factory=dict)  # (Target, container) -> {resource: (percent, CPU units or MiB)}
    series: dict = field(default_factory=dict)  # Series.key -> value


@dataclass(frozen=True)
class _Query:
    namespace: str
    name: str
    dimensions: tuple[tuple[str, str], ...]
    stat: str = "Average"

    def to_request(self, query_id: str) -> dict:
        metric = {"Namespace": self.namespace, "MetricName": self.name,
                  "Dimensions": [{"Name": k, "Value": v} for k, v in self.dimensions]}
        return {"Id": query_id, "MetricStat": {"Metric": metric, "Period": PERIOD_S, "Stat": self.stat}, "ReturnData": True}


class Metrics:
    def __init__(self, cloudwatch):
        self._cloudwatch = cloudwatch

    def read(self, targets: list[Target], containers: list[tuple[Target, str]], series: list[Series], now: datetime,
             window_s: int = 120) -> Readings:
        """Everything the tick reads from CloudWatch, in one batched GetMetricData request (500 queries a call)."""
        wanted = {target: self._utilization_queries(target) for target in dict.fromkeys(targets)}
        parts = {pair: self._container_queries(*pair) for pair in dict.fromkeys(containers)}
        by_key = {s.key: _Query(s.namespace, s.name, s.dimensions, s.statistic) for s in series}
        queries = [q for per_target in wanted.values() for qs in per_target.values() for q in qs]
        queries += [q for per_pair in parts.values() for qs in per_pair.values() for q in qs]
        latest = self._latest(queries + list(by_key.values()), now, window_s)
        utilization = {target: {resource: value for resource, qs in per_resource.items()
                                if (value := _usage_over_request(qs, latest)) is not None}
                       for target, per_resource in wanted.items()}
        container_usage = {pair: {resource: usage for resource, qs in per_resource.items()
                                  if (usage := _container_usage(pair[0], resource, qs, latest)) is not None}
                           for pair, per_resource in parts.items()}
        return Readings(utilization, container_usage,
                        {key: latest[query] for key, query in by_key.items() if query in latest})

    def utilization(self, targets: list[Target], now: datetime, window_s: int = 120) -> dict[Target, dict[str, float]]:
        """Percent of requested CPU and memory per target, from the newest datapoint in the window.

        A resource without datapoints is absent from the target's dict (the HPA treats it as a missing metric).
        """
        return self.read(targets, [], [], now, window_s).utilization

    def external(self, metrics: list[ExternalMetric], now: datetime, window_s: int = 120) -> dict[str, float]:
        """The newest value per metric, keyed by ExternalMetric.key; metrics without datapoints are absent."""
        return self.read([], [], [Series.of(m) for m in metrics], now, window_s).series

    @staticmethod
    def _utilization_queries(target: Target) -> dict[str, tuple[_Query, ...]]:
        if target.kind == "ECSService":
            dimensions = (("ClusterName", target.cluster), ("ServiceName", target.service))
            return {r: (_Query("AWS/ECS", name, dimensions),) for r, name in ECS_METRICS.items()}
        dimensions = (("ClusterName", target.cluster), ("Namespace", target.namespace), ("PodName", target.name))
        return {r: tuple(_Query("ContainerInsights", name, dimensions) for name in names)
                for r, names in POD_METRICS.items()}

    @staticmethod
    def _container_queries(target: Target, container: str) -> dict[str, tuple[_Query, ...]]:
        if target.kind == "ECSService":
            dimensions = (("ClusterName", target.cluster), ("ServiceName", target.service), ("ContainerName", container))
            return {r: tuple(_Query(ECS_CONTAINER_INSIGHTS, name, dimensions) for name in names)
                    for r, names in ECS_CONTAINER_METRICS.items()}
        dimensions = (("ClusterName", target.cluster), ("ContainerName", container), ("Namespace", target.namespace),
                      ("PodName", target.name))
        cluster = (("ClusterName", target.cluster),)
        return {r: (_Query(EKS_CONTAINER_INSIGHTS, used, dimensions), _Query(EKS_CONTAINER_INSIGHTS, node, cluster),
                    _Query(EKS_CONTAINER_INSIGHTS, request, dimensions))
                for r, (used, node, request) in EKS_CONTAINER_METRICS.items()}

    def _latest(self, queries: Iterable[_Query], now: datetime, window_s: int) -> dict[_Query, float]:
        unique = list(dict.fromkeys(queries))
        start, end = now - timedelta(seconds=window_s), now
        newest: dict[_Query, tuple[datetime, float]] = {}
        for offset in range(0, len(unique), QUERY_LIMIT):
            chunk = unique[offset:offset + QUERY_LIMIT]
            by_id = {f"q{offset + i}": query for i, query in enumerate(chunk)}
            request = {"MetricDataQueries": [q.to_request(i) for i, q in by_id.items()], "StartTime": start,
                       "EndTime": end, "ScanBy": "TimestampDescending"}
            while True:
                with translated("CloudWatch GetMetricData"):
                    response = self._cloudwatch.get_metric_data(**request)
                for result in response.get("MetricDataResults", []):
                    query = by_id[result["Id"]]
                    # Pages may split one query's datapoints; keep the newest wherever it arrives.
                    for timestamp, value in zip(result.get("Timestamps", []), result.get("Values", [])):
                        if query not in newest or timestamp > newest[query][0]:
                            newest[query] = (timestamp, value)
                if not response.get("NextToken"):
                    break
                request["NextToken"] = response["NextToken"]
        return {query: value for query, (_, value) in newest.items()}


def _usage_over_request(queries: tuple[_Query, ...], latest: dict[_Query, float]) -> float | None:
    points = [latest.get(q) for q in queries]
    if any(p is None for p in points):
        return None
    if len(points) == 1:
        return points[0]
    return 100.0 * points[0] / points[1] if points[1] > 0 else None


def _container_usage(target: Target, resource: str, queries: tuple[_Query, ...],
                     latest: dict[_Query, float]) -> tuple[float, float] | None:
    """(percent of the container's reservation, use per task in CPU units or MiB), or None without every datapoint."""
    points = [latest.get(q) for q in queries]
    if any(p is None for p in points):
        return None
    if target.kind == "ECSService":
        used, reserved = points
    else:
        percent_of_node, node, reserved = points
        used = percent_of_node / 100 * node
    if reserved <= 0:
        return None
    value = used / MIB if resource == "memory" and target.kind != "ECSService" else used
    return 100.0 * used / reserved, value
