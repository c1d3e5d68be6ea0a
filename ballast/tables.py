"""How `ballast` shows objects: kubectl's tables and AGE, the TARGETS of `get hpa`, KEDA's READY/ACTIVE/PAUSED, decisions."""
from __future__ import annotations

from datetime import datetime, timezone

MAX_NODES_REACHED = "MaxNodesReached"  # the core's reason when a pool's maxNodes holds a workload back
FAILED_GET_SCALE = "FailedGetScale"
WORKLOAD_COLUMNS = ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "READY", "ACTIVE", "PAUSED",
                    "TRIGGERS", "AGE"]
WORKLOAD_WIDE = ["DESIRED", "BACKLOG", "NODEPOOLS", "DECISION"]
NODEPOOL_COLUMNS = ["NAME", "PROVIDER", "INSTANCE", "MIN", "MAX", "DESIRED", "READY", "BOOTING", "PENDING", "AGE"]
NODEPOOL_WIDE = ["TASKS", "DECISION"]
EVENT_COLUMNS = ["LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"]
JOB_COLUMNS = ["JOB", "OP", "NAME", "PHASE", "REASON", "AGE"]
KIND_NAMES = {"workloads": "workload.ballast.io", "nodepools": "nodepool.ballast.io"}  # what -o name prints
TRIGGERS = {"Backlog": "aws-sqs-queue", "External": "aws-cloudwatch", "Deadline": "deadline"}


