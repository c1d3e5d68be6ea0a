"""Traces from the store's stats, and sweeps of a Workload field with the cost/makespan front."""
import re

import pytest

from ballast.simulate import sweep
from ballast.simulate.scenario_file import load
from ballast.simulate.trace import scenario_from_stats
from ballast.simulate.units import ScenarioError
from tests.ballast.simulate import builders


def stats(*rows):
    return [{"workload": w, "minute": m, **counters} for w, m, counters in rows]


def trace(rows, workloads=None):
    return {"workloads": workloads or [builders.workload()], "nodePools": [builders.pool()], "stats": stats(*rows)}


def test_a_minutes_arrivals_are_spread_evenly_within_it():
    scenario = scenario_from_stats(trace([("photos", "2024-05-01T12:00:00Z", {"arrived": 4, "done": 4,
                                                                             "busyMs": 8000})]))
    assert [t for t, _ in scenario.items()] == [0.0, 15.0, 30.0, 45.0]
    assert scenario.start.isoformat() == "2024-05-01T12:00:00+00:00"


def test_service_times_are_busy_time_per_completion_weighted_by_completions():
    scenario = scenario_from_stats(trace([
        ("photos", "2024-05-01T12:00:00Z", {"arrived": 10, "done": 3, "failed": 1, "busyMs": 8000}),  # 2 s × 4
        ("photos", "2024-05-01T12:01:00Z", {"done": 4, "busyMs": 20000}),  # 5 s × 4
    ]))
    assert scenario.work["photos"].service_time.mean == pytest.approx(3.5)


def test_minutes_with_no_stats_between_the_first_and_the_last_are_named():
    scenario = scenario_from_stats(trace([
        ("photos", "2024-05-01T12:00:00Z", {"arrived": 1, "done": 1, "busyMs": 1000}),
        ("photos", "2024-05-01T12:04:00Z", {"arrived": 1}),
        ("photos", "2024-05-01T12:06:00Z", {"arrived": 1}),
    ]))
    assert scenario.warnings == (
        "trace gap: no stats for 2024-05-01T12:01Z–12:03Z (3 minutes), played as no arrivals",
        "trace gap: no stats for 2024-05-01T12:05Z (1 minute), played as no arrivals",
    )


@pytest.mark.parametrize("row, says", [
    pytest.param(("photos", "2024-05-01T12:00:30Z", {"arrived": 1}), "stats[0].minute: must be a whole minute",
                 id="not-a-minute"),
    pytest.param(("videos", "2024-05-01T12:00:00Z", {"arrived": 1}), "stats[0].workload: no workload named",
                 id="unknown-workload"),
    pytest.param(("photos", "2024-05-01T12:00:00Z", {"arrived": -1}), "stats[0].arrived: must be a number ≥ 0",
                 id="negative-count"),
    pytest.param(("photos", "2024-05-01T12:00:00Z", {"arrived": 3}), "no completions of photos",
                 id="nothing-to-learn-service-time-from"),
])
def test_a_bad_trace_is_an_error_naming_the_path(row, says):
    with pytest.raises(ScenarioError, match=re.escape(says)):
        scenario_from_stats(trace([row]))


def test_a_sweep_sets_the_path_in_every_workload_and_validates_as_the_api():
    scenario = load("seed-eks")
    chosen = sweep.parse("spec.metrics[0].backlog.targetPerReplica=10,200")
    swept = sweep.apply(scenario, chosen, 200)
    assert {m["spec"]["metrics"][0]["backlog"]["targetPerReplica"] for m in swept.workload_manifests} == {200}
    with pytest.raises(ScenarioError, match=r"--sweep: photos-grayscale: .*targetPerReplica"):
        sweep.apply(scenario, chosen, -5)


def test_a_sweep_with_a_workload_prefix_touches_that_workload_only():
    scenario = load("seed-eks")
    swept = sweep.apply(scenario, sweep.parse("photos-thumbnail:spec.maxReplicas=4"), 4)
    assert [m["spec"]["maxReplicas"] for m in swept.workload_manifests] == [16, 4, 8]


@pytest.mark.parametrize("text, says", [
    pytest.param("spec.maxReplicas", "must be PATH=V1,V2", id="no-values"),
    pytest.param("spec..x=1", "is not a path", id="bad-path"),
])
def test_a_bad_sweep_is_a_usage_error(text, says):
    with pytest.raises(ScenarioError, match=says):
        sweep.parse(text)


def test_a_sweep_path_not_in_the_manifest_is_named():
    with pytest.raises(ScenarioError, match=r"spec\.metrics\[3\] is not in workload photos-grayscale's manifest"):
        sweep.apply(load("seed-eks"), sweep.parse("spec.metrics[3].backlog.targetPerReplica=5"), 5)


@pytest.mark.parametrize("points, want", [
    pytest.param([(1.0, 100), (2.0, 50), (3.0, 60)], [True, True, False], id="third-beaten-by-second"),
    pytest.param([(1.0, 100), (1.0, 100)], [True, True], id="ties-beat-nobody"),
    pytest.param([(1.0, None), (2.0, 90)], [True, True], id="unfinished-is-slowest-but-cheapest"),
    pytest.param([(1.0, 100), (1.0, 90)], [False, True], id="as-cheap-and-faster-beats"),
])
def test_the_front_marks_runs_no_other_run_beats_on_both(points, want):
    assert sweep.pareto(points) == want
