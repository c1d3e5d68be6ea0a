"""The controller with the real adapters (wiring.adapters()) on moto: ECS, EC2 Auto Scaling, EKS, and a Kubernetes API stub."""
import json
import threading
from collections import Counter
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from botocore.exceptions import ClientError

from chalicelib import config, wiring
from chalicelib.control import loop, reconcile
from chalicelib.core import tracking
from chalicelib.spec import parse_spec
from tests.adapters.kube_stub import Deployment, KubeStub

T0 = datetime(2026, 11, 25, 2, 0, 5, tzinfo=timezone.utc)
CLUSTER = "ballast-dev"
OPS = ("grayscale", "watermark", "thumbnail")


# ---- the world on moto ----------------------------------------------------------------------------------------------


def service(name: str, launch_type: str = "FARGATE", desired: int = 0) -> None:
    ecs = wiring.client("ecs")
    ecs.register_task_definition(family=f"ballast-{name}", requiresCompatibilities=[launch_type],
                                 networkMode="awsvpc", cpu="1024", memory="2048",
                                 containerDefinitions=[{"name": "worker", "image": "ballast-worker", "essential": True}])
    ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition=f"ballast-{name}", desiredCount=desired,
                       launchType=launch_type)


def desired(name: str) -> int:
    return wiring.client("ecs").describe_services(cluster=CLUSTER, services=[name])["services"][0]["desiredCount"]


def workload(store, name: str, target: dict | None = None, pool: str | None = None, queue: str | None = None,
             **spec) -> None:
    store.create(parse_spec("Workload", {"metadata": {"name": name}, "spec": {
        "target": target or {"kind": "ECSService", "cluster": CLUSTER, "service": name},
        "queue": {"name": queue or config.work_queue(name)}, "minReplicas": 0, "maxReplicas": 10,
        "cooldownSeconds": 60, "resources": {"cpuMillicores": 1000, "memoryMiB": 1024},
        "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 5}}],
        **({"nodePools": [pool]} if pool else {}), **spec}}))


def asg(name: str, maximum: int, desired_nodes: int = 0) -> None:
    ec2 = boto3.client("ec2")
    ec2.create_launch_template(LaunchTemplateName=f"{name}-nodes",
                               LaunchTemplateData={"ImageId": "ami-12c6146b", "InstanceType": "t3.medium"})
    wiring.client("autoscaling").create_auto_scaling_group(
        AutoScalingGroupName=name, LaunchTemplate={"LaunchTemplateName": f"{name}-nodes"}, MinSize=0, MaxSize=maximum,
        DesiredCapacity=desired_nodes, AvailabilityZones=["us-east-1a"])


def asg_desired(name: str) -> int:
    return wiring.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[name])["AutoScalingGroups"][0]["DesiredCapacity"]


def nodepool(store, name: str, provider: dict, max_nodes: int) -> None:
    store.create(parse_spec("NodePool", {"metadata": {"name": name}, "spec": {
        "provider": provider, "instance": {"cpuMillicores": 2000, "memoryMiB": 4096}, "maxNodes": max_nodes,
        "scaleDownUnneededSeconds": 60}}))


def send(queue: str, n: int) -> None:
    sqs = wiring.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for start in range(0, n, 10):
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": json.dumps({"jobId": f"{queue}-{i}"})}
                                                      for i in range(start, min(n, start + 10))])


def work(queue: str, n: int, held: list) -> None:
    """What n busy workers do in one tick: finish (delete) the messages they held, then take n more (in flight)."""
    sqs = wiring.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    for start in range(0, len(held), 10):
        sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                        for i, m in enumerate(held[start:start + 10])])
    held.clear()
    while len(held) < n:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(10, n - len(held)),
                                  VisibilityTimeout=300).get("Messages", [])
        if not got:
            break
        held += got


def calls(client) -> Counter:
    counted = Counter()
    client.meta.events.register("before-call.*.*", lambda model, **_: counted.update([model.name]))
    return counted


