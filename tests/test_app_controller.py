"""The controller's Lambdas as AWS invokes them: the schedule and the nudge queue, against moto's ECS and SQS."""
import json

import boto3
import pytest

from chalicelib.control import loop
from tests.conftest import load_event

WORKLOAD = {
    "metadata": {"name": "photos-thumbnail"},
    "spec": {"target": {"kind": "ECSService", "cluster": "ballast-dev", "service": "thumbnail"},
             "queue": {"name": "ballast-dev-thumbnail"}, "minReplicas": 0, "maxReplicas": 8,
             "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 5}}]},
}


@pytest.fixture
def service(stack):
    ecs = boto3.client("ecs")
    ecs.register_task_definition(family="ballast-thumbnail", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="1024", memory="2048",
                                 containerDefinitions=[{"name": "worker", "image": "ballast-worker", "essential": True}])
    ecs.create_service(cluster="ballast-dev", serviceName="thumbnail", taskDefinition="ballast-thumbnail",
                       desiredCount=0, launchType="FARGATE")
    return ecs


def desired(ecs):
    return ecs.describe_services(cluster="ballast-dev", services=["thumbnail"])["services"][0]["desiredCount"]


def enqueue(n):
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName="ballast-dev-thumbnail")["QueueUrl"]
    for i in range(n):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"jobId": f"j{i}"}))


def nudge_event():
    body = json.dumps({"workload": "photos-thumbnail", "namespace": "default", "reason": "work arrived", "at": "2026-11-25T06:00:00+00:00"})
    return {"Records": [{"messageId": "6f2b1a9e-0d0e-4c1a-9d55-2f7b3c1d8e01", "receiptHandle": "AQEB-nudge-1", "body": body,
                         "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1795586400000",
                                        "SenderId": "AIDAEXAMPLE", "ApproximateFirstReceiveTimestamp": "1795586400100"},
                         "messageAttributes": {}, "md5OfBody": "0" * 32, "eventSource": "aws:sqs",
                         "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ballast-dev-nudge", "awsRegion": "us-east-1"}]}


def test_the_scheduled_tick_scales_the_ecs_service_to_the_backlog(client, service, store):
    assert client.http.post("/workloads", body=json.dumps(WORKLOAD), headers={"Content-Type": "application/json"}).status_code == 201
    enqueue(12)
    client.lambda_.invoke("tick", load_event("schedule_tick"))
    assert desired(service) == 3
    status = store.get("Workload", "default", "photos-thumbnail")["status"]
    assert (status["desiredReplicas"], status["backlog"]["visible"]) == (3, 12)
    assert store.lease_holder(loop.LEASE) is None


def test_a_nudge_while_the_controller_runs_asks_it_to_tick_now(client, service, store):
    store.acquire_lease(loop.LEASE, "the-running-loop", ttl_s=45, now=loop.utcnow())
    client.lambda_.invoke("on_nudge", nudge_event())
    assert desired(service) == 0
    assert store.lease_holder(loop.LEASE)["wake"] > 0


def test_a_nudge_with_the_lease_free_scales_from_zero_at_once(client, service, store):
    client.http.post("/workloads", body=json.dumps(WORKLOAD), headers={"Content-Type": "application/json"})
    enqueue(1)
    client.lambda_.invoke("on_nudge", nudge_event())
    assert desired(service) == 1
