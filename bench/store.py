"""Benchmark of the store (DESIGN.md "Objects in the store") against moto: operations per second and DynamoDB calls per request.

The baseline is a raw put_item / get_item loop on the same moto table in the same run, so the ratios show what the
store's conditional writes, JSON bodies and metadata cost over the bare calls. Then each API request goes through
chalice.test.Client with a botocore before-call hook counting the DynamoDB calls it makes; the budget is DESIGN.md's
(create = 1 write, get = 1 read, replace/patch/scale = 1 read + 1 conditional write, lists = 1 query, never a scan).

    python bench/store.py [--n 300]
"""
from __future__ import annotations

import argparse
import copy
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script (make bench) or as -m bench.store

import infra  # noqa: E402

os.environ.update(infra.stage_environment("dev"))
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_DEFAULT_REGION="us-east-1")
for variable in ("AWS_ENDPOINT_URL", "AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
    os.environ.pop(variable, None)

import boto3  # noqa: E402
from boto3.dynamodb.conditions import Key  # noqa: E402
from moto import mock_aws  # noqa: E402

JSON = {"Content-Type": "application/json"}
MERGE_PATCH = {"Content-Type": "application/merge-patch+json"}
# (request, expected DynamoDB operations): DESIGN.md's budget per API request.
BUDGET = {
    "create": ["PutItem"],
    "get": ["GetItem"],
    "replace": ["GetItem", "UpdateItem"],
    "patch": ["GetItem", "UpdateItem"],
    "scale": ["GetItem", "UpdateItem"],
    "list": ["Query"],
    "events": ["Query"],
    "delete": ["DeleteItem"],
    "rejected": [],
}


def rate(count: int, seconds: float) -> float:
    return count / seconds if seconds else float("inf")


def timed(action, count: int) -> float:
    start = time.perf_counter()
    for index in range(count):
        action(index)
    return rate(count, time.perf_counter() - start)


def baseline(table, n: int) -> dict[str, float]:
    item = {"pk": "Bench#default", "spec": json.dumps({"maxReplicas": 10}), "rv": 1}
    puts = timed(lambda i: table.put_item(Item={**item, "sk": f"raw-{i}"}), n)
    gets = timed(lambda i: table.get_item(Key={"pk": "Bench#default", "sk": f"raw-{i}"}, ConsistentRead=True), n)

    def read_then_update(i: int) -> None:
        key = {"pk": "Bench#default", "sk": f"raw-{i}"}
        table.get_item(Key=key, ConsistentRead=True)
        table.update_item(Key=key, UpdateExpression="SET spec = :s, rv = rv + :one", ConditionExpression="rv = :rv",
                          ExpressionAttributeValues={":s": item["spec"], ":one": 1, ":rv": 1})

    updates = timed(read_then_update, n)
    queries = timed(lambda i: table.query(KeyConditionExpression=Key("pk").eq("Bench#default"), Limit=50), max(1, n // 10))
    return {"create": puts, "get": gets, "replace": updates, "list (50 per page)": queries}


def store_rates(store, manifest: dict, n: int) -> dict[str, float]:
    def named(index: int) -> dict:
        body = copy.deepcopy(manifest)
        body["metadata"]["name"] = f"bench-{index}"
        return body

    create = timed(lambda i: store.create(named(i)), n)
    get = timed(lambda i: store.get("Workload", "default", f"bench-{i}"), n)
    replace = timed(lambda i: store.replace(named(i), "1"), n)
    pages = max(1, n // 10)
    listing = timed(lambda i: store.list("Workload", "default", limit=50), pages)
    return {"create": create, "get": get, "replace": replace, "list (50 per page)": listing}


def calls_per_request(client, store, manifest: dict) -> dict[str, list[str]]:
    made: list[str] = []
    events = store._table.meta.client.meta.events
    handler = lambda model, **_: made.append(model.name)  # noqa: E731
    events.register("before-call.dynamodb", handler)
    body = json.dumps(manifest)
    requests = {
        "create": ("POST", "/workloads", JSON, body),
        "get": ("GET", "/workloads/photos-thumbnail", JSON, b""),
        "replace": ("PUT", "/workloads/photos-thumbnail", JSON, body),
        "patch": ("PATCH", "/workloads/photos-thumbnail", MERGE_PATCH, json.dumps({"spec": {"maxReplicas": 9}})),
        "scale": ("PUT", "/workloads/photos-thumbnail/scale", JSON, json.dumps({"spec": {"replicas": 2}})),
        "list": ("GET", "/workloads?limit=20", JSON, b""),
        "events": ("GET", "/events?involvedObject=Workload/photos-thumbnail", JSON, b""),
        "delete": ("DELETE", "/workloads/photos-thumbnail", JSON, b""),
        "rejected": ("POST", "/workloads", JSON, json.dumps({"metadata": {"name": "Not_Valid"}})),
    }
    counted = {}
    try:
        for name, (method, path, headers, payload) in requests.items():
            made.clear()
            response = client.http.request(method, path, headers=headers, body=payload)
            if response.status_code >= 400 and name != "rejected":
                raise SystemExit(f"{name}: {response.status_code} {response.body!r}")
            counted[name] = list(made)
    finally:
        events.unregister("before-call.dynamodb", handler)
    return counted


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300, help="objects per operation")
    args = parser.parse_args()

    import warnings

    # The local gateway cannot check SigV4 and says so on every request; the benchmark is not about auth.
    warnings.filterwarnings("ignore", message=".*IAMAuthorizer.*")
    with mock_aws():
        infra.create_stack(boto3.client("cloudformation"), infra.stage_environment("dev"))
        from chalice.test import Client

        from app import app
        from chalicelib import config, wiring
        from chalicelib.control.openapi import EXAMPLES

        store = wiring.store()
        raw = baseline(boto3.resource("dynamodb").Table(config.TABLE), args.n)
        rates = store_rates(store, EXAMPLES["Workload"], args.n)
        with Client(app, stage_name="dev") as client:
            counted = calls_per_request(client, store, EXAMPLES["Workload"])

    print(f"store operations against moto, {args.n} objects; baseline = the same DynamoDB calls made raw in this run")
    print("  (create: put_item; get: get_item; replace: get_item + conditional update_item; list: query of 50)")
    for name, per_s in rates.items():
        print(f"  {name:<20} {per_s:8.0f}/s   raw {raw[name]:8.0f}/s   {per_s / raw[name]:5.2f}x raw")
    print("DynamoDB calls per API request (budget from DESIGN.md)")
    over = []
    for name, operations in counted.items():
        ok = operations == BUDGET[name] and "Scan" not in operations
        print(f"  {name:<10} {len(operations)} call(s) {', '.join(operations) or '-':<22} budget {len(BUDGET[name])}  {'ok' if ok else 'OVER'}")
        if not ok:
            over.append(name)
    print(f"calls/budget ratio: {sum(map(len, counted.values()))}/{sum(map(len, BUDGET.values()))}")
    return 1 if over else 0


if __name__ == "__main__":
    sys.exit(main())
