"""HPA conformance of core/utilization.py: each row mirrors an upstream replica_calculator_test.go case by name."""
import pytest

from chalicelib.core import utilization
from chalicelib.core.types import Observation, PodSample, ResourceUsage
from chalicelib.model import ResourceMetric
from tests.core.fleet import COOL, HOT, NOW, UPSTREAM_PERIODS, ago, pods, workload

F, T = False, True
R, P, X = "Running", "Pending", "Failed"


@pytest.mark.parametrize("current, fleet, target_pct, want", [
    pytest.param(3, pods([300, 500, 700]), 30, 5, id="TestReplicaCalcScaleUp"),
    pytest.param(3, pods([300, 500, 700], ready=[F, T, T]), 30, 4, id="TestReplicaCalcScaleUpUnreadyLessScale"),
    pytest.param(3, pods([300, 500, 700], started=[HOT, COOL, COOL]), 30, 4,
                 id="TestReplicaCalcScaleUpHotCpuLessScale"),
    pytest.param(3, pods([400, 500, 700], ready=[T, F, F]), 30, 3, id="TestReplicaCalcScaleUpUnreadyNoScale"),
    pytest.param(3, pods([400, 500, 700], ready=[T, F, F], started=[COOL, HOT, HOT]), 30, 3,
                 id="TestReplicaCalcScaleHotCpuNoScale"),
    pytest.param(2, pods([500, 700], ready=[T, T, F, F], phase=[R, R, X, X]), 30, 4,
                 id="TestReplicaCalcScaleUpIgnoresFailedPods"),
    pytest.param(2, pods([500, 700], ready=[T, T, F, F], deleting=[F, F, T, T]), 30, 4,
                 id="TestReplicaCalcScaleUpIgnoresDeletionPods"),
    pytest.param(5, pods([100, 300, 500, 250, 250]), 50, 3, id="TestReplicaCalcScaleDown"),
    pytest.param(5, pods([100, 300, 500, 250, 250], ready=[T, T, T, F, F]), 50, 2,
                 id="TestReplicaCalcScaleDownIncludeUnreadyPods"),
    pytest.param(5, pods([100], ready=[T, F, F, F, F], phase=[R, P, P, P, P]), 50, 1,
                 id="TestReplicaCalcScaleDownExcludeUnscheduledPods"),
    pytest.param(5, pods([100, 300, 500, 250, 250], started=[COOL, COOL, COOL, HOT, HOT]), 50, 2,
                 id="TestReplicaCalcScaleDownIgnoreHotCpuPods"),
    pytest.param(5, pods([100, 300, 500, 250, 250], ready=[T] * 5 + [F, F], phase=[R] * 5 + [X, X]), 50, 3,
                 id="TestReplicaCalcScaleDownIgnoresFailedPods"),
    pytest.param(5, pods([100, 300, 500, 250, 250], ready=[T] * 5 + [F, F], deleting=[F] * 5 + [T, T]), 50, 3,
                 id="TestReplicaCalcScaleDownIgnoresDeletionPods"),
    pytest.param(3, pods([1010, 1030, 1020], requests=[900, 1000, 1100]), 100, 3, id="TestReplicaCalcTolerance"),
    # Upstream also returns metrics for two pods it does not list; joined by name they cannot reach the core.
    pytest.param(4, pods([4000, 9500, 3000, 7000]), 100, 24, id="TestReplicaCalcSuperfluousMetrics"),
    pytest.param(4, pods([400, 95], count=4), 100, 3, id="TestReplicaCalcMissingMetrics"),
    pytest.param(2, pods([1000], count=2), 100, 2, id="TestReplicaCalcMissingMetricsNoChangeEq"),
    pytest.param(2, pods([1900], count=2), 100, 2, id="TestReplicaCalcMissingMetricsNoChangeGt"),
    pytest.param(2, pods([600], count=2), 100, 2, id="TestReplicaCalcMissingMetricsNoChangeLt"),
    pytest.param(3, pods([100, 450], count=3, ready=[F, T, T]), 50, 3, id="TestReplicaCalcMissingMetricsUnreadyChange"),
    pytest.param(3, pods([100, 450], count=3, started=[HOT, COOL, COOL]), 50, 3,
                 id="TestReplicaCalcMissingMetricsHotCpuNoChange"),
    pytest.param(3, pods([100, 2000], count=3, ready=[F, T, T]), 50, 4,
                 id="TestReplicaCalcMissingMetricsUnreadyScaleUp"),
    pytest.param(3, pods([100, 2000], count=3, ready=[F, T, T], started=[HOT, COOL, COOL]), 50, 4,
                 id="TestReplicaCalcMissingMetricsHotCpuScaleUp"),
    pytest.param(4, pods([100, 100, 100], count=4, ready=[F, T, T, T]), 50, 3,
                 id="TestReplicaCalcMissingMetricsUnreadyScaleDown"),
    pytest.param(10, pods([150] * 10, requests=[400, 200, 310, 290, 302, 298, 301, 299, 300, 300]), 56, 9,
                 id="TestReplicaCalcComputedToleranceAlgImplementation-breach"),
    pytest.param(10, pods([150] * 10, requests=[400, 200, 310, 290, 302, 298, 301, 299, 300, 300]), 55, 10,
                 id="TestReplicaCalcComputedToleranceAlgImplementation-within"),
])
def test_utilization_target_matches_upstream_replica_calculator(current, fleet, target_pct, want):
    replicas, _ = utilization.utilization_replicas(current, fleet, target_pct, "cpu", NOW, **UPSTREAM_PERIODS)
    assert replicas == want


