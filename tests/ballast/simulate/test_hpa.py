"""The HPA of the baselines against upstream's own cases (replica_calculator_test.go) and behavior defaults."""
import pytest

from ballast.simulate.policies import hpa
from ballast.simulate.policies.hpa import Autoscaler, PodMetric

NOW = 1000.0


def pods(levels, ready=None, request=1000):
    """Pods started long ago (past the CPU initialisation period) with one 30 s sample each, as upstream's tests."""
    return [PodMetric(f"p{i}", "Running", request, level, True if ready is None else ready[i], 0.0, 10.0, NOW, 30)
            for i, level in enumerate(levels)]


@pytest.mark.parametrize("current, sample, target, want", [
    pytest.param(3, pods([300, 500, 700]), 30, 5, id="TestReplicaCalcScaleUp"),
    pytest.param(5, pods([100, 300, 500, 250, 250]), 50, 3, id="TestReplicaCalcScaleDown"),
    pytest.param(3, pods([300, 500, 700], ready=[False, True, True]), 30, 4,
                 id="TestReplicaCalcScaleUpUnreadyLessScale"),
    pytest.param(3, pods([1010, 1030, 1020]), 100, 3, id="inside-tolerance"),
    pytest.param(4, pods([700, 700, 700, None]), 50, 4, id="missing-pod-counts-zero-on-scale-up"),
    pytest.param(2, pods([700]) + [PodMetric("pending", "Pending", 1000)], 50, 2,
                 id="pending-pod-at-zero-would-flip-direction-so-keep"),
])
def test_resource_replicas_follow_upstream(current, sample, target, want):
    assert hpa.resource_replicas(current, sample, target, NOW) == want


def test_a_new_pods_sample_counts_only_a_whole_window_after_it_became_ready():
    fresh = PodMetric("p", "Running", 1000, 900, True, start_time=NOW - 40, ready_since=NOW - 20, timestamp=NOW,
                      window_s=30)
    assert hpa.resource_replicas(1, [fresh], 30, NOW) is None  # its only sample is ignored: no metric, no change
    settled = PodMetric("p", "Running", 1000, 900, True, start_time=NOW - 40, ready_since=NOW - 35, timestamp=NOW,
                        window_s=30)
    assert hpa.resource_replicas(1, [settled], 30, NOW) == 3


@pytest.mark.parametrize("pods_now, usage, target, want", [
    pytest.param(2, 100, 5, 20, id="ceil-of-usage-over-target"),
    pytest.param(4, 21, 5, 4, id="within-tolerance-keeps-the-pods"),
    pytest.param(1, 0, 5, 0, id="an-empty-queue-asks-for-zero"),
])
def test_external_per_pod_replicas(pods_now, usage, target, want):
    assert hpa.external_per_pod_replicas(pods_now, usage, target) == want


def test_default_scale_up_is_four_pods_or_double_per_fifteen_seconds():
    autoscaler = Autoscaler(1, 100)
    assert autoscaler.reconcile(2, 20, 0.0) == 6  # max(2 + 4, 2 × 2)
    assert autoscaler.reconcile(6, 20, 15.0) == 12  # the 15 s period has passed: max(6 + 4, 6 × 2)


def test_default_scale_down_waits_for_the_five_minute_window():
    autoscaler = Autoscaler(1, 100)
    assert autoscaler.reconcile(10, 10, 0.0) == 10
    assert autoscaler.reconcile(10, 2, 100.0) == 10  # the 10 of 0 s is within 300 s
    assert autoscaler.reconcile(10, 2, 301.0) == 2


def test_the_hpa_does_nothing_while_its_target_is_at_zero():
    assert Autoscaler(1, 10).reconcile(0, 5, 0.0) == 0


def test_the_hpa_clamps_to_its_bounds_before_reading_metrics():
    assert Autoscaler(2, 10).reconcile(12, None, 0.0) == 10
    assert Autoscaler(2, 10).reconcile(1, None, 0.0) == 2
