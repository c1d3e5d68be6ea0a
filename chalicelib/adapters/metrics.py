"""CloudWatch GetMetricData for utilisation and external metrics, batched 500 queries a call, never one call per target."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from chalicelib.adapters.aws import translated
from chalicelib.model import ExternalMetric, Target

QUERY_LIMIT = 500  # GetMetricData takes at most 500 MetricDataQueries per call
PERIOD_S = 60  # ECS service metrics and Container Insights both publish once a minute

# ECS: AWS/ECS CPUUtilization and MemoryUtilization per service are already percent of what the tasks reserve,
# which is the HPA's "utilisation of the request".
ECS_METRICS = {"cpu": "CPUUtilization", "memory": "MemoryUtilization"}
# EKS: Container Insights has no "percent of request" metric (pod_cpu_utilization is of the node,
# *_over_pod_limit of the limit), so the HPA's number is usage over request, both per pod averaged over the
# Deployment's pods (PodName is the owner's name, not one pod's). Divided here: moto does not evaluate metric math.
POD_METRICS = {"cpu": ("pod_cpu_usage_total", "pod_cpu_request"), "memory": ("pod_memory_working_set", "pod_memory_request")}


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

    def utilization(self, targets: list[Target], now: datetime, window_s: int = 120) -> dict[Target, dict[str, float]]:
        """Percent of requested CPU and memory per target, from the newest datapoint in the window.

        A resource without datapoints is absent from the target's dict (the HPA treats it as a missing metric).
        """
        wanted: dict[Target, dict[str, tuple[_Query, ...]]] = {}
        for target in dict.fromkeys(targets):
            if target.kind == "ECSService":
                dimensions = (("ClusterName", target.cluster), ("ServiceName", target.service))
                wanted[target] = {r: (_Query("AWS/ECS", name, dimensions),) for r, name in ECS_METRICS.items()}
            else:
                dimensions = (("ClusterName", target.cluster), ("Namespace", target.namespace), ("PodName", target.name))
                wanted[target] = {r: tuple(_Query("ContainerInsights", name, dimensions) for name in names)
                                  for r, names in POD_METRICS.items()}
        latest = self._latest((q for per_target in wanted.values() for queries in per_target.values() for q in queries),
                              now, window_s)
        utilization: dict[Target, dict[str, float]] = {}
        for target, per_resource in wanted.items():
            values = {}
            for resource, queries in per_resource.items():
                points = [latest.get(q) for q in queries]
                if any(p is None for p in points):
                    continue
                if len(points) == 1:
                    values[resource] = points[0]
                elif points[1] > 0:
                    values[resource] = 100.0 * points[0] / points[1]
            utilization[target] = values
        return utilization

    def external(self, metrics: list[ExternalMetric], now: datetime, window_s: int = 120) -> dict[str, float]:
        """The newest value per metric, keyed by ExternalMetric.key; metrics without datapoints are absent."""
        queries = {m.key: _Query(m.namespace, m.name, m.dimensions, m.statistic) for m in metrics}
        latest = self._latest(queries.values(), now, window_s)
        return {key: latest[query] for key, query in queries.items() if query in latest}

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
