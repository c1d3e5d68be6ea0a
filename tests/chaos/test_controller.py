"""The controller under faults, on moto's ECS, EC2 Auto Scaling, EKS, SQS and DynamoDB through the clients wiring creates.

Faults are injected with botocore before-call hooks raising ClientError, as an AWS API returning that error would;
calls that went through are counted with after-call hooks, so "acted once" means one call AWS accepted.
"""
import contextlib
import json
from collections import Counter
from datetime import timedelta

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib import config, wiring
from chalicelib.control import loop
from chalicelib.adapters.store import Store
from chalicelib.errors import BallastError
from chalicelib.spec import parse_spec
from tests.chaos.conftest import queue_url

CLUSTER = config.CLUSTER
ACTS = {"ecs": "UpdateService", "autoscaling": "SetDesiredCapacity", "eks": "UpdateNodegroupConfig"}
READS = {"ecs": "DescribeServices", "autoscaling": "DescribeAutoScalingGroups", "eks": "DescribeNodegroup"}


class Died(BaseException):
    """The Lambda's process ending mid-tick (timeout, out of memory): no handler and no `finally` runs after it."""


class Faults:
    """Throttles chosen operations of wiring's clients while `failing` names them; counts the calls AWS accepted."""

    def __init__(self):
        self.failing: set[str] = set()
        self.accepted: Counter = Counter()
        self.refused: Counter = Counter()

    def attach(self, service: str, client=None) -> None:
        events = (client or wiring.client(service)).meta.events
        events.register(f"before-call.{service}", self._before)
        events.register(f"after-call.{service}", self._after)

    def _before(self, model, **_):
        if model.name in self.failing:
            self.refused[model.name] += 1
            raise ClientError({"Error": {"Code": "ThrottlingException", "Message": "Rate exceeded"}}, model.name)

    def _after(self, model, http_response, **_):
        if http_response.status_code < 400:
            self.accepted[model.name] += 1


@pytest.fixture
def faults(stack):
    faults = Faults()
    for service in ("ecs", "autoscaling", "eks", "sqs"):
        faults.attach(service)
    faults.attach("dynamodb", wiring.store()._table.meta.client)
    return faults


def service(name: str, desired: int = 0) -> None:
    ecs = boto3.client("ecs")
    ecs.register_task_definition(family=f"ballast-{name}", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="1024", memory="2048",
                                 containerDefinitions=[{"name": "worker", "image": "ballast-worker", "essential": True}])
    ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=f"ballast-{name}", desiredCount=desired,
                       launchType="FARGATE")


