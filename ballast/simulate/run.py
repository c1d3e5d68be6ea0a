"""Plays one scenario under each chosen policy, on identical work, and puts each run beside the lower bound and KEDA."""
from __future__ import annotations

import time

from ballast.simulate import measure
from ballast.simulate.engine import Cluster
from ballast.simulate.policies import make
from ballast.simulate.scenario import Scenario

REFERENCE = "keda"  # the peer the goals are stated against: KEDA + cluster-autoscaler
DECISIONS_KEPT = 500  # the Ballast run's rescales and resizes kept in the JSON, first ones first


def play(scenario: Scenario, name: str, keep_timeline: bool = True) -> tuple[dict, Cluster]:
    """One run: the policy's summary and the cluster it left (for the lower bound's work and the plot)."""
    policy = make(name, scenario)
    cluster = Cluster(scenario, keep_timeline)
    began = time.perf_counter()
    cluster.run(policy)
    summary = measure.summarize(cluster, policy, time.perf_counter() - began)
    if keep_timeline:
        summary["timeline"] = cluster.record.timeline
    if hasattr(policy, "log"):
        summary["ticks"], summary["invocations"] = policy.ticks, policy.invocations
        summary["decisions"] = policy.log[:DECISIONS_KEPT]
    return summary, cluster


def simulate(scenario: Scenario, names: list[str], keep_timeline: bool = True) -> dict:
    """Every chosen policy's run, each with its ratios to the lower bound (always played) and to KEDA (if played)."""
    runs, cluster = {}, None
    for name in dict.fromkeys(names + ["lower-bound"]):
        runs[name], cluster = play(scenario, name, keep_timeline and name in names)
    bound = runs["lower-bound"]
    lower = {"makespan_s": bound["makespan_s"], "p50_s": bound["p50_s"], "p95_s": bound["p95_s"],
             **measure.lower_bound_costs(cluster)}
    for summary in runs.values():
        summary["vs_lower_bound"] = {c: measure.ratio(summary[c], lower[c]) for c in measure.COLUMNS}
        if REFERENCE in runs:
            summary["vs_keda"] = {c: measure.ratio(summary[c], runs[REFERENCE][c]) for c in measure.COLUMNS}
    if "lower-bound" in names:
        # The bound's own costs are the work's, not its run's (a fleet up from time zero is no bound on cost).
        runs["lower-bound"].update({c: lower[c] for c in ("node_seconds", "task_seconds", "cost")})
        runs["lower-bound"]["vs_lower_bound"] = {c: 1.0 for c in measure.COLUMNS}
    return {
        "scenario": scenario.name, "description": scenario.description, "seed": scenario.seed,
        "platform": scenario.platform.kind, "duration_s": scenario.duration_s, "items": len(cluster.arrival_t),
        "warnings": list(scenario.warnings), "lower_bound": lower,
        "runs": [runs[name] for name in names],
    }