def fail(client, operation: str, code: str, failing: dict) -> None:
    """Make `operation` fail with `code` while failing["on"] is true, as AWS would, before anything is sent."""
    def raise_error(model, **_):
        if failing["on"] and model.name == operation:
            raise ClientError({"Error": {"Code": code, "Message": "injected"}}, operation)

    client.meta.events.register(f"before-call.*.{operation}", raise_error)


def status(store, name: str, kind: str = "Workload") -> dict:
    return store.get(kind, "default", name)["status"]


def condition(store, name: str, type_: str, kind: str = "Workload") -> tuple[str, str]:
    found = {c["type"]: (c["status"], c["reason"]) for c in status(store, name, kind)["conditions"]}
    return found[type_]


def warnings(store, name: str, kind: str = "Workload") -> list[str]:
    return [e["reason"] for e in store.list_events("default", kind, name) if e["type"] == "Warning"]


# ---- ECS -----------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("launch_type", ["FARGATE", "EC2"])
def test_scales_an_ecs_service_of_either_launch_type_to_its_backlog(store, launch_type):
    service("thumbnail", launch_type)
    workload(store, "thumbnail", target={"kind": "ECSService", "cluster": CLUSTER, "service": "thumbnail",
                                         "launchType": launch_type})
    send(config.work_queue("thumbnail"), 12)
    reconcile.tick(wiring.adapters(), T0)
    assert desired("thumbnail") == 3
    got = status(store, "thumbnail")
    assert (got["currentReplicas"], got["desiredReplicas"], got["backlog"]["visible"]) == (0, 3, 12)
    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=15))
    assert status(store, "thumbnail")["currentMetrics"] == [
        {"type": "Backlog", "backlog": {"queue": config.work_queue("thumbnail"), "current": {"value": 12, "averageValue": 4}}}]


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException"])
def test_a_refused_update_service_becomes_a_condition_and_the_next_tick_succeeds(store, code):
    service("thumbnail")
    workload(store, "thumbnail")
    send(config.work_queue("thumbnail"), 12)
    failing = {"on": True}
    fail(wiring.client("ecs"), "UpdateService", code, failing)
    summary = reconcile.tick(wiring.adapters(), T0)
    assert (summary.actions, desired("thumbnail")) == (0, 0)
    able = next(c for c in status(store, "thumbnail")["conditions"] if c["type"] == "AbleToScale")
    assert (able["status"], able["reason"], able["message"].endswith(f"({code})")) == ("False", "FailedRescale", True)
    assert warnings(store, "thumbnail") == ["FailedRescale"]
    failing["on"] = False
    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=15))
    assert desired("thumbnail") == 3
    assert condition(store, "thumbnail", "AbleToScale") == ("True", "SucceededRescale")


def test_a_service_deleted_behind_our_back_fails_alone_and_the_others_still_scale(store):
    for name in ("thumbnail", "watermark"):
        service(name)
        workload(store, name)
        send(config.work_queue(name), 10)
    wiring.client("ecs").delete_service(cluster=CLUSTER, service="watermark", force=True)
    updates = calls(wiring.client("ecs"))
    summary = reconcile.tick(wiring.adapters(), T0)
    assert desired("thumbnail") == 2 and updates["UpdateService"] == 1
    assert summary.failures == 1
    assert condition(store, "watermark", "AbleToScale") == ("False", "FailedGetScale")
    assert warnings(store, "watermark") == ["FailedGetScale"]


# ---- node pools ------------------------------------------------------------------------------------------------------