@pytest.mark.parametrize("current, fleet, target, want", [
    pytest.param(3, pods([20, 10, 30]), 15, 4, id="TestReplicaCalcScaleUpCM"),
    pytest.param(3, pods([50, 10, 30], ready=[T, T, F], started=[COOL, COOL, HOT]), 15, 6,
                 id="TestReplicaCalcScaleUpCMUnreadyHotCpuNoLessScale"),
    pytest.param(3, pods([50, 15, 30], ready=[F, T, F], started=[HOT, COOL, HOT]), 15, 7,
                 id="TestReplicaCalcScaleUpCMUnreadyHotCpuScaleWouldScaleDown"),
    pytest.param(5, pods([12, 12, 12, 12, 12]), 20, 3, id="TestReplicaCalcScaleDownCM"),
    pytest.param(3, pods([20, 21, 21]), 20, 3, id="TestReplicaCalcToleranceCM"),
])
def test_average_value_target_matches_upstream_plain_metric_calculation(current, fleet, target, want):
    replicas, _ = utilization.average_value_replicas(current, fleet, target, "", NOW, **UPSTREAM_PERIODS)
    assert replicas == want


def test_reports_utilization_truncated_as_upstream_does():
    _, usage = utilization.utilization_replicas(3, pods([300, 500, 700], ready=[F, T, T]), 30, "cpu", NOW,
                                                **UPSTREAM_PERIODS)
    assert usage == 60  # = TestReplicaCalcScaleUpUnreadyLessScale expectedUtilization


@pytest.mark.parametrize("fleet, kwargs, message", [
    pytest.param(pods([], count=3), {}, "did not receive metrics", id="TestReplicaCalcEmptyMetrics"),
    pytest.param((PodSample("pod-0", 200, request=None),), {}, "missing request", id="TestReplicaCalcEmptyCPURequest"),
    pytest.param(pods([300], ready=[F]), {}, "did not receive metrics", id="all-pods-unready-gives-no-count"),
])
def test_cannot_compute_without_usable_metrics(fleet, kwargs, message):
    with pytest.raises(utilization.NoReplicaCount, match=message):
        utilization.utilization_replicas(1, fleet, 100, "cpu", NOW, **UPSTREAM_PERIODS, **kwargs)


def _pod(name, started, ready=True, changed=None, sampled=None, window_s=60.0, value=1.0, phase="Succeeded"):
    return PodSample(name, value, 1000, phase, ready, started, changed, sampled, window_s)