def desired(name: str) -> int:
    return boto3.client("ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]["desiredCount"]


def workload(store, op: str, pool: str | None = None, **spec) -> None:
    store.create(parse_spec("Workload", {"metadata": {"name": f"photos-{op}"}, "spec": {
        "target": {"kind": "ECSService", "cluster": CLUSTER, "service": op}, "queue": {"name": config.work_queue(op)},
        "minReplicas": 0, "maxReplicas": 10, "resources": {"cpuMillicores": 1000, "memoryMiB": 1024},
        "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 5}}],
        **({"nodePools": [pool]} if pool else {}), **spec}}))


def backlog(op: str, n: int) -> None:
    sqs = boto3.client("sqs")
    for i in range(n):
        sqs.send_message(QueueUrl=queue_url(config.work_queue(op)), MessageBody=json.dumps({"jobId": f"{op}-{i}"}))


def run(at, time_left_ms=lambda: 0) -> int:
    """One reconcile invocation whose clock reads `at`; with no time left it runs a single tick."""
    return loop.run(wiring.adapters(), time_left_ms=time_left_ms, clock=lambda: at)


def conditions(store, kind: str, name: str) -> dict:
    return {c["type"]: (c["status"], c["reason"]) for c in store.get(kind, "default", name)["status"]["conditions"]}


def warnings(store, kind: str, name: str) -> list[str]:
    return [e["reason"] for e in store.list_events("default", kind, name) if e["type"] == "Warning"]


def test_an_invocation_overlapping_a_running_tick_exits_at_once_and_acts_on_nothing(store, faults):
    service("thumbnail")
    workload(store, "thumbnail")
    backlog("thumbnail", 12)
    second = {}

    def overlap(model, **_):
        if not second:
            # The holder is inside its tick, about to scale: now a second invocation starts.
            before = faults.accepted.copy()
            second["ticks"] = run(loop.utcnow())
            second["calls"] = faults.accepted - before
            second["woke"] = store.lease_holder(loop.LEASE)["wake"] > 0
    wiring.client("ecs").meta.events.register("before-call.ecs.UpdateService", overlap)
    assert run(loop.utcnow()) == 1
    # Its only write asked the holder to tick now; it read no fleet, scaled nothing, recorded no status or event.
    assert second == {"ticks": 0, "calls": Counter({"UpdateItem": 1}), "woke": True}
    assert (faults.accepted["UpdateService"], desired("thumbnail")) == (1, 3)
    assert store.lease_holder(loop.LEASE) is None


@pytest.mark.parametrize("dies_at", ["before-call", "after-call"], ids=["before-its-scale-call", "after-its-scale-call"])
def test_a_lease_holder_that_dies_mid_tick_is_replaced_once_its_lease_expires_and_the_scale_happens_once(
        store, faults, monkeypatch, dies_at):
    service("thumbnail")
    workload(store, "thumbnail")
    backlog("thumbnail", 12)
    now = loop.utcnow()

    def die(**_):
        raise Died()
    with monkeypatch.context() as dead:
        dead.setattr(Store, "release_lease", lambda *args: None)  # its `finally` never runs either
        wiring.client("ecs").meta.events.register(f"{dies_at}.ecs.UpdateService", die, unique_id="die")
        with pytest.raises(Died):
            run(now)
        wiring.client("ecs").meta.events.unregister(f"{dies_at}.ecs.UpdateService", unique_id="die")
    scaled_by_the_dead = int(desired("thumbnail") == 3)
    assert scaled_by_the_dead == (dies_at == "after-call")

    assert run(now + timedelta(seconds=config.LEASE_TTL_S / 2)) == 0  # the lease still looks held: hands off
    assert faults.accepted["UpdateService"] == 0
    assert run(now + timedelta(seconds=config.LEASE_TTL_S + 1)) == 1  # expired: taken over, one tick
    assert run(now + timedelta(seconds=config.LEASE_TTL_S + 16)) == 1
    assert (scaled_by_the_dead + faults.accepted["UpdateService"], desired("thumbnail")) == (1, 3)
    assert store.get("Workload", "default", "photos-thumbnail")["status"]["desiredReplicas"] == 3
    assert store.lease_holder(loop.LEASE) is None


@pytest.fixture
def pools(store):
    """photos-thumbnail on an Auto Scaling group, photos-grayscale on an EKS managed node group, both empty."""
    ec2, autoscaling, eks = boto3.client("ec2"), boto3.client("autoscaling"), boto3.client("eks")
    ec2.create_launch_template(LaunchTemplateName="nodes", LaunchTemplateData={"ImageId": "ami-12c6146b",
                                                                              "InstanceType": "t3.medium"})
    autoscaling.create_auto_scaling_group(AutoScalingGroupName="ballast-dev-nodes", MinSize=0, MaxSize=4,
                                          DesiredCapacity=0, AvailabilityZones=["us-east-1a"],
                                          LaunchTemplate={"LaunchTemplateName": "nodes", "Version": "$Latest"})
    role = "arn:aws:iam::123456789012:role/eks"
    eks.create_cluster(name="ballast-eks", roleArn=role, resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(clusterName="ballast-eks", nodegroupName="workers", nodeRole=role, subnets=["subnet-1"],
                         scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 0})
    instance = {"cpuMillicores": 2000, "memoryMiB": 4096}
    store.create(parse_spec("NodePool", {"metadata": {"name": "asg"}, "spec": {
        "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-nodes"}, "instance": instance,
        "maxNodes": 4}}))
    store.create(parse_spec("NodePool", {"metadata": {"name": "eks"}, "spec": {
        "provider": {"kind": "EKSNodegroup", "cluster": "ballast-eks", "nodegroup": "workers"}, "instance": instance,
        "maxNodes": 4}}))
    for op, pool in (("thumbnail", "asg"), ("grayscale", "eks")):
        service(op)
        workload(store, op, pool)
        backlog(op, 10)
    return autoscaling, eks


