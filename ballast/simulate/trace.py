"""A scenario from what the store recorded: per-minute arrivals become items, busy time per completion the service times.

The input is what `ballast simulate --from-store` fetches (and `--trace FILE` reads): the Workloads and NodePools
as stored, and the per-minute stats ingest and completions write, `{"workload", "minute", "arrived", "done",
"failed", "busyMs"}`. A minute's arrivals are spread evenly within it (ingest tallies them, it keeps no finer
times); busyMs / (done + failed) is one minute's mean service time, weighted by its completions. A minute with no
stats at all between the first and the last is a gap: no arrivals then, and a warning line naming it.
"""
from __future__ import annotations

import json
from collections import defaultdict
from datetime import datetime, timedelta, timezone
from pathlib import Path

from ballast.simulate.scenario import Scenario
from ballast.simulate.scenario_file import scenario_from
from ballast.simulate.units import ScenarioError, seconds

STAT_FIELDS = {"workload", "minute", "arrived", "done", "failed", "busyMs", "lastArrivalAt", "queueMs"}
COUNTERS = ("arrived", "done", "failed", "busyMs")
TAIL = "30m"  # after the last recorded minute: long enough for every policy to come back to rest


def load_trace(path: str, platform: str | None = None, seed: int = 1) -> Scenario:
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ScenarioError("", f"cannot read {path}: {error.strerror}") from None
    except json.JSONDecodeError as error:
        raise ScenarioError("", f"not valid JSON: {error.msg} at line {error.lineno}", path) from None
    try:
        return scenario_from_stats(data, platform=platform, name=Path(path).stem, seed=seed)
    except ScenarioError as error:
        raise error.within(path) from None


def scenario_from_stats(data: object, platform: str | dict | None = None, name: str = "trace", seed: int = 1,
                        tail: str = TAIL) -> Scenario:
    """The scenario a store's objects and stats describe; `platform` is a kind or a platform section (default: guessed)."""
    if not isinstance(data, dict):
        raise ScenarioError("", "a trace must be a mapping with workloads, nodePools and stats")
    unknown = sorted(set(data) - {"workloads", "nodePools", "stats"})
    if unknown:
        raise ScenarioError(unknown[0], "is not a known field (workloads, nodePools, stats)")
    workloads, pools = data.get("workloads"), data.get("nodePools", [])
    if not isinstance(workloads, list) or not workloads:
        raise ScenarioError("workloads", "must be a non-empty list of Workload manifests")
    names = [(m.get("metadata") or {}).get("name") if isinstance(m, dict) else None for m in workloads]
    stats = _stats(data.get("stats"), set(filter(None, names)))
    first = min(minute for _, minute, _ in stats)
    last = max(minute for _, minute, _ in stats)
    warnings = tuple(_gaps({minute for _, minute, _ in stats}, first, last))
    arrivals, samples = [], defaultdict(lambda: ([], []))
    for workload, minute, counters in stats:
        offset = (minute - first).total_seconds()
        if counters["arrived"]:
            arrivals.append({"workload": workload, "burst": {"count": counters["arrived"], "at": offset, "over": 60}})
        finished = counters["done"] + counters["failed"]
        if finished and counters["busyMs"] > 0:
            samples[workload][0].append(counters["busyMs"] / 1000 / finished)
            samples[workload][1].append(finished)
    work = {}
    for index, workload in enumerate(names):
        if workload not in samples:
            raise ScenarioError(f"workloads[{index}]", f"no completions of {workload} in the stats to learn its "
                                                       f"service time from")
        values, weights = samples[workload]
        work[workload] = {"serviceTime": {"empirical": {"values": values, "weights": weights}}}
    if not arrivals:
        raise ScenarioError("stats", "no minute has arrivals: nothing to play")
    section = platform if isinstance(platform, dict) else {"kind": platform or _guess(workloads, pools)}
    duration = (last - first).total_seconds() + 60 + seconds(tail, "tail")
    return scenario_from({"name": name, "description": f"trace of {len(stats)} stats minutes from {first.isoformat()}",
                          "seed": seed, "start": first.isoformat(), "duration": duration, "platform": section,
                          "workloads": workloads, "nodePools": pools, "work": work, "arrivals": arrivals},
                         warnings=warnings)


def _stats(items: object, names: set[str]) -> list[tuple[str, datetime, dict]]:
    if not isinstance(items, list) or not items:
        raise ScenarioError("stats", "must be a non-empty list of per-minute stats")
    found = []
    for index, item in enumerate(items):
        where = f"stats[{index}]"
        if not isinstance(item, dict):
            raise ScenarioError(where, f"must be a mapping, got {item!r}")
        unknown = sorted(set(item) - STAT_FIELDS)
        if unknown:
            raise ScenarioError(f"{where}.{unknown[0]}", f"is not a known field ({', '.join(sorted(STAT_FIELDS))})")
        if item.get("workload") not in names:
            raise ScenarioError(f"{where}.workload", f"no workload named {item.get('workload')!r} in workloads")
        counters = {}
        for key in COUNTERS:
            value = item.get(key, 0)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0:
                raise ScenarioError(f"{where}.{key}", f"must be a number ≥ 0, got {value!r}")
            counters[key] = int(value) if key != "busyMs" else float(value)
        found.append((item["workload"], _minute(item.get("minute"), f"{where}.minute"), counters))
    return found


def _minute(value: object, path: str) -> datetime:
    try:
        minute = datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError(path, f"must be an ISO 8601 UTC minute such as 2024-05-01T12:03:00Z, got {value!r}") from None
    if minute.tzinfo is None or minute.second or minute.microsecond:
        raise ScenarioError(path, f"must be a whole minute with its UTC offset, got {value!r}")
    return minute.astimezone(timezone.utc)


def _gaps(seen: set[datetime], first: datetime, last: datetime) -> list[str]:
    """One line per run of minutes without any stats between the first minute and the last."""
    lines, minute, start = [], first, None
    while minute <= last:
        if minute not in seen and start is None:
            start = minute
        if minute in seen and start is not None:
            lines.append(_gap(start, minute - timedelta(minutes=1)))
            start = None
        minute += timedelta(minutes=1)
    return lines


def _gap(start: datetime, end: datetime) -> str:
    minutes = int((end - start).total_seconds() // 60) + 1
    span = start.strftime("%Y-%m-%dT%H:%MZ") + ("" if minutes == 1 else "–" + end.strftime("%H:%MZ"))
    return f"trace gap: no stats for {span} ({minutes} minute{'s' if minutes > 1 else ''}), played as no arrivals"


def _guess(workloads: list, pools: list) -> str:
    if not pools:
        return "fargate"
    kinds = {((m.get("spec") or {}).get("target") or {}).get("kind") for m in workloads if isinstance(m, dict)}
    return "eks" if "Deployment" in kinds else "ecs-ec2"
