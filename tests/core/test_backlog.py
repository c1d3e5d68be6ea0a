"""KEDA-style queue scaling of core/backlog.py and core/external.py."""
from dataclasses import replace
from datetime import timedelta

import pytest

from chalicelib.core import backlog, external
from chalicelib.core.decide import decide
from chalicelib.core.types import History, Observation, QueueDepth, Recommendation
from chalicelib.model import BacklogMetric, ExternalMetric, ObjectMetric
from tests.core.fleet import NOW, ago, workload


def _propose(current, queue, history=History(), **kwargs):
    wl = workload(min_replicas=0, **kwargs)
    return backlog.propose(wl, wl.metrics[0], Observation(replicas=current, queue=queue), history, NOW)


@pytest.mark.parametrize("current, queue, history, want, reason", [
    # KEDA aws_sqs_queue_scaler.go GetMetricsAndActivity: active above activationQueueLength (0), so any message.
    pytest.param(0, QueueDepth(1), History(), 1, backlog.ACTIVATED, id="GetMetricsAndActivity-any-backlog-activates"),
    # Ballast's Sized activation (README, design notes); KEDA's Paced one is TestScaleFromMinReplicasWhenActive below.
    pytest.param(0, QueueDepth(420), History(), 84, backlog.ACTIVATED, id="Sized-activation-asks-for-the-whole-backlog"),
    pytest.param(0, QueueDepth(0), History(), 0, backlog.NOT_ACTIVE, id="GetMetricsAndActivity-empty-is-inactive"),
    pytest.param(4, QueueDepth(40, in_flight=10), History(), 10, backlog.ABOVE_TARGET,
                 id="TestAWSSQSScalerGetMetrics-in-flight-counts"),
    # The HPA beneath KEDA: GetExternalPerPodMetricReplicas, 48 over 10 x 5 is within the 10 % tolerance.
    pytest.param(10, QueueDepth(48), History(), 10, backlog.WITHIN_TOLERANCE,
                 id="GetExternalPerPodMetricReplicas-within-tolerance"),
    # KEDA's HPA has minReplicas max(minReplicaCount, 1): an active queue keeps one replica.
    pytest.param(10, QueueDepth(5), History(), 1, backlog.BELOW_TARGET, id="keda-hpa-floor-of-one-while-active"),
    pytest.param(3, QueueDepth(0), History(queue_last_nonempty_at=ago(120)), 1, backlog.COOLDOWN,
                 id="scaleToZeroOrIdle-inside-the-cooldown-keeps-the-hpa-floor"),
    # KEDA's scaleToZeroOrIdle scales in once lastActiveTime + cooldownPeriod is Before(now): not at the boundary.
    pytest.param(3, QueueDepth(0), History(queue_last_nonempty_at=ago(300)), 1, backlog.COOLDOWN,
                 id="scaleToZeroOrIdle-at-the-cooldown-boundary-still-cools-down"),
    pytest.param(3, QueueDepth(0), History(queue_last_nonempty_at=ago(301)), 0, backlog.DEACTIVATED,
                 id="scaleToZeroOrIdle-strictly-after-the-cooldown-goes-to-zero"),
    pytest.param(3, QueueDepth(0, delayed=7), History(queue_last_nonempty_at=ago(900)), 0, backlog.DEACTIVATED,
                 id="parseAwsSqsQueueMetadata-scaleOnDelayed-default-false"),
    pytest.param(3, None, History(), 3, backlog.FAILED_GET_QUEUE_ATTRIBUTES,
                 id="TestAWSSQSScalerGetMetrics-sqs-api-error-is-invalid"),
])
def test_proposes_backlog_per_replica_keda_style(current, queue, history, want, reason):
    proposal = _propose(current, queue, history)
    assert (proposal.replicas, proposal.reason) == (want, reason)


def test_delayed_messages_count_when_configured():
    assert _propose(0, QueueDepth(0, delayed=7), include_delayed=True).replicas == 2


def test_activation_threshold_holds_a_small_backlog_at_zero():
    assert _propose(0, QueueDepth(3), metrics=(BacklogMetric(5, activation_threshold=3),)).replicas == 0


