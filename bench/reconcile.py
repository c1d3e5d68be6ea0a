"""Benchmark of the controller's tick (DESIGN.md "How data flows": observe, decide, act, record) against moto.

AWS API calls per tick for 10, 100 and 1,000 workloads, counted by botocore before-call hooks on every client wiring
creates and on the store's table client, and the tick's time. Each workload is an ECS service with its own queue and
a CPU metric; one in ten also has a Deadline metric and one in ten has work queued; ten workloads share an Auto
Scaling group NodePool. Two ticks are measured: the first of a minute and one 15 s later (every tick reads the
stats of every queue workload, this minute's and the last one's items, in batches).

Every namespace at once (issue 17): the same 1,000 workloads as 100 namespaces of 10, each namespace with its own
NodePool and the same names as the others, against the 1,000 in one namespace. The calls of both, by service and
operation, and their ratio; the store's reads (every namespace's objects in one query per kind) may exceed the
single namespace's by STORE_READ_ALLOWANCE at most, else the script exits 1. Each workload must decide what its
twin in the single namespace decides: a namespace that saw another's objects would size its pool for them too.

Baselines measured in the same run: the naive controller's calls, one call per workload per metric (DescribeServices,
GetQueueAttributes, GetMetricData, a stats read and a status read per workload, DescribeAutoScalingGroups per pool),
and the time of a plain loop of as many store reads of one Workload as there are workloads, on the same moto table.

    python bench/reconcile.py [--sizes 10,100,1000] [--namespaced 100x10 | --namespaced none]
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
# (operation, what it batches, how many per call); SQS has no batch read of queue attributes: one call per queue.
BATCHED = [("DescribeServices", "services", 10), ("GetMetricData", "queries", 500),
           ("GetQueueAttributes", "queues", 1), ("DescribeAutoScalingGroups", "groups", 50),
           ("BatchGetItem", "workloads' recent stats", 50)]
STORE_READS = ("Query", "GetItem", "BatchGetItem", "Scan", "TransactGetItems")
# More namespaces may cost the store a page more per listed kind (longer keys), never a read per namespace.
STORE_READ_ALLOWANCE = 2
PAGE_BYTES = 1_000_000  # a Query's page: DynamoDB's 1 MB
WRITES = ("UpdateService", "SetDesiredCapacity", "UpdateItem", "BatchWriteItem")


def layout(n: int, namespaces: int) -> list[tuple[str, str, str, int, str]]:
    """(namespace, workload name, service, index in one namespace, node pool) of n workloads spread evenly over the
    namespaces, ten workloads to a pool.

    In one namespace a workload is named by its index; in several, every namespace reuses the same names, workloads'
    and pools' (as teams do), and the services, which one ECS cluster names once, carry the namespace.
    """
    if namespaces == 1:
        return [("default", f"w{i:04d}", f"w{i:04d}", i, f"pool-{i // PER_POOL}") for i in range(n)]
    per = n // namespaces
    return [(f"team-{k:03d}", f"w{j:04d}", f"team-{k:03d}-w{j:04d}", k * per + j, f"pool-{j // PER_POOL}")
            for k in range(namespaces) for j in range(per)]


def _namespaced(manifest: dict, namespace: str) -> dict:
    manifest["metadata"]["namespace"] = namespace
    return manifest


def build(n: int, namespaces: int = 1) -> None:
    from chalicelib import config, wiring
    from chalicelib.spec import parse_spec

    ecs, sqs, autoscaling, store = (wiring.client("ecs"), wiring.client("sqs"), wiring.client("autoscaling"),
                                    wiring.store())
    ecs.register_task_definition(family="worker", requiresCompatibilities=["FARGATE"], networkMode="awsvpc",
                                 cpu="1024", memory="2048", containerDefinitions=[{"name": "w", "image": "worker"}])
    boto3.client("ec2").create_launch_template(LaunchTemplateName="nodes", LaunchTemplateData={
        "ImageId": "ami-12c6146b", "InstanceType": "t3.medium"})
    placed = layout(n, namespaces)
    for group, (namespace, pool) in enumerate(sorted({(namespace, pool) for namespace, *_, pool in placed})):
        autoscaling.create_auto_scaling_group(AutoScalingGroupName=f"nodes-{group}", LaunchTemplate={"LaunchTemplateName": "nodes"},
                                              MinSize=0, MaxSize=20, DesiredCapacity=0, AvailabilityZones=["us-east-1a"])
        store.create(_namespaced(parse_spec("NodePool", {"metadata": {"name": pool}, "spec": {
            "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": f"nodes-{group}"},
            "instance": {"cpuMillicores": 4000, "memoryMiB": 8192}, "maxNodes": 20}}), namespace))
    cloudwatch = wiring.client("cloudwatch")
    for namespace, name, service, i, pool in placed:
        # A CPU datapoint for every service, as ECS publishes them each minute: no missing-metric warnings.
        cloudwatch.put_metric_data(Namespace="AWS/ECS", MetricData=[{
            "MetricName": "CPUUtilization", "Value": 40.0, "Unit": "Percent", "Timestamp": T0 - timedelta(seconds=30),
            "Dimensions": [{"Name": "ClusterName", "Value": CLUSTER}, {"Name": "ServiceName", "Value": service}]}])
        ecs.create_service(cluster=CLUSTER, serviceName=service, taskDefinition="worker", desiredCount=0, launchType="FARGATE")
        url = sqs.create_queue(QueueName=config.work_queue(service))["QueueUrl"]
        if i % 10 == 0:
            sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(k), "MessageBody": "{}"} for k in range(10)])
        metrics = [{"type": "Backlog", "backlog": {"targetPerReplica": 5}},
                   {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]
        if i % 10 == 5:
            metrics.append({"type": "Deadline", "deadline": {"seconds": 300}})
        store.create(_namespaced(parse_spec("Workload", {"metadata": {"name": name}, "spec": {
            "target": {"kind": "ECSService", "cluster": CLUSTER, "service": service},
            "queue": {"name": config.work_queue(service)},
            "minReplicas": 0, "maxReplicas": 10, "resources": {"cpuMillicores": 1000, "memoryMiB": 2048},
            "metrics": metrics, "nodePools": [pool]}}), namespace))


def counted_clients() -> Counter:
    """Calls by (service, operation) on every client the controller uses."""
    from chalicelib import wiring

    calls = Counter()
    clients = [wiring.client(service) for service in SERVICES] + [wiring.store()._table.meta.client]
    for client in clients:
        client.meta.events.register(
            "before-call.*.*", lambda model, **_: calls.update([(model.service_model.service_name, model.name)]))
    return calls


def by_operation(calls: Counter) -> Counter:
    counted = Counter()
    for (_, operation), count in calls.items():
        counted[operation] += count
    return counted


def store_reads(calls: Counter) -> int:
    return sum(count for (service, operation), count in calls.items() if service == "dynamodb" and operation in STORE_READS)


def expected(n: int, queries: int = 2) -> dict[str, int]:
    """The batched call counts the design promises for n workloads in a minute's first tick.

    A CPU metric queries CPU and memory; the store is one query per kind (as many as its items fill 1 MB pages:
    `queries`), and the stats of every queue workload (this minute's and the last one's items) in BatchGetItem calls
    of 100 keys.
    """
    return {"DescribeServices": math.ceil(n / 10), "GetMetricData": math.ceil(2 * n / 500), "GetQueueAttributes": n,
            "DescribeAutoScalingGroups": math.ceil(math.ceil(n / PER_POOL) / 50), "BatchGetItem": math.ceil(n / 50),
            "Query": queries}


def _size(value) -> int:
    """An attribute value's bytes as the store pages them: strings and binary by length, numbers by digits."""
    if isinstance(value, str):
        return len(value.encode())
    if isinstance(value, (bytes, bytearray)):
        return len(value)
    if isinstance(value, dict):
        return sum(len(k.encode()) + _size(v) for k, v in value.items())
    if isinstance(value, (list, set, tuple)):
        return sum(_size(v) for v in value)
    return len(str(value))


