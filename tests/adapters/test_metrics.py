from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.stub import ANY, Stubber

from chalicelib.adapters.metrics import Metrics
from chalicelib.errors import Unavailable
from chalicelib.model import ExternalMetric, Target
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