def test_an_auto_scaling_group_grows_for_waiting_tasks_clamped_to_its_own_max(store):
    # The NodePool allows 8 nodes, the group only 2; moto would accept 3 (AWS refuses), so the clamp is ours.
    asg("ballast-dev-nodes", maximum=2)
    nodepool(store, "workers", {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-nodes"}, max_nodes=8)
    service("thumbnail")
    workload(store, "thumbnail", pool="workers")
    send(config.work_queue("thumbnail"), 30)  # 6 tasks of 1 CPU, 4 allowed by the scale-up rate → 2 nodes of 2 CPU
    reconcile.tick(wiring.adapters(), T0)
    send(config.work_queue("thumbnail"), 30)
    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=15))
    assert asg_desired("ballast-dev-nodes") == 2
    pool = status(store, "workers", "NodePool")
    assert pool["desiredNodes"] > 2 and pool["requestedNodes"] == 2


def test_a_pool_at_its_max_while_tasks_wait_says_so_and_makes_no_call(store):
    asg("ballast-dev-nodes", maximum=1, desired_nodes=1)
    nodepool(store, "workers", {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-nodes"}, max_nodes=1)
    service("thumbnail")
    workload(store, "thumbnail", pool="workers")
    send(config.work_queue("thumbnail"), 50)
    autoscaling = calls(wiring.client("autoscaling"))
    reconcile.tick(wiring.adapters(), T0)
    assert autoscaling["SetDesiredCapacity"] == 0 and asg_desired("ballast-dev-nodes") == 1
    assert desired("thumbnail") == 2  # two 1-CPU tasks fill the one 2-CPU node
    assert condition(store, "thumbnail", "ScalingLimited") == ("True", "MaxNodesReached")


def test_an_eks_managed_node_group_is_resized_through_its_scaling_config(store):
    eks = wiring.client("eks")
    eks.create_cluster(name="photos", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    eks.create_nodegroup(clusterName="photos", nodegroupName="workers", nodeRole="arn:aws:iam::123456789012:role/node",
                         subnets=["subnet-1"], scalingConfig={"minSize": 0, "maxSize": 4, "desiredSize": 0})
    nodepool(store, "eks-workers", {"kind": "EKSNodegroup", "cluster": "photos", "nodegroup": "workers"}, max_nodes=4)
    service("thumbnail")
    workload(store, "thumbnail", pool="eks-workers")
    send(config.work_queue("thumbnail"), 20)
    reconcile.tick(wiring.adapters(), T0)
    scaling = eks.describe_nodegroup(clusterName="photos", nodegroupName="workers")["nodegroup"]["scalingConfig"]
    assert scaling == {"minSize": 0, "maxSize": 4, "desiredSize": 2}  # 4 tasks of 1 CPU on 2-CPU nodes


# ---- Kubernetes ------------------------------------------------------------------------------------------------------


@pytest.fixture
def kube(stack):
    """The EKS cluster `photos` on moto, its endpoint and CA pointing at a local HTTPS API server stub."""
    stub = KubeStub(cluster="photos").start()
    eks = wiring.client("eks")
    eks.create_cluster(name="photos", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})

    def point_at_stub(parsed, **_):
        if "cluster" in parsed:
            parsed["cluster"]["endpoint"] = stub.endpoint
            parsed["cluster"]["certificateAuthority"] = {"data": stub.ca_data}

    eks.meta.events.register("after-call.eks.DescribeCluster", point_at_stub)
    stub.secret_key = boto3.Session().get_credentials().secret_key
    yield stub
    stub.stop()


def test_a_deployment_is_observed_from_its_status_and_scaled_through_the_scale_subresource(store, kube):
    kube.deployments[("images", "thumbnail")] = Deployment(replicas=2, ready=1)
    workload(store, "thumbnail", target={"kind": "Deployment", "cluster": "photos", "namespace": "images",
                                         "name": "thumbnail"})
    send(config.work_queue("thumbnail"), 30)
    reconcile.tick(wiring.adapters(), T0)
    got = status(store, "thumbnail")
    assert (got["currentReplicas"], got["readyReplicas"], got["pendingReplicas"]) == (2, 1, 1)
    patches = [r for r in kube.requests if r[0] == "PATCH"]
    assert patches == [("PATCH", "/apis/apps/v1/namespaces/images/deployments/thumbnail/scale",
                        "application/merge-patch+json", {"spec": {"replicas": got["desiredReplicas"]}})]
    assert kube.deployments[("images", "thumbnail")].replicas == got["desiredReplicas"] > 2


# ---- the loop --------------------------------------------------------------------------------------------------------


def test_start_up_latency_is_measured_from_the_scale_up_to_its_tasks_running(store):
    service("thumbnail")
    workload(store, "thumbnail")
    send(config.work_queue("thumbnail"), 10)
    started = {"tasks": 0}

    def slow_start(parsed, **_):  # moto runs every task the moment it is asked for
        for described in parsed.get("services", []):
            described["runningCount"] = min(described["runningCount"], started["tasks"])

    wiring.client("ecs").meta.events.register("after-call.ecs.DescribeServices", slow_start)
    reconcile.tick(wiring.adapters(), T0)
    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=15))
    assert status(store, "thumbnail")["startup"] == {"since": T0.isoformat(), "replicas": 2}
    started["tasks"] = 2
    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=30))
    got = status(store, "thumbnail")
    assert (got["startupSeconds"], got["history"]["startup_s"], got["startup"]) == (30.0, 30.0, None)


