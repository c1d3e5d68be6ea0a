"""Benchmark of DESIGN.md "The simulator": its speed, and every ratio it measures against the lower bound and KEDA.

Run: .venv/bin/python bench/simulate.py — plays the five built-in scenarios under every policy and a synthetic
24-hour trace, and prints
- the time each policy's run took (wall and CPU), against the targets: the seed burst (one simulated hour) in ≤ 2 s
  per policy, the 24-hour trace in ≤ 10 s per policy;
- per scenario and policy, makespan, p50/p95 latency, node-seconds, task-seconds and cost as ratios to the lower
  bound and to KEDA + cluster-autoscaler, measured in the same run;
- the goals the decision core must reach, one `goal: <text>  measured <value>  <met|NOT met>` line each.
"""
import math
import random
import sys
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script (make bench) or as -m bench.simulate

from ballast.simulate import policies  # noqa: E402
from ballast.simulate.engine import Cluster  # noqa: E402
from ballast.simulate.run import simulate  # noqa: E402
from ballast.simulate.scenario import load  # noqa: E402
from ballast.simulate.trace import scenario_from_stats  # noqa: E402

SCENARIOS = ("seed-eks", "seed-fargate", "two-bursts", "night-trickle", "three-times-over")
SEED_TARGET_S = 2.0
DAY_TARGET_S = 10.0
COLUMNS = (("makespan_s", "makespan"), ("p50_s", "p50"), ("p95_s", "p95"), ("node_seconds", "node-s"),
           ("task_seconds", "task-s"), ("cost", "cost"))


def synthetic_day() -> dict:
    """A day of the photo pipeline as the store would hold it: a night trickle, a working day, three bursts."""
    seed = load("seed-eks")
    rng = random.Random(24)
    start = datetime(2024, 5, 1, tzinfo=timezone.utc)
    means = {"photos-grayscale": 1.2, "photos-thumbnail": 0.6, "photos-watermark": 1.2}
    shares = {"photos-grayscale": 0.4, "photos-thumbnail": 0.4, "photos-watermark": 0.2}
    bursts = {9 * 60: 3000, 13 * 60 + 30: 5000, 18 * 60: 2000}  # minute of the day → images over two minutes
    stats = []
    for minute in range(24 * 60):
        hour = minute / 60
        per_minute = 1 + 40 * max(0.0, math.sin(math.pi * (hour - 7) / 14)) if 7 <= hour <= 21 else 1
        per_minute += bursts.get(minute, 0) / 2 + bursts.get(minute - 1, 0) / 2
        for name, share in shares.items():
            arrived = sum(1 for _ in range(int(per_minute * 3)) if rng.random() < share / 3)
            if not arrived:
                continue
            busy_ms = sum(rng.lognormvariate(math.log(means[name]) - 0.03, 0.25) for _ in range(arrived)) * 1000
            stats.append({"workload": name, "minute": (start + timedelta(minutes=minute)).isoformat(),
                          "arrived": arrived, "done": arrived, "busyMs": round(busy_ms)})
    return {"workloads": list(seed.workload_manifests), "nodePools": list(seed.pool_manifests), "stats": stats}


def timed_runs(scenario) -> dict[str, tuple[float, float]]:
    """Each policy's run alone, as (wall s, CPU s): CPU too, since the wall clock of a shared machine has neighbours."""
    times = {}
    for name in policies.POLICIES:
        policy = policies.make(name, scenario)
        wall, cpu = time.perf_counter(), time.process_time()
        Cluster(scenario, keep_timeline=False).run(policy)
        times[name] = (time.perf_counter() - wall, time.process_time() - cpu)
    return times


def show_times(label: str, times: dict, target_s: float) -> None:
    worst = max(cpu for _, cpu in times.values())
    cells = ", ".join(f"{name} {wall:.2f} s ({cpu:.2f} s CPU)" for name, (wall, cpu) in times.items())
    print(f"time {label}: {cells}; target ≤ {target_s:g} s per policy: "
          f"{'met' if worst <= target_s else 'NOT met'} (slowest {worst:.2f} s CPU)")