def test_scales_to_zero_only_after_cooldown():
    wl = workload(min_replicas=0, cooldown_s=300)
    history, replicas = History(), []
    for tick, depth in enumerate([50, 0, 0, 0, 0, 0, 0, 0]):
        observed = Observation(replicas=replicas[-1] if replicas else 10, queue=QueueDepth(depth))
        decision = decide(wl, observed, history, NOW.replace(minute=tick))
        history, replicas = decision.history, replicas + [decision.replicas]
    # Last seen non-empty at minute 0: at minute 5 exactly 300 s have passed, not more (KEDA compares with Before):
    # zero at minute 6.
    assert replicas.index(0) == 6


def test_in_flight_work_resets_the_cooldown():
    wl = workload(min_replicas=0)
    history = backlog.remember(wl, Observation(2, queue=QueueDepth(0, in_flight=1)), History(), ago(10))
    assert _propose(2, QueueDepth(0), history).reason == backlog.COOLDOWN


def test_a_trickle_drained_between_ticks_keeps_its_replica():
    """Every tick reads an empty queue, yet an upload arrived since the last one: the work still flows."""
    wl = workload(min_replicas=0, cooldown_s=60)
    history, replicas = History(queue_last_nonempty_at=NOW), []
    for tick in range(1, 13):  # three minutes of 15 s ticks, an upload 5 s before each
        now = NOW + timedelta(seconds=15 * tick)
        observed = Observation(1, queue=QueueDepth(0), last_arrival_at=now - timedelta(seconds=5))
        decision = decide(wl, observed, history, now)
        history, replicas = decision.history, replicas + [decision.replicas]
    assert replicas == [1] * 12
    assert history.queue_last_nonempty_at == NOW + timedelta(seconds=175)


def test_once_the_trickle_stops_the_cooldown_runs_from_the_last_arrival():
    wl = workload(min_replicas=0, cooldown_s=60)
    last_upload = NOW - timedelta(seconds=50)
    observed = Observation(1, queue=QueueDepth(0), last_arrival_at=last_upload)
    history = History(queue_last_nonempty_at=NOW - timedelta(seconds=120))
    assert decide(wl, observed, history, NOW).replicas == 1
    assert decide(wl, observed, history, NOW + timedelta(seconds=10)).replicas == 1  # exactly 60 s: not yet
    assert decide(wl, observed, history, NOW + timedelta(seconds=11)).replicas == 0


def test_an_arrival_older_than_the_anchor_moves_nothing():
    wl = workload(min_replicas=0)
    history = History(queue_last_nonempty_at=ago(10))
    observed = Observation(1, queue=QueueDepth(0), last_arrival_at=ago(100))
    assert backlog.remember(wl, observed, history, NOW) is history


def test_an_arrival_stamped_ahead_of_the_controllers_clock_counts_as_now():
    wl = workload(min_replicas=0)
    observed = Observation(1, queue=QueueDepth(0), last_arrival_at=NOW + timedelta(seconds=3))
    assert backlog.remember(wl, observed, History(queue_last_nonempty_at=ago(30)), NOW).queue_last_nonempty_at == NOW


def test_a_workload_never_seen_active_goes_to_rest_at_once():
    # = KEDA TestScaleToMinReplicasWhenNotActive: no lastActiveTime (initialCooldownPeriod 0), so no cooldown to wait.
    wl = workload(min_replicas=0)
    history = backlog.remember(wl, Observation(2, queue=QueueDepth(0)), History(), NOW)
    decision = decide(wl, Observation(2, queue=QueueDepth(0)), History(), NOW)
    assert history.queue_last_nonempty_at is None and (decision.replicas, decision.reason) == (0, backlog.DEACTIVATED)


@pytest.mark.parametrize("current, backlog_now, want", [
    pytest.param(0, 1, True, id="first-message-wakes-a-workload-at-zero"),
    pytest.param(2, 10, False, id="running-workload-needs-no-nudge"),
    pytest.param(0, 0, False, id="nothing-queued-nothing-to-wake"),
])
def test_should_wake_only_a_workload_at_zero_with_backlog(current, backlog_now, want):
    assert backlog.should_wake(workload(min_replicas=0), current, backlog_now) is want