def sizes(pools) -> tuple:
    autoscaling, eks = pools
    group = autoscaling.describe_auto_scaling_groups(AutoScalingGroupNames=["ballast-dev-nodes"])["AutoScalingGroups"][0]
    nodegroup = eks.describe_nodegroup(clusterName="ballast-eks", nodegroupName="workers")["nodegroup"]
    return desired("thumbnail"), desired("grayscale"), group["DesiredCapacity"], nodegroup["scalingConfig"]["desiredSize"]


def test_scaling_apis_that_throttle_for_a_while_become_conditions_and_the_scale_happens_once_they_recover(
        store, faults, pools):
    now = loop.utcnow()
    faults.failing = set(ACTS.values())
    run(now)
    assert faults.refused == Counter({"UpdateService": 2, "SetDesiredCapacity": 1, "UpdateNodegroupConfig": 1})
    for kind, name in (("Workload", "photos-thumbnail"), ("Workload", "photos-grayscale"), ("NodePool", "asg"),
                       ("NodePool", "eks")):
        assert conditions(store, kind, name)["AbleToScale"] == ("False", "FailedRescale"), (kind, name)
        assert warnings(store, kind, name) == ["FailedRescale"], (kind, name)

    faults.failing = set(READS.values())  # then the reads fail: nothing can be seen, so nothing is touched
    run(now + timedelta(seconds=15))
    assert conditions(store, "Workload", "photos-thumbnail")["AbleToScale"] == ("False", "FailedGetScale")
    assert sizes(pools) == (0, 0, 0, 0) and not any(faults.accepted[op] for op in ACTS.values())

    faults.failing = set()
    run(now + timedelta(seconds=30))
    run(now + timedelta(seconds=45))
    assert sizes(pools) == (2, 2, 1, 1)
    assert {op: faults.accepted[op] for op in ACTS.values()} == {"UpdateService": 2, "SetDesiredCapacity": 1,
                                                                "UpdateNodegroupConfig": 1}
    assert conditions(store, "Workload", "photos-thumbnail")["AbleToScale"][0] == "True"


@pytest.mark.parametrize("unreachable, left", [
    pytest.param(set(), 0, id="control-nothing-fails-so-it-does-scale-to-zero"),
    pytest.param({"Query"}, 2, id="store-lists-fail"),
    pytest.param({"Query", "GetItem", "UpdateItem", "PutItem", "DeleteItem", "BatchWriteItem"}, 2, id="store-down"),
    pytest.param({"GetQueueAttributes"}, 2, id="queue-depths-fail"),
])
def test_what_cannot_be_read_for_a_tick_never_scales_a_fleet_to_zero(store, faults, unreachable, left):
    service("thumbnail", desired=2)
    workload(store, "thumbnail", cooldownSeconds=60)
    backlog("thumbnail", 10)
    now = loop.utcnow()
    run(now)
    assert desired("thumbnail") == 2
    # The work is done; past the cooldown a tick that can read all it needs takes the fleet to zero (the control).
    boto3.client("sqs").purge_queue(QueueUrl=queue_url(config.work_queue("thumbnail")))
    faults.failing = unreachable
    with contextlib.suppress(BallastError):  # a tick that cannot read may fail, with our error, not botocore's
        run(now + timedelta(minutes=2))
    assert (desired("thumbnail"), faults.accepted["UpdateService"]) == (left, int(left == 0))
    faults.failing = set()
    assert store.lease_holder(loop.LEASE) is None