def age(stamp: str | None, now: datetime | None = None) -> str:
    """kubectl's AGE: the largest unit or two, e.g. 45s, 3m12s, 2h5m, 4d."""
    if not stamp:
        return "<unknown>"
    seconds = int(((now or datetime.now(timezone.utc)) - datetime.fromisoformat(stamp)).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 1:
        return f"{minutes}m{seconds % 60}s" if minutes < 10 else f"{minutes}m"
    if days < 1:
        return f"{hours}h{minutes % 60}m" if hours < 10 else f"{hours}h"
    return f"{days}d"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return "\n".join("   ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows])


def reference(spec: dict) -> str:
    target = spec["target"]
    if target["kind"] == "ECSService":
        return f"ECSService/{target.get('service')}"
    return f"Deployment/{target.get('namespace')}/{target.get('name')}"


def condition(status: dict, kind: str) -> dict:
    return next((c for c in status.get("conditions", []) if c.get("type") == kind), {})


def workload_row(item: dict, wide: bool = False, pools: dict | None = None) -> list[str]:
    spec, status, meta = item["spec"], item.get("status") or {}, item["metadata"]
    metrics = ",".join(metric_summaries(spec, status))
    triggers = ",".join(dict.fromkeys(TRIGGERS.get(m["type"], m.get("resource", {}).get("name", m["type"].lower()))
                                      for m in spec.get("metrics", [])))
    row = [meta["name"], reference(spec), metrics or "<none>", str(spec.get("minReplicas", 1)), str(spec["maxReplicas"]),
           str(status.get("currentReplicas", 0)), condition(status, "AbleToScale").get("status", "Unknown"),
           condition(status, "ScalingActive").get("status", "Unknown"), str(spec.get("replicas") is not None),
           triggers or "<none>", age(meta.get("creationTimestamp"))]
    if wide:
        depth = status.get("backlog")
        row += [str(status.get("desiredReplicas", "<unknown>")),
                "<none>" if not depth else str(depth["visible"] + depth["inFlight"]),
                ",".join(spec.get("nodePools", [])) or "<none>", decision(item, pools or {})]
    return row


def decision(item: dict, pools: dict[str, dict]) -> str:
    """The last tick's decision in words, from status: held by capacity, waiting for nodes, or the core's reason."""
    status = item.get("status") or {}
    if not status:
        return "not reconciled yet"
    unable = condition(status, "AbleToScale")
    if unable.get("status") == "False":
        return f"{unable.get('reason')}: {unable.get('message')}"
    desired = status.get("desiredReplicas")
    if status.get("reason") == MAX_NODES_REACHED:
        return f"held at {desired} by pool capacity"
    booting = sum(pool_booting(pools[name]) for name in item["spec"].get("nodePools", []) if name in pools)
    if status.get("pendingReplicas") and booting:
        return f"{status['pendingReplicas']} pending: waiting for {booting} node{'s' if booting > 1 else ''} to boot"
    return _reason_line(status)


def _reason_line(status: dict) -> str:
    reason, message = status.get("reason") or "", status.get("message") or ""
    if not reason:
        return message or "<none>"
    # A message that already starts with the reason says it once.
    return message if message.startswith(reason) else f"{reason}: {message}" if message else reason


def pool_booting(pool: dict) -> int:
    status = pool.get("status") or {}
    return max(int(status.get("currentNodes") or 0) - int(status.get("readyNodes") or 0), 0)


def pool_decision(pool: dict) -> str:
    status = pool.get("status") or {}
    return _reason_line(status) if status else "not reconciled yet"


def metric_summaries(spec: dict, status: dict) -> list[str]:
    """kubectl's TARGETS, current/target per metric; the controller writes status.currentMetrics in the spec's order."""
    metrics = spec.get("metrics", [])
    currents = status.get("currentMetrics") or []
    if len(currents) != len(metrics):  # not reconciled yet, or since the spec changed
        currents = [{}] * len(metrics)
    return [metric_summary(metric, current) for metric, current in zip(metrics, currents)]


# Each metric type's block in spec.metrics[] and status.currentMetrics[], as the HPA names them.
BLOCKS = {"Backlog": "backlog", "Resource": "resource", "ContainerResource": "containerResource",
          "External": "external", "Pods": "pods", "Object": "object", "Deadline": "deadline"}


def metric_summary(metric: dict, current: dict) -> str:
    kind = metric["type"]
    block = metric.get(BLOCKS.get(kind, ""), {})
    now = (current.get(BLOCKS.get(kind, "")) or {}).get("current") or {}
    if kind == "Backlog":
        return f"{_shown(now.get('averageValue'))}/{_number(block['targetPerReplica'])} (backlog/replica)"
    if kind == "Deadline":
        return f"{_shown(now.get('value'))} queued/drain within {block['seconds']}s"
    target = block["target"]
    if kind in ("Resource", "ContainerResource"):
        name = block["name"] if kind == "Resource" else f"{block['container']}/{block['name']}"
        if target["type"] == "Utilization":
            return f"{name}: {_shown(now.get('averageUtilization'), '%')}/{target['averageUtilization']}%"
        return f"{name}: {_shown(now.get('averageValue'))}/{_number(target['averageValue'])}"
    name = block["metric"]["name"]  # External, Pods, Object
    if target["type"] == "AverageValue":
        return f"{name}: {_shown(now.get('averageValue'))}/{_number(target['averageValue'])} (avg)"
    return f"{name}: {_shown(now.get('value'))}/{_number(target['value'])}"


def _shown(value, unit: str = "") -> str:
    return "<unknown>" if value is None else f"{_number(value)}{unit}"


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def nodepool_row(item: dict, pending: int, wide: bool = False) -> list[str]:
    spec, status, meta = item["spec"], item.get("status") or {}, item["metadata"]
    provider = spec["provider"]
    group = provider.get("autoScalingGroupName") or provider.get("nodegroup") or "-"
    instance = spec["instance"]
    shape = f"{instance.get('type') or '-'} {instance['cpuMillicores']}m/{instance['memoryMiB']}Mi"
    row = [meta["name"], f"{provider['kind']}/{group}", shape, str(spec.get("minNodes", 0)), str(spec["maxNodes"]),
           str(status.get("desiredNodes", "<unknown>")), str(status.get("readyNodes", "<unknown>")),
           str(pool_booting(item)), str(pending), age(meta.get("creationTimestamp"))]
    if wide:
        row += [str(status.get("tasks", "<unknown>")), pool_decision(item)]
    return row


def job_row(item: dict) -> list[str]:
    return [item["jobId"] or "-", item["op"], item["name"], item["phase"] or "-", item.get("reason") or "", age(item.get("uploadedAt"))]


def event_rows(items: list[dict]) -> list[list[str]]:
    return [[age(e["time"]), e.get("type", ""), e["reason"], f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}", e["message"]]
            for e in items]


def indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