def test_should_wake_respects_the_activation_threshold_and_pause():
    assert not backlog.should_wake(workload(min_replicas=0, metrics=(BacklogMetric(5, 10),)), 0, 10)
    assert not backlog.should_wake(workload(min_replicas=0, paused=0), 0, 10)


@pytest.mark.parametrize("current, ready, value, target_type, target, want", [
    pytest.param(3, 1, 8.6, "Value", 4.4, 2, id="TestReplicaCalcScaleUpCMExternalIgnoresUnreadyPods"),
    pytest.param(5, 5, 8.6, "Value", 14.334, 3, id="TestReplicaCalcScaleDownCMExternal"),
    pytest.param(3, 3, 8.6, "Value", 8.888, 3, id="TestReplicaCalcToleranceCMExternal"),
    pytest.param(0, 0, 8.6, "Value", 4.4, 2, id="getUsageRatioReplicaCount-from-zero"),
    pytest.param(3, 3, 8.6, "AverageValue", 2.15, 4, id="TestReplicaCalcScaleUpPerPodCMExternal"),
    pytest.param(5, 5, 8.6, "AverageValue", 2.867, 3, id="TestReplicaCalcScaleDownPerPodCMExternal"),
    pytest.param(3, 3, 8.6, "AverageValue", 2.9, 3, id="TestReplicaCalcTolerancePerPodCMExternal"),
])
def test_external_metric_matches_upstream(current, ready, value, target_type, target, want):
    metric = ExternalMetric("AWS/SQS", "Age", target_type, value=target if target_type == "Value" else None,
                            average_value=target if target_type == "AverageValue" else None)
    wl = workload(metrics=(metric,))
    observed = Observation(replicas=current, ready=ready, external={metric.key: value})
    assert external.propose(wl, metric, observed, History(), NOW).replicas == want


@pytest.mark.parametrize("in_flight, delayed, want", [
    # = KEDA parseAwsSqsQueueMetadata: ApproximateNumberOfMessages, + NotVisible when scaleOnInFlight (default true),
    # + Delayed when scaleOnDelayed (default false).
    pytest.param(True, False, 8, id="scaleOnInFlight-default-true-scaleOnDelayed-default-false"),
    pytest.param(False, False, 5, id="scaleOnInFlight-false"),
    pytest.param(True, True, 10, id="scaleOnDelayed-true"),
    pytest.param(False, True, 7, id="scaleOnInFlight-false-scaleOnDelayed-true"),
])
def test_queue_length_counts_what_scaleOnInFlight_and_scaleOnDelayed_say(in_flight, delayed, want):
    wl = replace(workload(min_replicas=0, include_delayed=delayed), include_in_flight=in_flight)
    assert backlog.backlog_of(wl, QueueDepth(5, in_flight=3, delayed=2)) == want


@pytest.mark.parametrize("in_flight, want", [
    # = KEDA TestAWSSQSScalerGetMetrics: 200 visible and 100 not visible are 300 with scaleOnInFlight, 200 without.
    pytest.param(True, 300, id="TestAWSSQSScalerGetMetrics-scaleOnInFlight"),
    pytest.param(False, 200, id="TestAWSSQSScalerGetMetrics-scaleOnInFlight-false"),
])
def test_queue_length_as_keda_reads_it(in_flight, want):
    wl = replace(workload(min_replicas=0), include_in_flight=in_flight)
    assert backlog.backlog_of(wl, QueueDepth(200, in_flight=100)) == want


def test_with_scaleOnInFlight_off_work_in_flight_alone_is_inactive():
    wl = replace(workload(min_replicas=0, cooldown_s=60), include_in_flight=False)
    proposal = backlog.propose(wl, wl.metrics[0], Observation(3, queue=QueueDepth(0, in_flight=9)),
                               History(queue_last_nonempty_at=ago(61)), NOW)
    assert (proposal.replicas, proposal.reason) == (0, backlog.DEACTIVATED)


