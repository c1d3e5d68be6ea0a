"""decide(): proposals combined as upstream computeReplicasForMetrics, then behaviour, conditions and events."""
import ast
from dataclasses import replace
from pathlib import Path

import pytest

from chalicelib.core import backlog, decide as decide_module
from chalicelib.core.decide import decide
from chalicelib.core.types import History, Observation, QueueDepth, Recommendation, ResourceUsage
from chalicelib.model import BacklogMetric, ExternalMetric, ResourceMetric
from tests.core.fleet import NOW, ago, pods, workload

CPU = ResourceMetric("cpu", "Utilization", average_utilization=50)
EXT = ExternalMetric("AWS/SQS", "Age", "Value", value=10)
STEADY = History(recommendations=(Recommendation(4, ago(400)),))


def _conditions(decision):
    return {c.type: (c.status, c.reason) for c in decision.conditions}


@pytest.mark.parametrize("metrics, observed, want, active", [
    pytest.param((BacklogMetric(5), CPU), Observation(4, queue=QueueDepth(40), resources={"cpu": None}), 8,
                 (True, "ValidMetricFound"), id="TestScaleUpOneMetricInvalid-invalid-metric-does-not-block-scale-up"),
    pytest.param((BacklogMetric(5), CPU), Observation(4, queue=QueueDepth(5), resources={"cpu": None}), 4,
                 (False, "FailedGetResourceMetric"), id="TestScaleDownOneMetricInvalid-invalid-metric-blocks-scale-down"),
    pytest.param((BacklogMetric(5),), Observation(4, queue=None), 4, (False, "FailedGetQueueAttributes"),
                 id="TestConditionFailedGetMetrics-all-invalid-keeps-current"),
    pytest.param((BacklogMetric(5), EXT), Observation(6, ready=6, queue=QueueDepth(20), external={EXT.key: 15}), 9,
                 (True, "ValidMetricFound"), id="TestMultipleMetrics-largest-proposal-wins"),
    pytest.param((), Observation(4, queue=QueueDepth(20)), 4, (False, "NoMetricsConfigured"), id="no-metrics-hold"),
])
def test_combines_metrics_as_upstream(metrics, observed, want, active):
    decision = decide(workload(metrics=metrics), observed, STEADY, NOW)
    assert (decision.replicas, _conditions(decision)["ScalingActive"]) == (want, active)


def test_unreadable_metric_never_scales_to_zero():
    wl = workload(min_replicas=0)
    decision = decide(wl, Observation(3, queue=None), History(queue_last_nonempty_at=ago(3600)), NOW)
    assert decision.replicas == 3 and [e.reason for e in decision.events] == ["FailedGetQueueAttributes",
                                                                              "FailedComputeMetricsReplicas"]


def test_never_scales_up_on_an_empty_queue_even_when_cpu_is_hot():
    wl = workload(metrics=(BacklogMetric(5), CPU))
    observed = Observation(2, queue=QueueDepth(0), resources={"cpu": ResourceUsage(pods([990, 990], started=[ago(3600)] * 2))})
    decision = decide(wl, observed, History(queue_last_nonempty_at=ago(10)), NOW)
    assert (decision.replicas, decision.reason) == (2, decide_module.QUEUE_DRAINED)


def test_paused_workload_holds_its_count_with_scaling_disabled():
    decision = decide(workload(paused=7), Observation(3, queue=QueueDepth(500)), History(), NOW)
    assert (decision.replicas, _conditions(decision)["ScalingActive"]) == (7, (False, "ScalingDisabled"))


@pytest.mark.parametrize("current, min_replicas, want, reason", [
    pytest.param(120, 1, 100, "Current number of replicas above Spec.MaxReplicas", id="TestTooManyReplicas"),
    pytest.param(2, 3, 3, "Current number of replicas below Spec.MinReplicas", id="TestTooFewReplicas"),
])
def test_out_of_range_counts_move_straight_to_the_bound(current, min_replicas, want, reason):
    decision = decide(workload(min_replicas=min_replicas), Observation(current, queue=QueueDepth(0)), History(), NOW)
    assert (decision.replicas, decision.events[-1].message) == (want, f"New size: {want}; reason: {reason}")


