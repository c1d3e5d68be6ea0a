from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.adapters.metrics import Metrics, Series
from chalicelib.errors import Unavailable
from chalicelib.model import ExternalMetric, Target, workload_from
from chalicelib.spec import parse_spec
from tests.adapters.conftest import REGION, count_calls, fail_with

THUMBNAIL = Target("ECSService", "photos", service="thumbnail")
DEPLOYMENT = Target("Deployment", "photos", namespace="images", name="watermark")


@pytest.fixture
def now():
    return datetime.now(timezone.utc).replace(microsecond=0)


@pytest.fixture
def cloudwatch(aws):
    return boto3.client("cloudwatch", region_name=REGION)


def put(cloudwatch, namespace: str, name: str, dimensions: dict, value: float, at: datetime) -> None:
    cloudwatch.put_metric_data(Namespace=namespace, MetricData=[{
        "MetricName": name, "Value": value, "Timestamp": at,
        "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()]}])


def test_ecs_service_utilization_is_the_newest_cpu_and_memory_percent(cloudwatch, now):
    dims = {"ClusterName": "photos", "ServiceName": "thumbnail"}
    put(cloudwatch, "AWS/ECS", "CPUUtilization", dims, 20.0, now - timedelta(seconds=100))
    put(cloudwatch, "AWS/ECS", "CPUUtilization", dims, 85.0, now - timedelta(seconds=30))
    put(cloudwatch, "AWS/ECS", "MemoryUtilization", dims, 40.0, now - timedelta(seconds=30))

    assert Metrics(cloudwatch).utilization([THUMBNAIL], now) == {THUMBNAIL: {"cpu": 85.0, "memory": 40.0}}


def test_deployment_utilization_is_container_insights_usage_over_request(cloudwatch, now):
    dims = {"ClusterName": "photos", "Namespace": "images", "PodName": "watermark"}
    put(cloudwatch, "ContainerInsights", "pod_cpu_usage_total", dims, 250.0, now - timedelta(seconds=30))
    put(cloudwatch, "ContainerInsights", "pod_cpu_request", dims, 500.0, now - timedelta(seconds=30))

    # No memory request was published: memory is a missing metric, not zero.
    assert Metrics(cloudwatch).utilization([DEPLOYMENT], now) == {DEPLOYMENT: {"cpu": 50.0}}


def test_targets_without_datapoints_have_no_utilization(cloudwatch, now):
    put(cloudwatch, "AWS/ECS", "CPUUtilization", {"ClusterName": "photos", "ServiceName": "thumbnail"}, 50.0,
        now - timedelta(seconds=600))  # outside the window

    assert Metrics(cloudwatch).utilization([THUMBNAIL], now) == {THUMBNAIL: {}}


def test_six_hundred_targets_take_one_call_per_500_queries(cloudwatch, now):
    targets = [Target("ECSService", "photos", service=f"s{i}") for i in range(600)]
    calls = count_calls(cloudwatch)

    observed = Metrics(cloudwatch).utilization(targets, now)

    assert calls["GetMetricData"] == 3  # 600 × (cpu, memory) = 1200 queries
    assert len(observed) == 600


def test_pages_are_followed_and_the_newest_point_wins_across_them(now):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION, aws_access_key_id="x", aws_secret_access_key="x")
    older, newer = now - timedelta(seconds=90), now - timedelta(seconds=30)
    with Stubber(cloudwatch) as stubber:
        stubber.add_response("get_metric_data", {"NextToken": "page-2", "MetricDataResults": [
            {"Id": "q0", "Timestamps": [older], "Values": [10.0], "StatusCode": "PartialData"}]})
        stubber.add_response("get_metric_data", {"MetricDataResults": [
            {"Id": "q0", "Timestamps": [newer], "Values": [70.0], "StatusCode": "Complete"},
            {"Id": "q1", "Timestamps": [older], "Values": [30.0], "StatusCode": "Complete"}]},
            {"MetricDataQueries": ANY, "StartTime": ANY, "EndTime": ANY, "ScanBy": ANY, "NextToken": "page-2"})

        observed = Metrics(cloudwatch).utilization([THUMBNAIL], now)

        stubber.assert_no_pending_responses()
    assert observed == {THUMBNAIL: {"cpu": 70.0, "memory": 30.0}}


def test_external_metric_is_keyed_by_its_key(cloudwatch, now):
    metric = ExternalMetric("Ballast/Pipeline", "ArrivalsPerMinute", "Value", value=100,
                            dimensions=(("Op", "thumbnail"),), statistic="Sum")
    put(cloudwatch, "Ballast/Pipeline", "ArrivalsPerMinute", {"Op": "thumbnail"}, 120.0, now - timedelta(seconds=30))

    assert Metrics(cloudwatch).external([metric], now) == {metric.key: 120.0}


def test_throttled_metrics_are_unavailable(cloudwatch, now):
    fail_with(cloudwatch, "GetMetricData", "Throttling")

    with pytest.raises(Unavailable) as raised:
        Metrics(cloudwatch).utilization([THUMBNAIL], now)

    assert raised.value.code == "Throttling"


def test_every_metric_of_a_tick_is_read_in_one_get_metric_data_call(cloudwatch, now):
    """Utilisation, a container, and the Pods, Object and External series of several workloads: one request."""
    at = now - timedelta(seconds=30)
    service = {"ClusterName": "photos", "ServiceName": "thumbnail"}
    put(cloudwatch, "AWS/ECS", "CPUUtilization", service, 60.0, at)
    put(cloudwatch, "ECS/ContainerInsights", "ContainerCpuUtilized", {**service, "ContainerName": "app"}, 256.0, at)
    put(cloudwatch, "ECS/ContainerInsights", "ContainerCpuReserved", {**service, "ContainerName": "app"}, 512.0, at)
    put(cloudwatch, "ECS/ContainerInsights", "NetworkRxBytes", service, 9000.0, at)
    put(cloudwatch, "AWS/ApplicationELB", "RequestCount", {"LoadBalancer": "app/web/1"}, 1200.0, at)
    workload = workload_from(parse_spec("Workload", {"metadata": {"name": "thumbnail"}, "spec": {
        "target": {"kind": "ECSService", "cluster": "photos", "service": "thumbnail"}, "maxReplicas": 9, "metrics": [
            {"type": "Pods", "pods": {"metric": {"name": "NetworkRxBytes"},
                                      "target": {"type": "AverageValue", "averageValue": 1000}}},
            {"type": "Object", "object": {"describedObject": {"kind": "LoadBalancer", "name": "app/web/1"},
                                          "metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount",
                                                     "statistic": "Sum"},
                                          "target": {"type": "Value", "value": 500}}}]}}))
    pods, obj = workload.metrics
    calls = count_calls(cloudwatch)

    readings = Metrics(cloudwatch).read([THUMBNAIL], [(THUMBNAIL, "app")], [Series.of(pods), Series.of(obj)], now)

    assert calls["GetMetricData"] == 1
    assert readings.utilization == {THUMBNAIL: {"cpu": 60.0}}
    assert readings.containers == {(THUMBNAIL, "app"): {"cpu": (50.0, 256.0)}}
    assert readings.series == {pods.key: 9000.0, obj.key: 1200.0}


def test_an_eks_containers_use_is_its_share_of_the_node_over_its_request(cloudwatch, now):
    at = now - timedelta(seconds=30)
    pod = {"ClusterName": "photos", "ContainerName": "app", "Namespace": "images", "PodName": "watermark"}
    put(cloudwatch, "ContainerInsights", "container_cpu_utilization", pod, 10.0, at)  # 10 % of a 4000m node
    put(cloudwatch, "ContainerInsights", "node_cpu_limit", {"ClusterName": "photos"}, 4000.0, at)
    put(cloudwatch, "ContainerInsights", "container_cpu_request", pod, 250.0, at)

    readings = Metrics(cloudwatch).read([], [(DEPLOYMENT, "app")], [], now)

    assert readings.containers == {(DEPLOYMENT, "app"): {"cpu": (160.0, 400.0)}}
