"""ballast/tables.py: every metric type the API accepts shows in `get workloads`, with what the controller read."""
import pytest

from ballast import tables

TARGET = {"type": "AverageValue", "averageValue": 1000}
METRICS = [
    ({"type": "Backlog", "backlog": {"targetPerReplica": 5}},
     {"type": "Backlog", "backlog": {"current": {"averageValue": 3}}}, "3/5 (backlog/replica)"),
    ({"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}},
     {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 90}}}, "cpu: 90%/60%"),
    ({"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {
        "type": "Utilization", "averageUtilization": 60}}},
     {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app",
                                                         "current": {"averageUtilization": 45}}}, "app/cpu: 45%/60%"),
    ({"type": "Pods", "pods": {"metric": {"name": "NetworkRxBytes"}, "target": TARGET}},
     {"type": "Pods", "pods": {"metric": {"name": "NetworkRxBytes"}, "current": {"averageValue": 1500}}},
     "NetworkRxBytes: 1500/1000 (avg)"),
    ({"type": "Object", "object": {"describedObject": {"kind": "LoadBalancer", "name": "app/web/1"},
                                   "metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount"},
                                   "target": {"type": "Value", "value": 500}}},
     {"type": "Object", "object": {"metric": {"name": "RequestCount"}, "current": {"value": 1000}}},
     "RequestCount: 1000/500"),
    ({"type": "External", "external": {"metric": {"namespace": "AWS/SQS", "name": "Age"},
                                       "target": {"type": "Value", "value": 60}}},
     {"type": "External", "external": {"metric": {"name": "Age"}, "current": {"value": 30}}}, "Age: 30/60"),
    ({"type": "Deadline", "deadline": {"seconds": 300}},
     {"type": "Deadline", "deadline": {"current": {"value": 12}}}, "12 queued/drain within 300s"),
]


@pytest.mark.parametrize("metric, current, shown", METRICS, ids=[m["type"] for m, _, _ in METRICS])
def test_each_metric_type_shows_its_current_value_against_its_target(metric, current, shown):
    assert tables.metric_summary(metric, current) == shown
    value = next(v for v in (current[tables.BLOCKS[metric["type"]]]["current"]).values())
    # Before the controller's first read of it, the value is unknown and the target still shows.
    read = f"{value}%" if f"{value}%" in shown else str(value)
    assert tables.metric_summary(metric, {}) == shown.replace(read, "<unknown>", 1)


def test_a_workload_with_every_metric_type_is_a_row():
    item = {"metadata": {"name": "api", "creationTimestamp": None},
            "spec": {"target": {"kind": "ECSService", "cluster": "c", "service": "api"}, "maxReplicas": 10,
                     "metrics": [m for m, _, _ in METRICS]},
            "status": {"currentMetrics": [c for _, c, _ in METRICS]}}
    row = tables.workload_row(item, wide=True)
    assert row[0] == "api" and row[2] == ",".join(shown for _, _, shown in METRICS)
