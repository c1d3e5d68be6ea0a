"""Reading a scenario: a built-in by name or a YAML path, checked completely before anything runs.

Every error names the path in the file that breaks a rule, as the API names the field of a manifest.
"""
from __future__ import annotations

import math
from datetime import datetime, timezone
from pathlib import Path

import yaml

from chalicelib.errors import SpecError
from chalicelib.model import ExternalMetric, workload_from
from chalicelib.spec import parse_spec

from ballast.simulate.arrivals import arrivals_from
from ballast.simulate.platform import Platform, platform_from
from ballast.simulate.policies import baseline_settings
from ballast.simulate.scenario import BUILT_IN, DEFAULT_START, TOP_LEVEL, WORK_FIELDS, Scenario, Work
from ballast.simulate.units import ScenarioError, distribution, seconds


def load(name_or_path: str) -> Scenario:
    """A built-in scenario by name (`seed-eks`) or a YAML file by path."""
    path = Path(name_or_path)
    if not path.suffix and not path.exists():
        path = BUILT_IN / f"{name_or_path}.yaml"
        if not path.exists():
            names = ", ".join(built_in_names())
            raise ScenarioError("", f"no scenario named {name_or_path!r} (built in: {names}) and no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise ScenarioError("", f"cannot read {path}: {error.strerror}") from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as error:
        raise ScenarioError("", f"not valid YAML: {str(error).splitlines()[0]}", str(path)) from None
    try:
        return scenario_from(data, default_name=path.stem)
    except ScenarioError as error:
        raise error.within(str(path)) from None


def built_in_names() -> list[str]:
    return sorted(p.stem for p in BUILT_IN.glob("*.yaml"))


def scenario_from(data: object, default_name: str = "scenario", warnings: tuple[str, ...] = ()) -> Scenario:
    if not isinstance(data, dict):
        raise ScenarioError("", f"a scenario must be a mapping of {', '.join(sorted(TOP_LEVEL))}")
    unknown = sorted(set(data) - TOP_LEVEL)
    if unknown:
        raise ScenarioError(unknown[0], f"is not a known field ({', '.join(sorted(TOP_LEVEL))})")
    for required in ("platform", "workloads", "work", "arrivals"):
        if required not in data:
            raise ScenarioError(required, "is required")
    platform = platform_from(data["platform"])
    pools = _manifests("NodePool", data.get("nodePools", []), "nodePools")
    workloads = _manifests("Workload", data["workloads"], "workloads")
    _check_workloads(workloads, pools, platform)
    for index, pool in enumerate(pools):
        spec = pool["spec"]
        platform.node_price(spec["instance"].get("type", ""), spec["instance"].get("pricePerHour", 0),
                            f"nodePools[{index}].spec.instance.type")
    names = [m["metadata"]["name"] for m in workloads]
    work = _work(data["work"], names)
    duration = seconds(data.get("duration", "1h"), "duration", allow_zero=False)
    arrivals = arrivals_from(data["arrivals"], names, duration)
    seed = data.get("seed", 1)
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ScenarioError("seed", f"must be a whole number, got {seed!r}")
    return Scenario(
        name=str(data.get("name", default_name)), platform=platform, workload_manifests=tuple(workloads),
        pool_manifests=tuple(pools), work=work, arrivals=arrivals, duration_s=duration, start=_start(data),
        seed=seed, description=str(data.get("description", "")),
        baselines=baseline_settings(data.get("baselines", {}), "baselines"), warnings=warnings)


def _start(data: dict) -> datetime:
    value = data.get("start", DEFAULT_START)
    try:
        start = value if isinstance(value, datetime) else datetime.fromisoformat(str(value).replace("Z", "+00:00"))
    except ValueError:
        raise ScenarioError("start", f"must be an ISO 8601 time such as {DEFAULT_START}, got {value!r}") from None
    if start.tzinfo is None:
        raise ScenarioError("start", f"must carry its UTC offset, such as {DEFAULT_START}, got {value!r}")
    return start.astimezone(timezone.utc)


def _manifests(kind: str, items: object, path: str) -> list[dict]:
    if not isinstance(items, list) or (kind == "Workload" and not items):
        raise ScenarioError(path, f"must be a {'non-empty ' if kind == 'Workload' else ''}list of {kind} manifests")
    parsed = []
    for index, manifest in enumerate(items):
        try:
            parsed.append(parse_spec(kind, manifest))
        except SpecError as error:
            raise ScenarioError(f"{path}[{index}].{error.field}", error.rule) from None
    seen = set()
    for index, manifest in enumerate(parsed):
        name = manifest["metadata"]["name"]
        if name in seen:
            raise ScenarioError(f"{path}[{index}].metadata.name", f"{name!r} is already used by another {kind}")
        seen.add(name)
    return parsed


def _check_workloads(workloads: list[dict], pools: list[dict], platform: Platform) -> None:
    pool_names = {p["metadata"]["name"] for p in pools}
    for index, manifest in enumerate(workloads):
        spec, where = manifest["spec"], f"workloads[{index}].spec"
        if "queue" not in spec:
            raise ScenarioError(f"{where}.queue", "is required: the simulator plays queued items")
        for m, metric in enumerate(workload_from(manifest).metrics):
            if isinstance(metric, ExternalMetric):
                raise ScenarioError(f"{where}.metrics[{m}]", "External (CloudWatch) metrics cannot be simulated")
        named = spec.get("nodePools", [])
        if not platform.has_nodes and named:
            raise ScenarioError(f"{where}.nodePools", f"must be empty on fargate, got {named}")
        if platform.has_nodes and not named:
            raise ScenarioError(f"{where}.nodePools", f"must name a NodePool on {platform.kind}")
        for n, name in enumerate(named):
            if name not in pool_names:
                raise ScenarioError(f"{where}.nodePools[{n}]", f"no NodePool named {name!r} in nodePools")


def _work(section: object, names: list[str]) -> dict[str, Work]:
    if not isinstance(section, dict):
        raise ScenarioError("work", "must map each workload's name to its serviceTime")
    for name in section:
        if name not in names:
            raise ScenarioError(f"work.{name}", f"no workload named {name!r} in workloads")
    work = {}
    for name in names:
        where = f"work.{name}"
        entry = section.get(name)
        if not isinstance(entry, dict):
            raise ScenarioError(where, "is required: {serviceTime: ...} for every workload")
        unknown = sorted(set(entry) - WORK_FIELDS)
        if unknown:
            raise ScenarioError(f"{where}.{unknown[0]}", f"is not a known field ({', '.join(sorted(WORK_FIELDS))})")
        if "serviceTime" not in entry:
            raise ScenarioError(f"{where}.serviceTime", "is required")
        bound = entry.get("latencyBound")
        work[name] = Work(distribution(entry["serviceTime"], f"{where}.serviceTime"),
                          _amount(entry.get("cpuBusyMillicores", 250), f"{where}.cpuBusyMillicores"),
                          _amount(entry.get("cpuIdleMillicores", 5), f"{where}.cpuIdleMillicores"),
                          _amount(entry.get("memoryUsedMiB", 256), f"{where}.memoryUsedMiB"),
                          None if bound is None else seconds(bound, f"{where}.latencyBound", allow_zero=False))
    return work


def _amount(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
        raise ScenarioError(path, f"must be a number ≥ 0, got {value!r}")
    return float(value)
