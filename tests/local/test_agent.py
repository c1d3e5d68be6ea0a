"""The node agent's task scale-in protection: which tasks a scale-in stops, and real workers protecting themselves
through the agent's endpoint (moto has no UpdateTaskProtection, so the agent plays ECS here as it does for counts)."""
import functools
import json
import time
import urllib.error
import urllib.request
from datetime import datetime, timezone
from pathlib import Path

import boto3
import pytest
import requests

from local.agent import Agent
from local.tasks import PENDING, RUNNING, Task, TaskDefinition, scale_in
from local.moto_server import ACCOUNT_ID, REGION, MotoServer
from tests.workers.conftest import encode, gradient

ROOT = Path(__file__).resolve().parents[2]
MOTO_AMI = "ami-12c6146b"  # moto only launches instances from AMIs it knows (moto/ec2/resources/amis.json)
CLUSTER, SERVICE, GROUP, BUCKET = "agent-test", "agent-test-grayscale", "agent-test-nodes", "agent-test-photos"
HOLD_S = 5  # how long the busy worker's image takes: long enough to scale in around it
STOP_TIMEOUT_S = 6  # the worker's long poll is then 1 s, so an idle worker notices a SIGTERM at once
# The worker exactly as the task runs it, its transform slowed so the scale-in lands mid-image.
SLOW_WORKER = """
import runpy, sys, time
from workers import ops
real = ops.apply
def slow(*args, **kwargs):
    time.sleep(%d)
    return real(*args, **kwargs)
ops.apply = slow
sys.argv = ["workers.worker"]
runpy.run_module("workers.worker", run_name="__main__")
""" % HOLD_S

DEFINITION = TaskDefinition("grayscale", 500, 512, [], {}, 10.0)


def task(id: str, state: str, created: float, protected_until: float = 0.0) -> Task:
    return Task(id, SERVICE, DEFINITION, state=state, created=created, protected_until=protected_until)


@pytest.mark.parametrize("live, desired, want", [
    pytest.param([task("old", RUNNING, 1), task("new", RUNNING, 2)], 1, ["new"], id="newest-running-first"),
    pytest.param([task("run", RUNNING, 2), task("wait", PENDING, 1)], 1, ["wait"], id="pending-before-running"),
    pytest.param([task("old", RUNNING, 1), task("busy", RUNNING, 2, protected_until=100)], 1, ["old"],
                 id="protected-newest-is-passed-over"),
    pytest.param([task("a", RUNNING, 1, protected_until=100), task("b", RUNNING, 2, protected_until=100)], 0, [],
                 id="all-protected-all-kept"),
    pytest.param([task("a", RUNNING, 1, protected_until=100), task("b", RUNNING, 2)], 0, ["b"],
                 id="to-zero-stops-only-the-unprotected"),
    pytest.param([task("a", RUNNING, 1, protected_until=50), task("b", RUNNING, 2, protected_until=100)], 1, ["a"],
                 id="expired-protection-counts-for-nothing"),
    pytest.param([task("a", RUNNING, 1), task("b", RUNNING, 2)], 2, [], id="at-desired-nothing"),
])
def test_scale_in_stops_pending_then_newest_and_never_a_protected_task(live, desired, want):
    assert [t.id for t in scale_in(live, desired, now=60)] == want


@pytest.fixture
def cluster(tmp_path):
    """A moto server with one ECS service of slowed workers, a node group, a bucket and queues, and the agent on them."""
    moto = MotoServer().start()
    reset = functools.partial(requests.post, f"{moto.endpoint}/moto-api/reset", timeout=10)
    reset().raise_for_status()  # moto's backends are per process: start from nothing, leave nothing
    sqs, ecs = boto3.client("sqs"), boto3.client("ecs")
    boto3.client("s3").create_bucket(Bucket=BUCKET)
    work = sqs.create_queue(QueueName="agent-test-work", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    done = sqs.create_queue(QueueName="agent-test-done")["QueueUrl"]
    ecs.create_cluster(clusterName=CLUSTER)
    environment = {"BALLAST_OP": "grayscale", "WORK_QUEUE_URL": work, "COMPLETIONS_QUEUE_URL": done,
                   "BALLAST_BUCKET": BUCKET, "STOP_TIMEOUT_S": str(STOP_TIMEOUT_S)}
    ecs.register_task_definition(
        family=SERVICE, requiresCompatibilities=["EC2"], networkMode="host", cpu="512", memory="512",
        containerDefinitions=[{"name": "worker", "image": "ballast-worker:local", "essential": True,
                               "command": ["python", "-c", SLOW_WORKER], "stopTimeout": STOP_TIMEOUT_S,
                               "environment": [{"name": k, "value": v} for k, v in environment.items()]}])
    ecs.create_service(cluster=CLUSTER, serviceName=SERVICE, taskDefinition=SERVICE, desiredCount=0, launchType="EC2")
    boto3.client("ec2").create_launch_template(LaunchTemplateName=GROUP,
                                               LaunchTemplateData={"ImageId": MOTO_AMI, "InstanceType": "t3.small"})
    boto3.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=GROUP, LaunchTemplate={"LaunchTemplateName": GROUP, "Version": "$Latest"},
        MinSize=0, MaxSize=2, DesiredCapacity=1, AvailabilityZones=[f"{REGION}a"])
    env = moto.environment()
    worker_env = {k: env[k] for k in ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
                                      "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION", "AWS_REGION")}
    agent = Agent(boto3.Session(), CLUSTER, GROUP, 1000, 2048, worker_env, tmp_path, ACCOUNT_ID, REGION, boot_s=0.1,
                  cwd=ROOT)
    agent.start()
    try:
        yield agent, ecs, sqs, work, done, tmp_path / f"{SERVICE}.log"
    finally:
        agent.stop()
        reset()
        moto.stop()