def test_a_tick_reads_the_store_in_two_queries_whatever_the_number_of_workloads(store):
    for i in range(30):
        service(f"svc{i}")
        workload(store, f"svc{i}", queue=config.work_queue("thumbnail"))
    dynamodb = calls(store._table.meta.client)
    reconcile.tick(wiring.adapters(), T0)
    assert dynamodb["Query"] == 2  # Workloads and NodePools; no stats read without a Deadline metric
    assert dynamodb["UpdateItem"] == 30  # one status write each


STORE_READS = ("Query", "GetItem", "BatchGetItem", "Scan", "TransactGetItems")
PER_POOL = 2


def _namespaced(manifest: dict, namespace: str) -> dict:
    manifest["metadata"]["namespace"] = namespace
    return manifest


def _spread_over(store, namespaces: int, per: int) -> list[tuple[str, str, str]]:
    """namespaces × per Workloads on services s0, s1, ... in order, two to a node pool on Auto Scaling groups g0, g1,
    ..., the same names (workloads' and pools') in every namespace; each object's (kind, namespace, name)."""
    created = []
    for k in range(namespaces):
        namespace = "default" if namespaces == 1 else f"team-{k}"
        for j in range(per):
            index, pool = k * per + j, f"workers-{j // PER_POOL}"
            if j % PER_POOL == 0:
                store.create(_namespaced(parse_spec("NodePool", {"metadata": {"name": pool}, "spec": {
                    "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": f"g{index // PER_POOL}"},
                    "instance": {"cpuMillicores": 2000, "memoryMiB": 4096}, "maxNodes": 10}}), namespace))
                created.append(("NodePool", namespace, pool))
            store.create(_namespaced(parse_spec("Workload", {"metadata": {"name": f"w{j}"}, "spec": {
                "target": {"kind": "ECSService", "cluster": CLUSTER, "service": f"s{index}"},
                "queue": {"name": config.work_queue(f"s{index}")}, "minReplicas": 0, "maxReplicas": 10,
                "resources": {"cpuMillicores": 1000, "memoryMiB": 1024}, "nodePools": [pool],
                "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 5}}]}}), namespace))
            created.append(("Workload", namespace, f"w{j}"))
    return created


def test_workloads_in_several_namespaces_cost_the_store_the_reads_of_one_and_each_sees_its_own(store):
    # Issue 17: every namespace in one query per kind, not a read per namespace per kind. The same 6 workloads on the
    # same services, queues and groups, once in one namespace, then as 3 namespaces of 2 with a pool each.
    for index in range(6):
        service(f"s{index}")
        wiring.client("sqs").create_queue(QueueName=config.work_queue(f"s{index}"))
        send(config.work_queue(f"s{index}"), 5 * (index % PER_POOL + 1))
    for group in range(3):
        asg(f"g{group}", maximum=10)
    dynamodb = calls(store._table.meta.client)
    seen = {}
    for namespaces, per in ((1, 6), (3, 2)):
        created = _spread_over(store, namespaces, per)
        dynamodb.clear()
        reconcile.tick(wiring.adapters(), T0)
        reads = {op: dynamodb[op] for op in STORE_READS if dynamodb[op]}
        seen[namespaces] = reads, [desired(f"s{i}") for i in range(6)], [asg_desired(f"g{g}") for g in range(3)]
        for kind, namespace, name in created:  # the next layout starts from the same world
            store.delete(kind, namespace, name)
        for index in range(6):
            wiring.client("ecs").update_service(cluster=CLUSTER, service=f"s{index}", desiredCount=0)
        for group in range(3):
            wiring.client("autoscaling").set_desired_capacity(AutoScalingGroupName=f"g{group}", DesiredCapacity=0)
    # Workloads and NodePools in one query each, the stats in one batch, one read per scale action (its spec still
    # the one decided on): the same whatever the namespaces.
    assert seen[3][0] == seen[1][0] == {"Query": 2, "BatchGetItem": 1, "GetItem": 6}
    # Each workload drains its own queue and each namespace's pool holds its own tasks: 1 + 2 on 2-CPU nodes.
    assert seen[3][1:] == seen[1][1:] == ([1, 2] * 3, [2] * 3)


def test_the_stats_are_read_in_one_batch_per_tick_and_each_tick_learns_what_completed_since_the_last(store):
    service("thumbnail")
    service("grayscale")
    workload(store, "thumbnail", metrics=[{"type": "Deadline", "deadline": {"seconds": 300}}])
    workload(store, "grayscale")
    store.add_stats("thumbnail", T0 - timedelta(minutes=1), {"arrived": 120, "done": 30, "busyMs": 60_000})
    dynamodb = calls(store._table.meta.client)
    reconcile.tick(wiring.adapters(), T0)
    store.add_stats("thumbnail", T0 + timedelta(seconds=5), {"done": 10, "busyMs": 5_000})
    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=15))
    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=30))  # nothing completed since: nothing to learn
    assert dynamodb["BatchGetItem"] == 3 and dynamodb["Query"] == 2 * 3  # stats in one batch; the objects' lists
    learned = status(store, "thumbnail")
    assert learned["history"]["throughput_samples"] == 2
    assert learned["history"]["throughput_per_s"] == pytest.approx(40 / 65)  # 30 in 60 s, then 10 in 5 s
    assert learned["arrivalPerSecond"] == 2.0 and status(store, "grayscale")["arrivalPerSecond"] == 0.0


def test_two_overlapping_invocations_only_one_acts_and_the_other_exits_at_once(store):
    # conftest makes moto apply one request at a time, as DynamoDB applies each conditional write atomically; the
    # barrier starts both together and the winner is held inside its tick until the loser has returned, so the
    # overlap is certain rather than a matter of thread timing.
    service("thumbnail")
    workload(store, "thumbnail")
    send(config.work_queue("thumbnail"), 12)
    adapters, start, loser_done = wiring.adapters(), threading.Barrier(2), threading.Event()

    def hold_the_winner(**_):
        loser_done.wait(timeout=5)  # returns nothing: a before-call hook's return value would replace the response

    wiring.client("ecs").meta.events.register("before-call.ecs.DescribeServices", hold_the_winner)
    updates = calls(wiring.client("ecs"))
    ticks = []

    def invoke():
        start.wait()
        ran = loop.run(adapters, time_left_ms=lambda: 0)
        ticks.append(ran)
        if ran == 0:
            loser_done.set()

    threads = [threading.Thread(target=invoke) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=10)
    assert sorted(ticks) == [0, 1]
    assert (updates["UpdateService"], desired("thumbnail")) == (1, 3)
    assert store.lease_holder(loop.LEASE) is None


def test_the_seed_burst_scales_at_once_never_after_the_queues_empty_and_ends_at_zero(store):
    """The seed's run on moto: a burst into three queues, then nothing; each worker holds 15 images a tick in flight."""
    asg("ballast-dev-nodes", maximum=10)
    nodepool(store, "workers", {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-nodes"}, max_nodes=10)
    for op in OPS:
        service(op)
        workload(store, op, pool="workers", queue=config.work_queue(op))
    for op, n in zip(OPS, (120, 120, 60)):
        send(config.work_queue(op), n)
    adapters, now, held = wiring.adapters(), T0, {op: [] for op in OPS}
    for step in range(16):
        depths = adapters.queues.backlog(config.work_queue(op) for op in OPS)
        empty = all(d.visible + d.in_flight == 0 for d in depths.values())
        before = {op: desired(op) for op in OPS}
        nodes_before = asg_desired("ballast-dev-nodes")
        reconcile.tick(adapters, now)
        after = {op: desired(op) for op in OPS}
        if step == 0:
            assert all(after[op] > 0 for op in OPS), "scale-up must start on the first tick"
        if empty:
            assert all(after[op] <= before[op] for op in OPS), f"scaled up on empty queues at step {step}"
            assert asg_desired("ballast-dev-nodes") <= nodes_before, f"added nodes with no task waiting at step {step}"
        for op in OPS:
            work(config.work_queue(op), after[op] * 15, held[op])
        now += timedelta(seconds=15)
    assert {op: desired(op) for op in OPS} == dict.fromkeys(OPS, 0)
    assert asg_desired("ballast-dev-nodes") == 0


def test_a_trickle_drained_between_ticks_keeps_its_replica_until_the_uploads_stop(store):
    """An upload every 15 s, each done before the next tick: the queue always reads empty, but the work flows."""
    service("thumbnail", desired=1)
    workload(store, "thumbnail")  # cooldown 60 s
    queue, adapters, held, sizes = config.work_queue("thumbnail"), wiring.adapters(), [], []
    for step in range(12):
        now = T0 + timedelta(seconds=15 * step)
        if step < 8:  # what ingest does for one upload, 5 s before the tick; the replica then finishes it
            send(queue, 1)
            store.add_stats("thumbnail", now - timedelta(seconds=5), {"arrived": 1}, stamp=tracking.LAST_ARRIVAL)
            work(queue, 1, held)
            work(queue, 0, held)
        reconcile.tick(adapters, now)
        sizes.append(desired("thumbnail"))
    assert sizes[:8] == [1] * 8  # depth-only (KEDA) would have dropped to zero at the fifth tick, 60 s in
    # The last upload was at 100 s: zero once 60 s of quiet have passed, at the tick of 165 s.
    assert sizes[8:] == [1, 1, 1, 0]


# ---- telemetry -------------------------------------------------------------------------------------------------------


def test_emf_has_desired_actual_backlog_and_latency_and_an_unchanged_tick_logs_nothing(store, capsys, caplog, recwarn):
    caplog.set_level("DEBUG", logger="ballast")
    service("thumbnail")
    workload(store, "thumbnail")
    send(config.work_queue("thumbnail"), 12)
    reconcile.tick(wiring.adapters(), T0)
    first = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    per_workload = next(d for d in first if d.get("workload") == "thumbnail" and "_aws" in d)
    assert (per_workload["DesiredReplicas"], per_workload["CurrentReplicas"], per_workload["Backlog"]) == ([3.0], [0.0], [12.0])
    assert any("DecisionLatencyMs" in d for d in first)
    assert [r.getMessage() for r in caplog.records if r.name == "ballast" and r.levelname != "DEBUG"] == ["scaled"]
    caplog.clear()

    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=15))
    unchanged = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    assert [r.getMessage() for r in caplog.records if r.name == "ballast"] == ["ticked"]  # DEBUG only
    assert {d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for d in unchanged} == {"DesiredReplicas",
                                                                                          "DecisionLatencyMs"}
    assert not [w for w in recwarn if "metrics" in str(w.message).lower()]


def test_a_workload_asleep_at_zero_publishes_no_metrics_of_its_own(store, capsys):
    service("thumbnail")
    workload(store, "thumbnail")
    reconcile.tick(wiring.adapters(), T0)
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert [d["_aws"]["CloudWatchMetrics"][0]["Metrics"][0]["Name"] for d in documents] == ["DecisionLatencyMs"]
    send(config.work_queue("thumbnail"), 1)
    reconcile.tick(wiring.adapters(), T0 + timedelta(seconds=15))
    documents = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.startswith('{"_aws"')]
    assert next(d for d in documents if d.get("workload") == "thumbnail")["Backlog"] == [1.0]


