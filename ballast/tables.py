"""How `ballast` shows objects: kubectl's tables and AGE, YAML or JSON documents, the metric summaries of TARGETS."""
from __future__ import annotations

import json
from datetime import datetime, timezone

import yaml


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


def dump(document: object, output: str) -> str:
    return json.dumps(document, indent=2) if output == "json" else yaml.safe_dump(document, sort_keys=False)


def workload_row(item: dict) -> list[str]:
    spec, status, meta = item["spec"], item.get("status") or {}, item["metadata"]
    target = spec["target"]
    reference = f"ECSService/{target.get('service')}" if target["kind"] == "ECSService" else f"Deployment/{target.get('namespace')}/{target.get('name')}"
    metrics = ",".join(metric_summaries(spec, status))
    replicas = f"{status.get('currentReplicas', 0)}"
    if spec.get("replicas") is not None:
        replicas += " (paused)"
    return [meta["name"], reference, metrics or "<none>", str(spec.get("minReplicas", 1)), str(spec["maxReplicas"]),
            str(status.get("desiredReplicas", "<unknown>")), replicas, age(meta.get("creationTimestamp"))]


def metric_summaries(spec: dict, status: dict) -> list[str]:
    """kubectl's TARGETS, current/target per metric; the controller writes status.currentMetrics in the spec's order."""
    metrics = spec.get("metrics", [])
    currents = status.get("currentMetrics") or []
    if len(currents) != len(metrics):  # not reconciled yet, or since the spec changed
        currents = [{}] * len(metrics)
    return [metric_summary(metric, current) for metric, current in zip(metrics, currents)]


def metric_summary(metric: dict, current: dict) -> str:
    kind = metric["type"]
    now = (current.get(kind.lower()) or {}).get("current") or {}
    if kind == "Backlog":
        return f"{_shown(now.get('averageValue'))}/{_number(metric['backlog']['targetPerReplica'])} (backlog/replica)"
    if kind == "Resource":
        target = metric["resource"]["target"]
        if target["type"] == "Utilization":
            return f"{metric['resource']['name']}: {_shown(now.get('averageUtilization'), '%')}/{target['averageUtilization']}%"
        return f"{metric['resource']['name']}: {_shown(now.get('averageValue'))}/{_number(target['averageValue'])}"
    if kind == "Deadline":
        return f"{_shown(now.get('value'))} queued/drain within {metric['deadline']['seconds']}s"
    target = metric["external"]["target"]
    if target["type"] == "AverageValue":
        return f"{metric['external']['metric']['name']}: {_shown(now.get('averageValue'))}/{_number(target['averageValue'])} (avg)"
    return f"{metric['external']['metric']['name']}: {_shown(now.get('value'))}/{_number(target['value'])}"


def _shown(value, unit: str = "") -> str:
    return "<unknown>" if value is None else f"{_number(value)}{unit}"


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def nodepool_row(item: dict) -> list[str]:
    spec, status, meta = item["spec"], item.get("status") or {}, item["metadata"]
    provider = spec["provider"]
    group = provider.get("autoScalingGroupName") or provider.get("nodegroup") or "-"
    instance = spec["instance"]
    shape = f"{instance.get('type') or '-'} {instance['cpuMillicores']}m/{instance['memoryMiB']}Mi"
    return [meta["name"], f"{provider['kind']}/{group}", shape, str(spec.get("minNodes", 0)), str(spec["maxNodes"]),
            str(status.get("desiredNodes", "<unknown>")), str(status.get("currentNodes", "<unknown>")), age(meta.get("creationTimestamp"))]


def job_row(item: dict) -> list[str]:
    return [item["jobId"] or "-", item["op"], item["name"], item["phase"] or "-", item.get("reason") or "", age(item.get("uploadedAt"))]


def event_rows(items: list[dict]) -> list[list[str]]:
    return [[age(e["time"]), e.get("type", ""), e["reason"], f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}", e["message"]]
            for e in items]


def indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())
