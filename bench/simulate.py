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
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script (make bench) or as -m bench.simulate

from ballast.simulate import policies  # noqa: E402
from ballast.simulate.engine import Cluster  # noqa: E402
from ballast.simulate.run import simulate  # noqa: E402
from ballast.simulate.scenario_file import load  # noqa: E402
from ballast.simulate.trace import scenario_from_stats  # noqa: E402

SCENARIOS = ("seed-eks", "seed-fargate", "two-bursts", "night-trickle", "night-trickle-eks", "three-times-over")
GOAL_SEEDS = range(1, 6)
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


class Seeds:
    """A scenario's Ballast runs over several seeds: a goal is judged on the median, and the range is shown.

    One seed is one draw of start-up and boot latencies and of arrivals; a difference of a few seconds between two
    policies on one draw says more about the draw than about the policies.
    """

    def __init__(self, runs: list[dict]):
        self.runs = runs

    def values(self, pick) -> list[float]:
        return sorted(pick(run) for run in self.runs)

    def median(self, pick) -> float:
        values = self.values(pick)
        return values[len(values) // 2]

    def shown(self, pick, fmt: str) -> str:
        values = self.values(pick)
        return (f"{fmt.format(self.median(pick))} (median of {len(values)} seeds, "
                f"{fmt.format(values[0])} to {fmt.format(values[-1])})")


def ratio_goal(seeds: Seeds, scenario: str, what: str, pick, limit: float, against: str) -> None:
    goal(f"{scenario}: {what} ≤ {limit:g}× {against}", seeds.shown(pick, "×{:.3f}"), seeds.median(pick) <= limit)


def zero_goal(seeds: Seeds, text: str, key: str, unit: str = "") -> None:
    goal(text, seeds.shown(lambda run: run[key], "{:,.0f}" + unit), max(seeds.values(lambda run: run[key])) == 0)


def show_goals(by_seed: dict[str, Seeds]) -> None:
    print()
    seed = by_seed["seed-eks"]
    ratio_goal(seed, "seed-eks", "makespan", lambda r: r["vs_lower_bound"]["makespan_s"], 1.10, "lower bound")
    ratio_goal(seed, "seed-eks", "node-seconds", lambda r: r["vs_lower_bound"]["node_seconds"], 2.0, "lower bound")
    ratio_goal(seed, "seed-eks", "node-seconds", lambda r: r["vs_keda"]["node_seconds"], 0.5, "KEDA+CA")
    for key, text in (("scale_ups_on_empty", "scale-ups on empty queues"),
                      ("nodes_added_after_last_completion", "nodes added after the last completion"),
                      ("pending_beyond_boot_s", "pending task-seconds beyond a node boot")):
        zero_goal(seed, f"seed-eks: 0 {text} (every seed)", key)
    fargate = by_seed["seed-fargate"]
    ratio_goal(fargate, "seed-fargate", "makespan", lambda r: r["vs_lower_bound"]["makespan_s"], 1.10, "lower bound")
    ratio_goal(fargate, "seed-fargate", "task-seconds", lambda r: r["vs_lower_bound"]["task_seconds"], 1.3,
               "lower bound")
    two = by_seed["two-bursts"]
    ratio_goal(two, "two-bursts", "makespan", lambda r: r["vs_keda"]["makespan_s"], 1.0, "KEDA+CA")
    ratio_goal(two, "two-bursts", "node-seconds", lambda r: r["vs_keda"]["node_seconds"], 1.0, "KEDA+CA")
    for name in ("night-trickle", "night-trickle-eks"):
        night = by_seed[name]
        ratio_goal(night, name, "cost", lambda r: r["vs_keda"]["cost"], 0.25, "KEDA+CA")
        zero_goal(night, f"{name}: every image done within its 300 s bound (images late, every seed)", "late")
    over = by_seed["three-times-over"]
    ratio_goal(over, "three-times-over", "makespan", lambda r: r["vs_lower_bound"]["makespan_s"], 1.10, "lower bound")
    zero_goal(over, "three-times-over: pending only while nodes boot (task-seconds pending beyond a boot, every seed)",
              "pending_beyond_boot_s", " s")


def main() -> None:
    results, by_seed = {}, {}
    for name in SCENARIOS:
        scenario = load(name)
        show_times(f"{name} ({scenario.duration_s / 3600:g} h simulated)", timed_runs(scenario),
                   SEED_TARGET_S if name == "seed-eks" else DAY_TARGET_S)
        results[name] = simulate(scenario, list(policies.POLICIES), keep_timeline=False)
        by_seed[name] = Seeds([ballast_of(simulate(replace(scenario, seed=seed), list(policies.POLICIES),
                                                   keep_timeline=False)) for seed in GOAL_SEEDS])
    day = scenario_from_stats(synthetic_day(), platform="eks", name="synthetic-day")
    show_times(f"24-hour trace ({len(day.items()):,} items)", timed_runs(day), DAY_TARGET_S)
    results["synthetic-day"] = simulate(day, list(policies.POLICIES), keep_timeline=False)
    for result in results.values():
        show_ratios(result)
    show_goals(by_seed)


if __name__ == "__main__":
    main()