@pytest.mark.parametrize("current, depth, history, want, reason", [
    # = KEDA GetMetricsAndActivity: active when the queue length is above activationQueueLength, not at it.
    pytest.param(0, 3, History(), 0, backlog.NOT_ACTIVE, id="GetMetricsAndActivity-at-the-threshold-is-inactive"),
    pytest.param(0, 4, History(), 1, backlog.ACTIVATED, id="GetMetricsAndActivity-above-the-threshold-activates"),
    pytest.param(4, 3, History(queue_last_nonempty_at=ago(30)), 1, backlog.COOLDOWN,
                 id="running-at-the-threshold-cools-down"),
    pytest.param(4, 3, History(queue_last_nonempty_at=ago(301)), 0, backlog.DEACTIVATED,
                 id="running-at-the-threshold-goes-to-zero-after-the-cooldown"),
    pytest.param(4, 20, History(queue_last_nonempty_at=ago(3600)), 4, backlog.WITHIN_TOLERANCE,
                 id="running-above-the-threshold-is-the-HPAs"),
])
def test_a_queue_at_or_below_the_activation_threshold_is_inactive(current, depth, history, want, reason):
    proposal = _propose(current, QueueDepth(depth), history, metrics=(BacklogMetric(5, activation_threshold=3),))
    assert (proposal.replicas, proposal.reason) == (want, reason)


def test_the_cooldown_anchor_moves_only_while_the_queue_is_active():
    wl = workload(min_replicas=0, metrics=(BacklogMetric(5, activation_threshold=3),))
    history = History(queue_last_nonempty_at=ago(100))
    assert backlog.remember(wl, Observation(2, queue=QueueDepth(3)), history, NOW).queue_last_nonempty_at == ago(100)
    assert backlog.remember(wl, Observation(2, queue=QueueDepth(4)), history, NOW).queue_last_nonempty_at == NOW


ACTIVE_FOR_LONG = History(recommendations=(Recommendation(4, ago(400)),), queue_last_nonempty_at=ago(10))


@pytest.mark.parametrize("spec, current, depth, history, want", [
    # Each row = a KEDA pkg/scaling/executor/scale_scaledobjects_test.go case, through decide().
    pytest.param({}, 10, 0, History(), 0, id="TestScaleToMinReplicasWhenNotActive"),
    pytest.param({"min_replicas": 5}, 1, 0, History(), 5, id="TestScaleToMinReplicasFromLowerInitialReplicaCount"),
    pytest.param({"activation": "Paced"}, 0, 40, History(), 1, id="TestScaleFromMinReplicasWhenActive"),
    pytest.param({}, 0, 40, History(), 8, id="TestScaleFromMinReplicasWhenActive-Sized-goes-to-the-backlog-count"),
    pytest.param({"min_replicas": 5, "idle_replicas": 0}, 10, 0, History(), 0,
                 id="TestScaleToIdleReplicasWhenNotActive"),
    pytest.param({"min_replicas": 5, "idle_replicas": 0, "activation": "Paced"}, 0, 10, History(), 5,
                 id="TestScaleFromIdleToMinReplicasWhenActive"),
    pytest.param({"min_replicas": 5, "idle_replicas": 0}, 0, 100, History(), 20,
                 id="TestScaleFromIdleToMinReplicasWhenActive-Sized"),
    pytest.param({"min_replicas": 5, "idle_replicas": 0}, 0, 10, History(), 5,
                 id="TestScaleFromIdleToMinReplicasWhenActive-Sized-never-below-the-minimum"),
    pytest.param({"paused_scale_in": True}, 10, 0, History(), 10,
                 id="TestNoScaleToMinReplicasWhenNotActiveAndPauseScaleInAnnotationSet"),
    pytest.param({"min_replicas": 5, "idle_replicas": 0, "paused_scale_in": True}, 10, 0, History(), 10,
                 id="TestNoScaleToIdleReplicasWhenNotActiveAndPauseScaleInAnnotationSet"),
    pytest.param({"paused_scale_out": True}, 0, 40, History(), 0,
                 id="TestNoScaleFromMinReplicasWhenActiveAndPausedScaleOutAnnotationSet"),
    pytest.param({"min_replicas": 5, "idle_replicas": 0, "paused_scale_out": True}, 0, 40, History(), 0,
                 id="TestNoScaleFromIdleReplicasToMinReplicasWhenActiveAndPausedScaleOutAnnotationSet"),
    pytest.param({"paused_scale_out": True}, 4, 400, ACTIVE_FOR_LONG, 4, id="paused-scale-out-holds-a-running-fleet"),
    pytest.param({"paused_scale_in": True}, 4, 400, ACTIVE_FOR_LONG, 8, id="paused-scale-in-leaves-scale-out-free"),
])
def test_the_scale_executor_as_keda(spec, current, depth, history, want):
    base = {k: spec.pop(k) for k in ("min_replicas",) if k in spec}
    wl = replace(workload(min_replicas=base.get("min_replicas", 0)), **spec)
    assert decide(wl, Observation(current, queue=QueueDepth(depth)), history, NOW).replicas == want