def test_pods_object_and_container_metrics_are_read_from_cloudwatch_in_one_call_and_scale(store):
    service("api", desired=4)

    def running(parsed, **_):  # as ECS reports a service whose four tasks have started
        for described in parsed.get("services", []):
            described["runningCount"], described["pendingCount"] = described["desiredCount"], 0

    wiring.client("ecs").meta.events.register("after-call.ecs.DescribeServices", running)
    at = T0 - timedelta(seconds=30)
    cloudwatch = wiring.client("cloudwatch")
    dims = [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": "api"}]
    for namespace, name, dimensions, value in (
            ("ECS/ContainerInsights", "NetworkRxBytes", dims, 1500.0),  # per task, 1.5 × the target
            ("AWS/ApplicationELB", "RequestCount", [{"Name": "LoadBalancer", "Value": "app/web/1"}], 1000.0),
            ("ECS/ContainerInsights", "ContainerCpuUtilized", dims + [{"Name": "ContainerName", "Value": "app"}], 900.0),
            ("ECS/ContainerInsights", "ContainerCpuReserved", dims + [{"Name": "ContainerName", "Value": "app"}], 1000.0)):
        cloudwatch.put_metric_data(Namespace=namespace, MetricData=[
            {"MetricName": name, "Dimensions": dimensions, "Value": value, "Timestamp": at}])
    # No queue: the drained-queue guard is for workloads that drain one; an API service scales on its metrics alone.
    store.create(parse_spec("Workload", {"metadata": {"name": "api"}, "spec": {
        "target": {"kind": "ECSService", "cluster": CLUSTER, "service": "api"}, "minReplicas": 1, "maxReplicas": 10,
        "resources": {"cpuMillicores": 1000, "memoryMiB": 1024}, "metrics": [
        {"type": "Pods", "pods": {"metric": {"name": "NetworkRxBytes"},
                                  "target": {"type": "AverageValue", "averageValue": 1000}}},
        {"type": "Object", "object": {"describedObject": {"kind": "LoadBalancer", "name": "app/web/1"},
                                      "metric": {"namespace": "AWS/ApplicationELB", "name": "RequestCount",
                                                 "statistic": "Sum"},
                                      "target": {"type": "Value", "value": 500}}},
        {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {
            "type": "Utilization", "averageUtilization": 60}}}]}}))
    metric_calls = calls(wiring.client("cloudwatch"))
    reconcile.tick(wiring.adapters(), T0)
    assert metric_calls["GetMetricData"] == 1
    # Pods 1.5 × 4 = 6; Object 1000 / 500 × 4 ready = 8; the container at 90 % of 60 % = 6: the largest wins.
    assert desired("api") == 8
    got = status(store, "api")
    assert got["metric"] == "object:LoadBalancer app/web/1/RequestCount"
    assert [m["type"] for m in got["currentMetrics"]] == ["Pods", "Object", "ContainerResource"]
    assert got["currentMetrics"][0]["pods"]["current"] == {"averageValue": 1500.0}
    assert got["currentMetrics"][2]["containerResource"]["current"] == {"averageUtilization": 90, "averageValue": 900}