@pytest.mark.parametrize("min_replicas, idle, queue, want, active", [
    # = upstream TestZeroReplicas: minReplicas 3, the target at 0 -> stays 0, ScalingActive False ScalingDisabled.
    pytest.param(3, None, QueueDepth(500), 0, (False, "ScalingDisabled"), id="TestZeroReplicas"),
    pytest.param(1, None, QueueDepth(500), 0, (False, "ScalingDisabled"), id="TestZeroReplicas-default-minimum"),
    # Only a workload that may rest at zero wakes itself: minReplicas 0 (= TestZeroMinReplicasDesiredZero's
    # counterpart), or KEDA's idleReplicaCount 0 below a minimum of 3 (= KEDA TestScaleFromIdleToMinReplicasWhenActive).
    pytest.param(0, None, QueueDepth(500), 100, (True, "ValidMetricFound"), id="min-zero-activates"),
    pytest.param(3, 0, QueueDepth(10), 3, (True, "ValidMetricFound"), id="TestScaleFromIdleToMinReplicasWhenActive"),
    # Resting at zero shows ScalingActive False, as KEDA's HPA shows a target it has scaled to zero.
    pytest.param(3, 0, QueueDepth(0), 0, (False, "ScalingDisabled"), id="TestScaleToIdleReplicasWhenNotActive-stays-idle"),
])
def test_a_target_at_zero_scales_by_itself_only_when_it_may_rest_there(min_replicas, idle, queue, want, active):
    wl = replace(workload(min_replicas=min_replicas), idle_replicas=idle)
    decision = decide(wl, Observation(0, queue=queue), History(), NOW)
    assert (decision.replicas, _conditions(decision)["ScalingActive"]) == (want, active)
    if active[1] == "ScalingDisabled" and idle is None:  # held at zero by the HPA's rule, not resting
        assert [c.message for c in decision.conditions if c.type == "ScalingActive"] == [decide_module.TARGET_AT_ZERO]


def test_rescale_is_explained_by_event_condition_and_reason():
    decision = decide(workload(), Observation(2, queue=QueueDepth(40)), STEADY, NOW)
    assert (decision.replicas, decision.reason) == (6, "ScaleUpLimit")
    assert decision.events[-1].reason == "SuccessfulRescale"
    assert decision.events[-1].message == "New size: 6; reason: backlog:thumbnail above target"
    assert _conditions(decision) == {"AbleToScale": (True, "SucceededRescale"),
                                     "ScalingActive": (True, "ValidMetricFound"),
                                     "ScalingLimited": (True, "ScaleUpLimit")}


def test_no_change_emits_no_event():
    decision = decide(workload(), Observation(4, queue=QueueDepth(20)), STEADY, NOW)
    assert decision.replicas == 4 and decision.events == ()


def test_scale_to_zero_after_cooldown_skips_the_stabilisation_window():
    history = History(recommendations=(Recommendation(5, ago(30)),), queue_last_nonempty_at=ago(301))
    decision = decide(workload(min_replicas=0), Observation(1, queue=QueueDepth(0)), history, NOW)
    assert (decision.replicas, decision.reason) == (0, backlog.DEACTIVATED)


def test_scale_events_feed_the_next_ticks_rate_limit():
    first = decide(workload(), Observation(4, queue=QueueDepth(500)), STEADY, NOW)
    second = decide(workload(), Observation(first.replicas, queue=QueueDepth(500)), first.history, ago(-5))
    assert (first.replicas, second.replicas) == (8, 8)  # 100% per 15 s: the period still remembers 4 -> 8


def test_same_inputs_same_decision():
    args = (workload(), Observation(3, queue=QueueDepth(77)), STEADY, NOW)
    assert decide(*args) == decide(*args)


def test_history_round_trips_through_json():
    import json
    decision = decide(workload(), Observation(2, queue=QueueDepth(40)), STEADY, NOW)
    assert History.from_dict(json.loads(json.dumps(decision.history.to_dict()))) == decision.history


FORBIDDEN = {"boto3", "botocore", "os", "time", "random", "requests", "socket", "subprocess"}


@pytest.mark.parametrize("path", sorted(Path("chalicelib/core").glob("*.py")), ids=lambda p: p.name)
def test_core_imports_only_stdlib_model_errors_and_itself(path):
    tree = ast.parse(path.read_text())
    names = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    names |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    bad = {n for n in names if n.split(".")[0] in FORBIDDEN or (n.startswith("chalicelib.") and n.split(".")[1]
                                                                 not in ("core", "model", "sources", "errors"))}
    assert not bad and "now()" not in path.read_text()


@pytest.mark.parametrize("observed, min_replicas, want", [
    pytest.param(Observation(0, queue=QueueDepth(0)), 0, (False, "ScalingDisabled"), id="at-zero-and-idle-as-the-hpa-shows-it"),
    pytest.param(Observation(0, queue=None), 0, (False, "FailedGetQueueAttributes"), id="at-zero-unreadable-keeps-its-reason"),
    pytest.param(Observation(0, queue=QueueDepth(12)), 0, (True, "ValidMetricFound"), id="waking-from-zero-is-active"),
    pytest.param(Observation(2, queue=QueueDepth(10)), 0, (True, "ValidMetricFound"), id="running-is-active"),
])
def test_scaling_active_is_false_while_the_target_stays_at_zero(observed, min_replicas, want):
    decision = decide(workload(min_replicas=min_replicas), observed, History(queue_last_nonempty_at=ago(3600)), NOW)
    assert _conditions(decision)["ScalingActive"] == want