def test_a_paused_direction_says_so():
    wl = replace(workload(min_replicas=0), paused_scale_out=True)
    decision = decide(wl, Observation(4, queue=QueueDepth(400)), ACTIVE_FOR_LONG, NOW)
    assert decision.reason == "ScaleOutPaused" and "spec.pausedScaleOut" in decision.message


def test_paced_activation_is_then_paced_by_the_rate_policies():
    wl = replace(workload(min_replicas=0, max_replicas=100), activation="Paced")
    first = decide(wl, Observation(0, queue=QueueDepth(200)), History(), NOW)
    then = decide(wl, Observation(first.replicas, queue=QueueDepth(200)), first.history, NOW + timedelta(seconds=15))
    assert (first.replicas, then.replicas) == (1, 5)  # KEDA 0 -> 1; then the HPA's 4 pods per 15 s


@pytest.mark.parametrize("metric, current, ready, value, want", [
    pytest.param(ObjectMetric("AWS/ApplicationELB", "RequestCount", "Value", "LoadBalancer", "app/web/1", value=15),
                 3, 3, 20, 4, id="TestReplicaCalcScaleUpCMObject"),
    pytest.param(ObjectMetric("AWS/ApplicationELB", "RequestCount", "AverageValue", "LoadBalancer", "app/web/1",
                              average_value=5), 3, 3, 20, 4, id="TestReplicaCalcScaleUpCMPerPodObject"),
    pytest.param(ObjectMetric("AWS/ApplicationELB", "RequestCount", "Value", "LoadBalancer", "app/web/1", value=20),
                 3, 3, 21, 3, id="TestReplicaCalcToleranceCMObject"),
    pytest.param(ObjectMetric("AWS/ApplicationELB", "RequestCount", "Value", "LoadBalancer", "app/web/1", value=20),
                 0, 0, 30, 2, id="getUsageRatioReplicaCount-object-from-zero"),
])
def test_object_metric_matches_upstream(metric, current, ready, value, want):
    observed = Observation(replicas=current, ready=ready, external={metric.key: value})
    assert external.propose_object(workload(metrics=(metric,)), metric, observed, History(), NOW).replicas == want


def test_an_object_metric_without_a_datapoint_is_invalid():
    metric = ObjectMetric("AWS/ApplicationELB", "RequestCount", "Value", "LoadBalancer", "app/web/1", value=20)
    proposal = external.propose_object(workload(metrics=(metric,)), metric, Observation(3), History(), NOW)
    assert (proposal.valid, proposal.reason) == (False, external.FAILED_GET_OBJECT_METRIC)


def test_external_per_pod_honours_a_configured_tolerance():
    # = upstream GetExternalPerPodMetricReplicas "outside configurable 1% tolerance": 8.6 over 3 x 2.8 is 2.4 % above.
    assert external.average_value_replicas(3, 8.6, 2.8) == 3
    assert external.average_value_replicas(3, 8.6, 2.8, (0.1, 0.01)) == 4
