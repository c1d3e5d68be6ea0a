"""KEDA-style queue scaling of core/backlog.py and core/external.py."""
from datetime import timedelta

import pytest

from chalicelib.core import backlog, external
from chalicelib.core.decide import decide
from chalicelib.core.types import History, Observation, QueueDepth
from chalicelib.model import BacklogMetric, ExternalMetric
from tests.core.fleet import NOW, ago, workload


def _propose(current, queue, history=History(), **kwargs):
    wl = workload(min_replicas=0, **kwargs)
    return backlog.propose(wl, wl.metrics[0], Observation(replicas=current, queue=queue), history, NOW)


@pytest.mark.parametrize("current, queue, history, want, reason", [
    pytest.param(0, QueueDepth(1), History(), 1, backlog.ACTIVATED, id="any-backlog-activates-from-zero"),
    pytest.param(0, QueueDepth(420), History(), 84, backlog.ACTIVATED, id="activation-asks-for-the-whole-backlog"),
    pytest.param(0, QueueDepth(0), History(), 0, backlog.NOT_ACTIVE, id="empty-queue-stays-at-zero"),
    pytest.param(4, QueueDepth(40, in_flight=10), History(), 10, backlog.ABOVE_TARGET, id="in-flight-counts"),
    pytest.param(10, QueueDepth(48), History(), 10, backlog.WITHIN_TOLERANCE, id="inside-tolerance"),
    pytest.param(10, QueueDepth(5), History(), 1, backlog.BELOW_TARGET, id="small-backlog-keeps-one"),
    pytest.param(3, QueueDepth(0), History(queue_last_nonempty_at=ago(120)), 1, backlog.COOLDOWN,
                 id="empty-but-cooling-down-keeps-one"),
    pytest.param(3, QueueDepth(0), History(queue_last_nonempty_at=ago(300)), 0, backlog.DEACTIVATED,
                 id="empty-for-the-cooldown-goes-to-zero"),
    pytest.param(3, QueueDepth(0, delayed=7), History(queue_last_nonempty_at=ago(900)), 0, backlog.DEACTIVATED,
                 id="delayed-messages-ignored-by-default"),
    pytest.param(3, None, History(), 3, backlog.FAILED_GET_QUEUE_ATTRIBUTES, id="unreadable-queue-is-invalid"),
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
    assert replicas.index(0) == 5  # last seen non-empty at minute 0: zero at minute 5, once 300 s have passed


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
    later = NOW + timedelta(seconds=10)
    assert decide(wl, observed, history, later).replicas == 0


def test_an_arrival_older_than_the_anchor_moves_nothing():
    wl = workload(min_replicas=0)
    history = History(queue_last_nonempty_at=ago(10))
    observed = Observation(1, queue=QueueDepth(0), last_arrival_at=ago(100))
    assert backlog.remember(wl, observed, history, NOW) is history


def test_an_arrival_stamped_ahead_of_the_controllers_clock_counts_as_now():
    wl = workload(min_replicas=0)
    observed = Observation(1, queue=QueueDepth(0), last_arrival_at=NOW + timedelta(seconds=3))
    assert backlog.remember(wl, observed, History(queue_last_nonempty_at=ago(30)), NOW).queue_last_nonempty_at == NOW


def test_unknown_history_never_shortens_the_cooldown():
    wl = workload(min_replicas=0)
    history = backlog.remember(wl, Observation(2, queue=QueueDepth(0)), History(), NOW)
    assert history.queue_last_nonempty_at == NOW


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
