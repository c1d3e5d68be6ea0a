"""`ballast logs`: the controller's log lines about one workload or node pool, from CloudWatch Logs or the local file.

In AWS the controller is the `tick` and `on_nudge` Lambdas, whose Powertools lines carry the object's name in a key
(`workload`, `nodePool`, or `object` with `kind`); the local runtime writes the same lines to out/lambda.log.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from ballast import kinds
from ballast.api_client import Api, is_loopback
from ballast.errors import UsageError

CONTROLLER_FUNCTIONS = ("tick", "on_nudge")
DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
SHOWN_FIRST = ("level", "message", "timestamp", "service", "location", "workload", "nodePool", "object", "kind",
               "cold_start", "function_name", "function_memory_size", "function_arn", "function_request_id", "xray_trace_id",
               "sampling_rate")


def cmd_logs(api: Api, args) -> str:
    resource_name, name = kinds.kind_and_name(args.resource, args.name)
    resource = kinds.resource(resource_name, ("workloads", "nodepools"))
    if not name:
        raise UsageError(f"logs needs a name: ballast logs {resource_name} NAME")
    kind = kinds.KIND_OF[resource]
    since = time.time() - parse_duration(args.since)
    local = args.file or (not args.log_group and is_loopback(api.endpoint))
    records = _from_file(Path(args.file or os.environ.get("BALLAST_LOG_FILE") or "out/lambda.log"), since) if local else \
        _from_cloudwatch(api, args, name, since)
    mine = [r for r in records if is_about(r, kind, name)]
    if args.tail is not None:
        mine = mine[-args.tail:] if args.tail else []
    if not mine:
        return f"No log lines about {kind}/{name} in the last {args.since}."
    return "\n".join(line(record) for record in mine)


def parse_duration(text: str) -> float:
    unit = text[-1:] if text else ""
    if unit not in DURATION_UNITS_S or not text[:-1].isdigit():
        raise UsageError(f"--since takes a duration like 90s, 15m, 24h or 7d, got {text!r}")
    return int(text[:-1]) * DURATION_UNITS_S[unit]


def is_about(record: dict, kind: str, name: str) -> bool:
    if "_aws" in record:  # an EMF metrics document, not a log line
        return False
    key = "workload" if kind == "Workload" else "nodePool"
    return record.get(key) == name or (record.get("object") == name and record.get("kind") in (None, kind))


def line(record: dict) -> str:
    stamp = record.get("timestamp", "")
    rest = " ".join(f"{k}={_value(v)}" for k, v in record.items() if k not in SHOWN_FIRST)
    return f"{stamp} {record.get('level', '')} {record.get('message', '')}" + (f" {rest}" if rest else "")


def _value(value: object) -> str:
    return json.dumps(value) if isinstance(value, (dict, list)) or (isinstance(value, str) and " " in value) else str(value)


def _from_file(path: Path, since: float) -> list[dict]:
    try:
        text = path.read_text(errors="replace")
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file; the local runtime writes its handlers' logs to out/lambda.log of the "
                         f"directory `ballast up` ran in (--file names another)") from None
    records = []
    for raw in text.splitlines():
        if not raw.startswith("{"):
            continue
        try:
            record = json.loads(raw)
        except ValueError:
            continue
        if isinstance(record, dict) and _epoch(record.get("timestamp")) >= since:
            records.append(record)
    return records


def _epoch(stamp: object) -> float:
    """Powertools' `2026-12-02 00:53:32,122+0000`; a line without a readable time is shown rather than lost."""
    if not isinstance(stamp, str):
        return float("inf")
    try:
        return datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f%z").timestamp()
    except ValueError:
        return float("inf")


def _from_cloudwatch(api: Api, args, name: str, since: float) -> list[dict]:
    import botocore.exceptions

    groups = args.log_group or [f"/aws/lambda/ballast-{args.stage}-{function}" for function in CONTROLLER_FUNCTIONS]
    client = api.session.client("logs", region_name=api.region)
    # CloudWatch filters by the JSON keys; the lines are checked again here, as a pattern is only a first cut.
    pattern = f'{{ $.workload = "{name}" || $.nodePool = "{name}" || $.object = "{name}" }}'
    records = []
    for group in groups:
        query = {"logGroupName": group, "startTime": int(since * 1000), "filterPattern": pattern}
        try:
            for page in client.get_paginator("filter_log_events").paginate(**query):
                for event in page.get("events", []):
                    try:
                        records.append((event["timestamp"], json.loads(event["message"])))
                    except ValueError:
                        continue
        except botocore.exceptions.ClientError as error:
            if error.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                continue  # a function that never logged has no group yet
            raise UsageError(f"CloudWatch Logs {group}: {error.response.get('Error', {}).get('Message', error)}") from None
        except botocore.exceptions.BotoCoreError as error:
            raise UsageError(f"CloudWatch Logs: {error}") from None
    return [record for _, record in sorted(records, key=lambda pair: pair[0]) if isinstance(record, dict)]


def add_commands(commands) -> None:
    logs = commands.add_parser("logs", help="the controller's log lines about a workload or node pool",
                               description="resources: workloads (wl), nodepools (np). Locally (a loopback endpoint) "
                                           "the lines come from out/lambda.log; in AWS from the controller's CloudWatch "
                                           "log groups (/aws/lambda/ballast-STAGE-tick and -on_nudge).",
                               epilog="examples:\n  ballast logs workload photos-thumbnail\n"
                                      "  ballast logs wl/photos-thumbnail --since 10m --tail 20\n"
                                      "  ballast logs workload web --stage prod")
    kinds.add_object_arguments(logs)
    logs.add_argument("--since", default="1h", help="how far back: 90s, 15m, 24h (default 1h)")
    logs.add_argument("--tail", type=int, help="only the last N lines")
    logs.add_argument("--file", help="a local runtime's log file (default: $BALLAST_LOG_FILE, else out/lambda.log)")
    logs.add_argument("--stage", default=os.environ.get("BALLAST_STAGE", "dev"), help="the deployed stage (default: $BALLAST_STAGE or dev)")
    logs.add_argument("--log-group", action="append", help="read this CloudWatch log group instead (repeatable)")
    logs.set_defaults(run=cmd_logs)
