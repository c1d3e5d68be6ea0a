"""What the demo's batch would have cost in AWS: the simulator plays the same uploads, at the service times the run
measured, on the seed's Fargate and EKS shapes, under Ballast and under KEDA with cluster-autoscaler."""
from __future__ import annotations

from datetime import datetime

import yaml

from ballast.simulate.run import simulate
from ballast.simulate.scenario import BUILT_IN
from ballast.simulate.scenario_file import scenario_from

SHAPES = {"Fargate": "seed-fargate", "EKS": "seed-eks"}
POLICIES = ("ballast", "keda")
TAIL_S = 1800  # after the last upload: long enough for every policy to come back to rest


def estimate(jobs: list[dict], uploads: dict[str, float]) -> list[dict]:
    """[{platform, policy, makespan_s, cost}] for the run's finished jobs; [] when no job measured a service time."""
    first = min(uploads.values(), default=0.0)
    times: dict[str, list[float]] = {}
    durations: dict[str, list[float]] = {}
    for job in jobs:
        key, status = job["spec"].get("key"), job["status"]
        if key not in uploads or status.get("durationMs") is None:
            continue
        workload = f"photos-{job['spec']['op']}"
        times.setdefault(workload, []).append(round(uploads[key] - first, 3))
        durations.setdefault(workload, []).append(max(status["durationMs"] / 1000, 0.001))
    if not durations:
        return []
    rows = []
    for platform, shape in SHAPES.items():
        result = simulate(scenario_from(_scenario(shape, times, durations), default_name=f"demo-{shape}"),
                          list(POLICIES), keep_timeline=False)
        rows += [{"platform": platform, "policy": run["policy"], "makespan_s": run["makespan_s"], "cost": run["cost"]}
                 for run in result["runs"] if run["policy"] in POLICIES]
    return rows


def _scenario(shape: str, times: dict[str, list[float]], durations: dict[str, list[float]]) -> dict:
    data = yaml.safe_load((BUILT_IN / f"{shape}.yaml").read_text())
    known = {(w.get("metadata") or {}).get("name") for w in data["workloads"]}
    data["workloads"] = [w for w in data["workloads"] if w["metadata"]["name"] in durations]
    data["work"] = {name: {**data["work"][name], "serviceTime": {"empirical": values}}
                    for name, values in durations.items() if name in known}
    data["arrivals"] = [{"workload": name, "times": sorted(times[name])} for name in data["work"]]
    data["duration"] = max(max(t) for t in times.values()) + TAIL_S
    data["name"], data["start"] = f"demo-{shape}", datetime(2024, 5, 1).isoformat() + "+00:00"
    return data
