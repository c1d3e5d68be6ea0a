"""Benchmark of the controller's tick (DESIGN.md "How data flows": observe, decide, act, record) against moto.

AWS API calls per tick for 10, 100 and 1,000 workloads, counted by botocore before-call hooks on every client wiring
creates and on the store's table client, and the tick's time. Each workload is an ECS service with its own queue and
a CPU metric; one in ten also has a Deadline metric and one in ten has work queued; ten workloads share an Auto
Scaling group NodePool. Two ticks are measured: the first of a minute and one 15 s later (every tick reads the
stats of every queue workload, this minute's and the last one's items, in batches).

Baselines measured in the same run: the naive controller's calls, one call per workload per metric (DescribeServices,
GetQueueAttributes, GetMetricData, a stats read and a status read per workload, DescribeAutoScalingGroups per pool),
and the time of a plain loop of as many DynamoDB GetItem reads as there are workloads on the same moto table.

    python bench/reconcile.py [--sizes 10,100,1000]
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script (make bench) or as -m bench.reconcile

import infra  # noqa: E402

os.environ.update(infra.stage_environment("dev"))
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1",
                  POWERTOOLS_METRICS_DISABLED="true", POWERTOOLS_LOG_LEVEL="WARNING")
for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(variable, None)

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402

CLUSTER = "ballast-dev"
PER_POOL = 10
T0 = datetime(2026, 11, 25, 2, 0, 1, tzinfo=timezone.utc)
SERVICES = ("ecs", "sqs", "cloudwatch", "autoscaling", "eks", "sts")
# (operation, what it batches, how many per call); SQS has no batch read of attributes: one call per queue.
BATCHED = [("DescribeServices", "services", 10), ("GetMetricData", "queries", 500),
           ("GetQueueAttributes", "queues", 1), ("DescribeAutoScalingGroups", "groups", 50),
           ("BatchGetItem", "workloads' recent stats", 50)]


def build(n: int) -> None:
    from chalicelib import config, wiring
    from chalicelib.spec import parse_spec

    ecs, sqs, autoscaling, store = (wiring.client("ecs"), wiring.client("sqs"), wiring.client("autoscaling"),
                                    wiring.store())
    ecs.register_task_definition(family="worker", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="1024", memory="2048", containerDefinitions=[{"name": "w", "image": "worker"}])
    boto3.client("ec2").create_launch_template(LaunchTemplateName="nodes", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.medium"})
    for p in range(math.ceil(n / PER_POOL)):
        autoscaling.create_auto_scaling_group(AutoScalingGroupName=f"nodes-{p}", LaunchTemplate={"LaunchTemplateName": "nodes"},
                                              MinSize=0, MaxSize=20, DesiredCapacity=0, AvailabilityZones=["us-east-1a"])
        store.create(parse_spec("NodePool", {"metadata": {"name": f"pool-{p}"}, "spec": {
            "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": f"nodes-{p}"},
            "instance": {"cpuMillicores": 4000, "memoryMiB": 8192}, "maxNodes": 20}}))
    cloudwatch = wiring.client("cloudwatch")
    for i in range(n):
        name = f"w{i:04d}"
        # A CPU datapoint for every service, as ECS publishes them each minute: no missing-metric warnings.
        cloudwatch.put_metric_data(Namespace="AWS/ECS", MetricData=[{
            "MetricName": "CPUUtilization", "Value": 40.0, "Unit": "Percent", "Timestamp": T0 - timedelta(seconds=30),
            "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": name}]}])
        ecs.create_service(cluster=CLUSTER, serviceName=name, taskDefinition="worker", desiredCount=0, launchType="FARGATE")
        url = sqs.create_queue(QueueName=config.work_queue(name))["QueueUrl"]
        if i % 10 == 0:
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": "{}"} for k in range(10)])
        metrics = [{"type": "Backlog", "backlog": {"targetPerReplica": 5}},
                   {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
        if i % 10 == 5:
            metrics.append({"type": "Deadline", "deadline": {"seconds": 300}})
        store.create(parse_spec("Workload", {"metadata": {"name": name}, "spec": {
            "target": {"kind": "ECSService", "cluster": CLUSTER, "service": name}, "queue": {"name": config.work_queue(name)},
            "minReplicas": 0, "maxReplicas": 10, "resources": {"cpuMillicores": 1000, "memoryMiB": 2048},
            "metrics": metrics, "nodePools": [f"pool-{i // PER_POOL}"]}}))


def counted_clients() -> Counter:
    from chalicelib import wiring

    calls = Counter()
    clients = [wiring.client(service) for service in SERVICES] + [wiring.store()._table.meta.client]
    for client in clients:
        client.meta.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
    return calls


def expected(n: int) -> dict[str, int]:
    """The batched call counts the design promises for n workloads in a minute's first tick.

    A CPU metric queries CPU and memory; the store is one query per kind, and the stats of every queue workload
    (this minute's and the last one's items) in BatchGetItem calls of 100 keys.
    """
    return {"DescribeServices": math.ceil(n / 10), "GetMetricData": math.ceil(2 * n / 500), "GetQueueAttributes": n,
            "DescribeAutoScalingGroups": math.ceil(math.ceil(n / PER_POOL) / 50), "BatchGetItem": math.ceil(n / 50),
            "Query": 2}


def naive(n: int) -> int:
    """One call per workload per metric: describe, queue, CPU metric, stats, status read; one describe per pool."""
    return n * 5 + math.ceil(n / PER_POOL)


def measure(n: int) -> dict:
    with mock_aws():
        infra.create_stack(boto3.client("cloudformation"), infra.stage_environment("dev"))
        from chalicelib import wiring
        from chalicelib.control import reconcile

        wiring.reset()
        build(n)
        table = wiring.store()._table
        begun = time.perf_counter()
        for i in range(n):
            table.get_item(Key={"pk": "Workload#default", "sk": f"w{i:04d}"})
        plain_s = time.perf_counter() - begun
        adapters, calls = wiring.adapters(), counted_clients()
        ticks = []
        for now in (T0, T0 + timedelta(seconds=15)):
            calls.clear()
            begun = time.perf_counter()
            summary = reconcile.tick(adapters, now)
            ticks.append({"calls": Counter(calls), "seconds": time.perf_counter() - begun, "actions": summary.actions})
        wiring.reset()
    return {"n": n, "plain_s": plain_s, "ticks": ticks}


def report(results: list[dict]) -> None:
    print("reconcile tick against moto: AWS API calls per tick; 'expected' is the batch arithmetic of the design")
    for result in results:
        n, (first, later) = result["n"], result["ticks"]
        print(f"\n{n} workloads, {math.ceil(n / PER_POOL)} node pools, {n // 10} with work queued, "
              f"{n // 10} with a Deadline metric")
        want = expected(n)
        for operation, unit, per_call in BATCHED:
            print(f"  {operation:<26} {first['calls'][operation]:5d}  expected {want[operation]:5d}  ({per_call} {unit}/call)")
        print(f"  {'Query':<26} {first['calls']['Query']:5d}  expected {want['Query']:5d}  (Workloads, NodePools); "
              f"15 s later {later['calls']['Query']}")
        print(f"  {'GetQueueUrl':<26} {first['calls']['GetQueueUrl']:5d}  in a process's first tick only "
              f"({later['calls']['GetQueueUrl']} 15 s later)")
        writes = ("UpdateService", "SetDesiredCapacity", "UpdateItem", "BatchWriteItem")
        print("  writes: " + ", ".join(f"{op} {first['calls'][op]}" for op in writes)
              + " (a status UpdateItem per workload and pool, events 25 a batch, scale calls only on change)")
        reads = sum(later["calls"].values()) - sum(later["calls"][op] for op in writes)
        print(f"  reads in a steady tick: {reads} vs naive {naive(n)} ({naive(n) / reads:.1f}x fewer); "
              f"without SQS's per-queue reads {reads - n} vs {naive(n) - n} ({(naive(n) - n) / (reads - n):.0f}x fewer)")
        print(f"  tick time: {first['seconds']:.2f} s first, {later['seconds']:.2f} s steady; plain loop of {n} "
              f"GetItem: {result['plain_s']:.2f} s (steady tick {later['seconds'] / result['plain_s']:.1f}x the loop)")
    print("\nSQS has no batch read of queue attributes: depth costs one GetQueueAttributes per queue per tick.")
    print("Status writes stay one per workload per tick: the core's history (stabilisation windows) moves every tick.")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="workload counts, comma separated")
    args = parser.parse_args()
    results = [measure(int(n)) for n in args.sizes.split(",")]
    report(results)
    bad = [(r["n"], op) for r in results for op, want in expected(r["n"]).items() if r["ticks"][0]["calls"][op] > want]
    if bad:
        print(f"OVER the batch arithmetic: {bad}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
