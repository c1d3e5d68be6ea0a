"""`--sweep PATH=V1,V2,...`: one parameter of the Workloads over several values, and the cost/makespan trade-off.

PATH points into a Workload manifest (`spec.metrics[0].backlog.targetPerReplica`) and applies to every Workload,
or to one when prefixed with its name (`photos-thumbnail:spec.maxReplicas`). Each value is checked as the API
checks a manifest. A run is marked when no other run of the sweep is at least as good on both cost and makespan
and better on one (it is on the Pareto front).
"""
from __future__ import annotations

import copy
import re
from dataclasses import dataclass, replace

import yaml

from chalicelib.errors import SpecError
from chalicelib.spec import parse_spec

from ballast.simulate.scenario import Scenario
from ballast.simulate.units import ScenarioError

_SEGMENT = re.compile(r"^([A-Za-z_][A-Za-z0-9_]*)((?:\[\d+\])*)$")


@dataclass(frozen=True)
class Sweep:
    text: str  # PATH as written, for the report
    workload: str | None
    path: tuple  # keys and list indexes
    values: tuple

    @property
    def label(self) -> str:
        return self.text.split("=", 1)[0]


def parse(spec: str) -> Sweep:
    if "=" not in spec:
        raise ScenarioError("--sweep", f"must be PATH=V1,V2,... such as spec.maxReplicas=8,16, got {spec!r}")
    target, raw = spec.split("=", 1)
    workload, _, path = target.rpartition(":")
    keys: list = []
    for segment in path.split("."):
        match = _SEGMENT.match(segment)
        if not match:
            raise ScenarioError("--sweep", f"{path!r} is not a path such as spec.metrics[0].backlog.targetPerReplica")
        keys.append(match.group(1))
        keys.extend(int(i) for i in re.findall(r"\[(\d+)\]", match.group(2)))
    values = tuple(yaml.safe_load(v) for v in raw.split(",") if v.strip())
    if not values:
        raise ScenarioError("--sweep", f"no values after '=' in {spec!r}")
    return Sweep(spec, workload or None, tuple(keys), values)


def apply(scenario: Scenario, sweep: Sweep, value) -> Scenario:
    """The scenario with `value` set at the sweep's path of each targeted Workload, validated as the API would."""
    names = [m["metadata"]["name"] for m in scenario.workload_manifests]
    if sweep.workload is not None and sweep.workload not in names:
        raise ScenarioError("--sweep", f"no workload named {sweep.workload!r} (one of {', '.join(names)})")
    manifests = []
    for manifest in scenario.workload_manifests:
        name = manifest["metadata"]["name"]
        if sweep.workload not in (None, name):
            manifests.append(manifest)
            continue
        changed = copy.deepcopy(manifest)
        node = changed
        for depth, key in enumerate(sweep.path[:-1]):
            node = _step(node, key, sweep, depth, name)
        _set(node, sweep.path[-1], value, sweep, name)
        try:
            manifests.append(parse_spec("Workload", changed))
        except SpecError as error:
            raise ScenarioError("--sweep", f"{name}: {sweep.label}={value!r} makes {error.field} invalid: "
                                           f"{error.rule}") from None
    return replace(scenario, workload_manifests=tuple(manifests))


def _step(node, key, sweep: Sweep, depth: int, name: str):
    try:
        return node[key]
    except (KeyError, IndexError, TypeError):
        prefix = _shown(sweep.path[:depth + 1])
        raise ScenarioError("--sweep", f"{prefix} is not in workload {name}'s manifest") from None


def _set(node, key, value, sweep: Sweep, name: str) -> None:
    if isinstance(key, int) and (not isinstance(node, list) or key >= len(node)):
        raise ScenarioError("--sweep", f"{_shown(sweep.path)} is not in workload {name}'s manifest")
    if isinstance(key, str) and not isinstance(node, dict):
        raise ScenarioError("--sweep", f"{_shown(sweep.path[:-1])} of workload {name} holds no fields")
    node[key] = value


def _shown(path: tuple) -> str:
    text = ""
    for key in path:
        text += f"[{key}]" if isinstance(key, int) else (f".{key}" if text else key)
    return text


def pareto(points: list[tuple[float | None, float | None]]) -> list[bool]:
    """For (cost, makespan) pairs: True where no other pair is ≤ on both and < on one (None: unfinished, worst)."""
    def worst(value):
        return float("inf") if value is None else value

    cleaned = [(worst(c), worst(m)) for c, m in points]
    return [not any(o[0] <= p[0] and o[1] <= p[1] and o != p for o in cleaned) for p in cleaned]