def show_ratios(result: dict) -> None:
    print(f"\n{result['scenario']} on {result['platform']}: {result['items']:,} items")
    for run in result["runs"]:
        lower, keda = run["vs_lower_bound"], run.get("vs_keda", {})
        cells = []
        for key, label in COLUMNS:
            value = run[key]
            shown = "unfinished" if value is None else (f"${value:.3f}" if key == "cost" else f"{value:,.0f}")
            cells.append(f"{label} {shown} ({_x(lower.get(key))} LB, {_x(keda.get(key))} KEDA)")
        print(f"  {run['policy']:<16} " + "; ".join(cells))


def _x(ratio: float | None) -> str:
    return "—" if ratio is None else f"×{ratio:.2f}"


def goal(text: str, measured: str, met: bool) -> None:
    print(f"goal: {text}  measured {measured}  {'met' if met else 'NOT met'}")


def ballast_of(result: dict) -> dict:
    return next(run for run in result["runs"] if run["policy"] == "ballast")


def keda_of(result: dict) -> dict:
    return next(run for run in result["runs"] if run["policy"] == "keda")


def ratio_goal(scenario: str, what: str, value: float | None, limit: float, against: str) -> None:
    shown = "—" if value is None else f"×{value:.3f}"
    goal(f"{scenario}: {what} ≤ {limit:g}× {against}", shown, value is not None and value <= limit)


def show_goals(results: dict) -> None:
    print()
    seed = ballast_of(results["seed-eks"])
    ratio_goal("seed-eks", "makespan", seed["vs_lower_bound"]["makespan_s"], 1.10, "lower bound")
    ratio_goal("seed-eks", "node-seconds", seed["vs_lower_bound"]["node_seconds"], 2.0, "lower bound")
    ratio_goal("seed-eks", "node-seconds", seed["vs_keda"]["node_seconds"], 0.5, "KEDA+CA")
    for key, text in (("scale_ups_on_empty", "scale-ups on empty queues"),
                      ("nodes_added_after_last_completion", "nodes added after the last completion"),
                      ("pending_beyond_boot_s", "pending task-seconds beyond a node boot")):
        goal(f"seed-eks: 0 {text}", f"{seed[key]:,.0f}", seed[key] == 0)
    fargate = ballast_of(results["seed-fargate"])
    ratio_goal("seed-fargate", "makespan", fargate["vs_lower_bound"]["makespan_s"], 1.10, "lower bound")
    ratio_goal("seed-fargate", "task-seconds", fargate["vs_lower_bound"]["task_seconds"], 1.3, "lower bound")
    two = ballast_of(results["two-bursts"])
    ratio_goal("two-bursts", "makespan", two["vs_keda"]["makespan_s"], 1.0, "KEDA+CA")
    ratio_goal("two-bursts", "node-seconds", two["vs_keda"]["node_seconds"], 1.0, "KEDA+CA")
    night = ballast_of(results["night-trickle"])
    ratio_goal("night-trickle", "cost", night["vs_keda"]["cost"], 0.25, "KEDA+CA")
    goal("night-trickle: every image done within its 300 s bound",
         f"{night['late']} late of {night['items']}", night["late"] == 0 and night["unfinished"] == 0)
    over = ballast_of(results["three-times-over"])
    ratio_goal("three-times-over", "makespan", over["vs_lower_bound"]["makespan_s"], 1.10, "lower bound")
    goal("three-times-over: pending only while nodes boot (pending task-seconds beyond a node boot = 0)",
         f"{over['pending_beyond_boot_s']:,.0f} s", over["pending_beyond_boot_s"] == 0)


def main() -> None:
    results = {}
    for name in SCENARIOS:
        scenario = load(name)
        show_times(f"{name} ({scenario.duration_s / 3600:g} h simulated)", timed_runs(scenario),
                   SEED_TARGET_S if name == "seed-eks" else DAY_TARGET_S)
        results[name] = simulate(scenario, list(policies.POLICIES), keep_timeline=False)
    day = scenario_from_stats(synthetic_day(), platform="eks", name="synthetic-day")
    show_times(f"24-hour trace ({len(day.items()):,} items)", timed_runs(day), DAY_TARGET_S)
    results["synthetic-day"] = simulate(day, list(policies.POLICIES), keep_timeline=False)
    for result in results.values():
        show_ratios(result)
    show_goals(results)


if __name__ == "__main__":
    main()