def wait_for(condition, what: str, timeout_s: float = 20):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


def call(agent: Agent, task_id: str, body: dict | None = None, raw: bytes | None = None) -> tuple[int, dict]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    request = urllib.request.Request(f"{agent.endpoint}/api/{task_id}/task-protection/v1/state", data=data,
                                     method="GET" if data is None else "PUT",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def record(agent: Agent, task_id: str) -> dict:
    return next(r for r in agent.history if r["task"] == task_id)


def test_scale_in_stops_the_idle_worker_keeps_the_busy_one_running_and_stops_it_once_released(cluster):
    agent, ecs, sqs, work, done, log = cluster
    ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=2)
    wait_for(lambda: log.exists() and log.read_text().count('"worker started"') == 2, "two workers polling")
    boto3.client("s3").put_object(Bucket=BUCKET, Key="input/grayscale/slow.jpg", Body=encode(gradient(), "JPEG"))
    sqs.send_message(QueueUrl=work, MessageBody=json.dumps({
        "jobId": "j1", "bucket": BUCKET, "key": "input/grayscale/slow.jpg", "op": "grayscale",
        "outputKey": "output/grayscale/slow.jpg", "enqueuedAt": "2025-01-01T00:00:00Z"}))
    ids = [r["task"] for r in agent.history]
    [busy] = wait_for(lambda: [t for t in ids if call(agent, t)[1]["protection"]["ProtectionEnabled"]],
                      "the worker that took the image to protect its task")
    [idle] = [t for t in ids if t != busy]

    ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=0)
    wait_for(lambda: record(agent, idle)["stopped"], "the idle worker to be stopped")
    view = agent.snapshot().services[SERVICE]
    [service] = ecs.describe_services(cluster=CLUSTER, services=[SERVICE])["services"]
    assert (view.desired, view.running, view.stopping, record(agent, busy)["stopped"]) == (0, 1, 0, None)
    assert (service["desiredCount"], service["runningCount"]) == (0, 1)  # protected beyond desired shows as running

    wait_for(lambda: record(agent, busy)["stopped"], "the busy worker to be stopped once it released its task")
    [completion] = [body for m in sqs.receive_message(QueueUrl=done, MaxNumberOfMessages=10).get("Messages", [])
                    if (body := json.loads(m["Body"]))["status"] != "started"]
    lines = [json.loads(line)["message"] for line in log.read_text().splitlines() if line.startswith("{")]
    assert (record(agent, idle)["exitCode"], record(agent, busy)["exitCode"], completion["status"]) == (0, 0, "done")
    protection = [m for m in lines if m.startswith("task protect")]
    assert protection == ["task protected", "task protection released"]
    # Both workers log to one file, in time order: the idle one was asked to stop while the other was protected,
    # the busy one released its task after its image and was asked to stop only then.
    released = lines.index("task protection released")
    stops = [i for i, message in enumerate(lines) if message == "stop requested"]
    assert lines.index("image finished") < released
    assert [i < released for i in stops] == [True, False]


def test_the_endpoint_answers_as_the_ecs_agent_does(cluster):
    agent, ecs, *_ = cluster
    ecs.update_service(cluster=CLUSTER, service=SERVICE, desiredCount=1)
    [task_id] = wait_for(lambda: [r["task"] for r in agent.history], "a task to start")
    arn = f"arn:aws:ecs:{REGION}:{ACCOUNT_ID}:task/{CLUSTER}/{task_id}"

    status, body = call(agent, task_id, {"ProtectionEnabled": True, "ExpiresInMinutes": 60})
    expires = body["protection"].pop("ExpirationDate")
    assert (status, body) == (200, {"protection": {"ProtectionEnabled": True, "TaskArn": arn}})
    left = datetime.strptime(expires, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc) - datetime.now(timezone.utc)
    assert 59 * 60 < left.total_seconds() <= 3600
    assert call(agent, task_id, {"ProtectionEnabled": False}) == (
        200, {"protection": {"ExpirationDate": None, "ProtectionEnabled": False, "TaskArn": arn}})
    refused = [call(agent, task_id, body) for body in (
        {}, {"ProtectionEnabled": "yes"}, {"ProtectionEnabled": True, "ExpiresInMinutes": 0},
        {"ProtectionEnabled": True, "ExpiresInMinutes": 2881}, {"ProtectionEnabled": True, "Extra": 1})]
    assert [(status, body["error"]["Code"], body["error"]["Arn"]) for status, body in refused] == [
        (400, "InvalidParameterException", arn)] * 5
    assert call(agent, task_id, raw=b"not json")[0] == 400
    assert call(agent, "no-such-task") == (404, {"error": {"Arn": "", "Code": "ResourceNotFoundException",
                                                           "Message": "Failed to find a task for the request"}})