def query_pages(table) -> int:
    """The queries listing Workloads and NodePools take: DynamoDB returns at most 1 MB of items a call, so a kind's
    partition is as many calls as its items fill pages (at least one)."""
    from boto3.dynamodb.conditions import Key

    from chalicelib.adapters.store import CLUSTER_LISTED
    from chalicelib.adapters.table import PARTITION

    pages = 0
    for kind in CLUSTER_LISTED:
        items, query = [], {"KeyConditionExpression": Key(PARTITION).eq(kind)}
        while True:
            page = table.query(**query)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            query["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        pages += 1
        filled = 0
        for item in items:
            size = sum(len(name.encode()) + _size(value) for name, value in item.items())
            if filled + size > PAGE_BYTES:
                pages, filled = pages + 1, 0
            filled += size
    return pages


def naive(n: int) -> int:
    """One call per workload per metric: describe, queue, CPU metric, stats, status read; one describe per pool."""
    return n * 5 + math.ceil(n / PER_POOL)


def measure(n: int, namespaces: int = 1) -> dict:
    with mock_aws():
        infra.create_stack(boto3.client("cloudformation"), infra.stage_environment("dev"))
        from chalicelib import wiring
        from chalicelib.control import reconcile

        wiring.reset()
        build(n, namespaces)
        store = wiring.store()
        placed = layout(n, namespaces)
        begun = time.perf_counter()
        for namespace, name, *_ in placed:
            store.get("Workload", namespace, name)
        plain_s = time.perf_counter() - begun
        adapters, calls = wiring.adapters(), counted_clients()
        ticks = []
        for now in (T0, T0 + timedelta(seconds=15)):
            pages = query_pages(store._table)
            calls.clear()
            begun = time.perf_counter()
            summary = reconcile.tick(adapters, now)
            ticks.append({"calls": by_operation(calls), "by_service": Counter(calls), "pages": pages,
                          "seconds": time.perf_counter() - begun, "actions": summary.actions})
        # What each object decided, by its index in the single-namespace layout, to compare the layouts.
        index = {(namespace, name): i for namespace, name, _, i, _ in placed}
        decided = {index[ref]: d.replicas for ref, d in summary.decisions.items()}
        pools = sorted(d.nodes for d in summary.pools.values())
        wiring.reset()
    return {"n": n, "namespaces": namespaces, "plain_s": plain_s, "ticks": ticks, "decided": decided, "pools": pools}


def report(results: list[dict]) -> None:
    print("reconcile tick against moto: AWS API calls per tick; 'expected' is the batch arithmetic of the design")
    for result in results:
        n, (first, later) = result["n"], result["ticks"]
        print(f"\n{n} workloads, {math.ceil(n / PER_POOL)} node pools, {n // 10} with work queued, "
              f"{n // 10} with a Deadline metric")
        want = expected(n, first["pages"])
        for operation, unit, per_call in BATCHED:
            print(f"  {operation:<26} {first['calls'][operation]:5d}  expected {want[operation]:5d}  ({per_call} {unit}/call)")
        print(f"  {'Query':<26} {first['calls']['Query']:5d}  expected {want['Query']:5d}  (Workloads, NodePools, in 1 MB "
              f"pages); 15 s later {later['calls']['Query']}, expected {later['pages']}")
        print(f"  {'GetQueueUrl':<26} {first['calls']['GetQueueUrl']:5d}  in a process's first tick only "
              f"({later['calls']['GetQueueUrl']} 15 s later)")
        print("  writes: " + ", ".join(f"{op} {first['calls'][op]}" for op in WRITES)
              + " (a status UpdateItem per workload and pool, events 25 a batch, scale calls only on change)")
        reads = sum(later["calls"].values()) - sum(later["calls"][op] for op in WRITES)
        print(f"  reads in a steady tick: {reads} vs naive {naive(n)} ({naive(n) / reads:.1f}x fewer); "
              f"without SQS's per-queue reads {reads - n} vs {naive(n) - n} ({(naive(n) - n) / (reads - n):.0f}x fewer)")
        print(f"  tick time: {first['seconds']:.2f} s first, {later['seconds']:.2f} s steady; plain loop of {n} "
              f"store reads: {result['plain_s']:.2f} s (steady tick {later['seconds'] / result['plain_s']:.1f}x the loop)")
    print("\nSQS has no batch read of queue attributes: depth costs one GetQueueAttributes per queue per tick.")
    print("Status writes stay one per workload per tick: the core's history (stabilisation windows) moves every tick.")


def report_namespaced(one: dict, many: dict) -> list[str]:
    """Both layouts' calls side by side; the problems found (reads per namespace, decisions that differ)."""
    n, namespaces = many["n"], many["namespaces"]
    print(f"\n{n} workloads in one namespace against {namespaces} namespaces of {n // namespaces} (each with its own "
          f"node pool, the names repeated in every namespace): calls per tick by service and operation")
    problems = []
    for label, tick in (("first tick", 0), ("15 s later", 1)):
        single, spread = one["ticks"][tick]["by_service"], many["ticks"][tick]["by_service"]
        print(f"  {label:<42} {'1 namespace':>12} {f'{namespaces} namespaces':>15}  ratio")
        for service, operation in sorted(set(single) | set(spread)):
            a, b = single[(service, operation)], spread[(service, operation)]
            print(f"    {service + ' ' + operation:<40} {a:12d} {b:15d}  {b / a if a else math.inf:5.2f}")
        total_a, total_b = sum(single.values()), sum(spread.values())
        reads_a, reads_b = store_reads(single), store_reads(spread)
        print(f"    {'every call':<40} {total_a:12d} {total_b:15d}  {total_b / total_a:5.2f}")
        print(f"    {'store reads':<40} {reads_a:12d} {reads_b:15d}  {reads_b / reads_a:5.2f}  "
              f"(allowed: {reads_a + STORE_READ_ALLOWANCE} at most)")
        if reads_b > reads_a + STORE_READ_ALLOWANCE:
            problems.append(f"{label}: {reads_b} store reads for {namespaces} namespaces against {reads_a} for one")
    differ = sorted(i for i in one["decided"] if one["decided"][i] != many["decided"].get(i))
    same_pools = one["pools"] == many["pools"]
    print(f"  decisions: {len(one['decided']) - len(differ)} of {len(one['decided'])} workloads ask what their twin in "
          f"one namespace asks; the {len(many['pools'])} pools' node counts {'match' if same_pools else 'DIFFER'}")
    if differ or not same_pools or len(many["decided"]) != len(one["decided"]):
        problems.append(f"the layouts decide differently: workloads {differ[:10]}, pools "
                        f"{'same' if same_pools else 'different'}")
    print(f"  tick time: {one['ticks'][1]['seconds']:.2f} s steady in one namespace, "
          f"{many['ticks'][1]['seconds']:.2f} s in {namespaces}")
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,1000", help="workload counts, comma separated")
    parser.add_argument("--namespaced", default="100x10",
                        help="NAMESPACESxWORKLOADS to compare with as many workloads in one namespace, or none")
    args = parser.parse_args()
    results = [measure(int(n)) for n in args.sizes.split(",")]
    report(results)
    if args.namespaced != "none":
        namespaces, per = (int(part) for part in args.namespaced.split("x"))
        n = namespaces * per
        one = next((r for r in results if r["n"] == n), None) or measure(n)
        many = measure(n, namespaces)
        problems = report_namespaced(one, many)
        results.append(many)
    else:
        problems = []
    problems += [f"over the batch arithmetic: {r['n']} workloads in {r['namespaces']} namespaces, {op}"
                 for r in results for tick in r["ticks"] for op, want in expected(r["n"], tick["pages"]).items()
                 if tick["calls"][op] > want]
    for problem in problems:
        print(f"FAILED: {problem}")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