@pytest.mark.parametrize("fleet, resource, want", [
    pytest.param((), "cpu", (0, set(), set()), id="TestGroupPods/void"),
    pytest.param((_pod("bentham", None, ready=None, sampled=NOW),), "memory", (1, set(), set()),
                 id="TestGroupPods/count-in-a-ready-pod-memory"),
    pytest.param((_pod("lucretius", NOW, ready=None),), "cpu", (0, {"lucretius"}, set()),
                 id="TestGroupPods/ignore-a-pod-without-ready-condition-CPU"),
    pytest.param((_pod("bentham", ago(60), changed=ago(30), sampled=NOW, window_s=30),), "cpu", (1, set(), set()),
                 id="TestGroupPods/count-in-a-ready-pod-with-fresh-metrics-during-initialization-period"),
    pytest.param((_pod("bentham", ago(60), changed=ago(30), sampled=NOW, window_s=60),), "cpu",
                 (0, {"bentham"}, set()),
                 id="TestGroupPods/ignore-a-ready-pod-without-fresh-metrics-during-initialization-period"),
    pytest.param((_pod("lucretius", ago(600), ready=False, changed=ago(594)),), "cpu", (0, {"lucretius"}, set()),
                 id="TestGroupPods/ignore-an-unready-pod-during-initialization-period"),
    pytest.param((_pod("bentham", ago(180), changed=ago(180), sampled=ago(120)),), "cpu", (1, set(), set()),
                 id="TestGroupPods/count-in-a-ready-pod-without-fresh-metrics-after-initialization-period"),
    pytest.param((_pod("lucretius", ago(600), ready=False, changed=ago(540)),), "cpu", (1, set(), set()),
                 id="TestGroupPods/count-in-an-unready-pod-that-was-ready-after-initialization-period"),
    pytest.param((_pod("epicurus", ago(180), value=None),), "cpu", (0, set(), {"epicurus"}),
                 id="TestGroupPods/a-missing-pod"),
    pytest.param((_pod("lucretius", NOW, ready=None), _pod("niccolo", ago(180), changed=ago(180)),
                  _pod("epicurus", ago(180), ready=None, value=None)), "cpu", (1, {"lucretius"}, {"epicurus"}),
                 id="TestGroupPods/several-pods"),
    pytest.param((_pod("unscheduled", None, phase="Pending", value=None),), "cpu", (0, {"unscheduled"}, set()),
                 id="TestGroupPods/pending-pods-are-ignored"),
])
def test_groups_pods_as_upstream_groupPods(fleet, resource, want):
    assert utilization.group_pods(fleet, resource, NOW, **UPSTREAM_PERIODS) == want


def test_cpu_initialization_period_defaults_to_five_minutes():
    # Started 3 minutes ago: past upstream's test period of 2, still inside kube-controller-manager's default of 5.
    fleet = (_pod("warming", ago(180), changed=ago(170), sampled=ago(150), window_s=60, phase="Running"),)
    assert utilization.group_pods(fleet, "cpu", NOW) == (0, {"warming"}, set())


def test_readiness_delay_defaults_to_thirty_seconds():
    # Unready since 20 s after start, 10 minutes ago: within the 30 s delay it counts as never ready.
    fleet = (_pod("flaky", ago(600), ready=False, changed=ago(580), phase="Running"),)
    assert utilization.group_pods(fleet, "cpu", NOW) == (0, {"flaky"}, set())


def test_memory_samples_are_never_ignored_for_readiness():
    fleet = pods([900, 900], ready=[F, T], started=[HOT, COOL])
    assert utilization.utilization_replicas(2, fleet, 50, "memory", NOW)[0] == 4


@pytest.mark.parametrize("average_pct, ready, want", [
    pytest.param(90, 4, 5, id="ecs-average-above-target"),
    pytest.param(84, 4, 4, id="ecs-average-inside-tolerance"),
    pytest.param(20, 4, 1, id="ecs-average-below-target"),
])
def test_fleet_average_from_cloudwatch_scales_ready_tasks(average_pct, ready, want):
    wl = workload(metrics=(ResourceMetric("cpu", "Utilization", average_utilization=80),))
    observed = Observation(replicas=4, ready=ready, resources={"cpu": ResourceUsage(average_utilization=average_pct)})
    assert utilization.propose(wl, wl.metrics[0], observed, None, NOW).replicas == want


def test_unreadable_resource_metric_is_an_invalid_proposal_named_as_upstream():
    wl = workload(metrics=(ResourceMetric("cpu", "Utilization", average_utilization=80),))
    proposal = utilization.propose(wl, wl.metrics[0], Observation(replicas=3, resources={"cpu": None}), None, NOW)
    assert (proposal.valid, proposal.reason, proposal.replicas) == (False, "FailedGetResourceMetric", 3)
