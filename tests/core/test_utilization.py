"""HPA conformance of core/utilization.py: each row mirrors an upstream replica_calculator_test.go case by name."""
from dataclasses import replace

import pytest

from chalicelib.core import utilization
from chalicelib.core.types import Observation, PodSample, ResourceUsage
from chalicelib.model import ContainerResourceMetric, PodsMetric, ResourceMetric
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
    # A missing pod on a scale-down counts at max(100 %, target) of its request: at 100 % under a 300 % target it
    # would look idle, and the fleet shrink to 1.
    pytest.param(4, pods([200, 100, 100], count=4, ready=[F, T, T, T], requests=[1000, 1000, 2000, 2000]), 300, 2,
                 id="TestReplicaCalcMissingMetricsScaleDownTargetOver100"),
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
    # calcPlainMetricReplicas fills missing pods only below a ratio of 1 (with the target) or above it (with 0): at
    # exactly 1 nothing is filled and the count stays (a fill of 0 there would shrink a fleet on target).
    pytest.param(2, pods([10], count=2), 10, 2, id="calcPlainMetricReplicas-missing-pods-at-ratio-one"),
    pytest.param(2, pods([5], count=2), 10, 2, id="calcPlainMetricReplicas-missing-pods-below-one-filled-with-target"),
    pytest.param(2, pods([40], count=2), 10, 4, id="calcPlainMetricReplicas-missing-pods-above-one-filled-with-zero"),
])
def test_average_value_target_matches_upstream_plain_metric_calculation(current, fleet, target, want):
    replicas, _ = utilization.average_value_replicas(current, fleet, target, "", NOW, **UPSTREAM_PERIODS)
    assert replicas == want


def test_reports_utilization_truncated_as_upstream_does():
    _, usage = utilization.utilization_replicas(3, pods([300, 500, 700], ready=[F, T, T]), 30, "cpu", NOW,
                                                **UPSTREAM_PERIODS)
    assert usage == 60  # = TestReplicaCalcScaleUpUnreadyLessScale expectedUtilization


@pytest.mark.parametrize("current, fleet, target_pct, tolerances, want", [
    pytest.param(3, pods([1050] * 3), 100, (0.1, 0.1), 3, id="Tolerances.isWithin-default-10%"),
    pytest.param(3, pods([1050] * 3), 100, (0.1, 0.01), 4, id="Tolerances.isWithin-scale-up-1%"),
    pytest.param(10, pods([900] * 10), 100, (0.1, 0.1), 10, id="Tolerances.isWithin-the-scale-down-edge-is-within"),
    pytest.param(10, pods([900] * 10), 100, (0.05, 0.1), 9, id="Tolerances.isWithin-scale-down-5%"),
    pytest.param(10, pods([1100] * 10), 100, (0.05, 0.1), 10, id="Tolerances.isWithin-each-direction-its-own"),
])
def test_each_direction_has_its_own_tolerance_as_kubernetes_1_33(current, fleet, target_pct, tolerances, want):
    replicas, _ = utilization.utilization_replicas(current, fleet, target_pct, "cpu", NOW, tolerances,
                                                   **UPSTREAM_PERIODS)
    assert replicas == want


@pytest.mark.parametrize("scale_up, scale_down, usage_pct, want", [
    pytest.param({}, {}, 105, 4, id="scale-up-unset-is-the-controllers-0.1"),
    pytest.param({"tolerance": 0.01}, {}, 105, 5, id="behavior.scaleUp.tolerance"),
    pytest.param({}, {}, 70, 3, id="scale-down-unset-is-the-controllers-0.1"),
    pytest.param({}, {"tolerance": 0.35}, 70, 4, id="behavior.scaleDown.tolerance"),
    pytest.param({"tolerance": 0.5}, {}, 70, 3, id="a-scale-up-tolerance-leaves-scale-down-alone"),
])
def test_the_spec_tolerances_reach_the_proposal(scale_up, scale_down, usage_pct, want):
    from chalicelib.model import behavior_from
    wl = replace(workload(metrics=(ResourceMetric("cpu", "Utilization", average_utilization=100),)),
                 behavior=behavior_from({"scaleUp": scale_up, "scaleDown": scale_down}))
    observed = Observation(replicas=4, resources={"cpu": ResourceUsage(average_utilization=usage_pct)})
    assert utilization.propose(wl, wl.metrics[0], observed, None, NOW).replicas == want


def test_the_cpu_initialization_period_is_the_workloads():
    # A pod started 2 minutes ago whose sample predates a full window since it became ready: inside a 300 s period
    # its sample is ignored (and filled with 0 on the way up), past a 60 s one it counts.
    fleet = (PodSample("settled", 1500, 1000, started_at=ago(3600)),
             PodSample("warming", 500, 1000, started_at=ago(120), ready_changed_at=ago(110), sampled_at=ago(100)))
    metric = ResourceMetric("cpu", "Utilization", average_utilization=50)
    observed = Observation(replicas=2, resources={"cpu": ResourceUsage(fleet)})
    default, short = workload(metrics=(metric,)), replace(workload(metrics=(metric,)), cpu_initialization_s=60)
    assert utilization.propose(default, metric, observed, None, NOW).replicas == 3
    assert utilization.propose(short, metric, observed, None, NOW).replicas == 4


def test_the_readiness_delay_is_the_workloads():
    # Unready since 20 s after its start 10 minutes ago: within a 30 s delay it was never ready (ignored), past a
    # 10 s one it was ready once and counts.
    flaky = _pod("flaky", ago(600), ready=False, changed=ago(580), phase="Running")
    assert utilization.group_pods((flaky,), "cpu", NOW, readiness_delay_s=30) == (0, {"flaky"}, set())
    assert utilization.group_pods((flaky,), "cpu", NOW, readiness_delay_s=10) == (1, set(), set())


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


@pytest.mark.parametrize("cpu, usage, why", [
    # upstream calculateRequests: "missing request for cpu in container ... of Pod ...", no default filled in.
    pytest.param(1000, ResourceUsage(pods([300, 400], requests=[1000, None])), "missing request for cpu",
                 id="calculatePodRequestsFromContainers-a-pod-without-a-cpu-request"),
    pytest.param(0, ResourceUsage(average_utilization=70), "missing request for cpu",
                 id="a-task-without-a-cpu-reservation-has-no-utilization"),
])
def test_tasks_without_a_cpu_request_get_a_condition_not_a_default(cpu, usage, why):
    wl = workload(cpu=cpu, metrics=(ResourceMetric("cpu", "Utilization", average_utilization=50),))
    proposal = utilization.propose(wl, wl.metrics[0], Observation(replicas=2, resources={"cpu": usage}), None, NOW)
    assert (proposal.valid, proposal.reason, proposal.replicas) == (False, "FailedGetResourceMetric", 2)
    assert why in proposal.message


def test_without_a_cpu_request_an_average_value_target_still_scales():
    wl = workload(cpu=0, metrics=(ResourceMetric("cpu", "AverageValue", average_value=500),))
    observed = Observation(replicas=2, resources={"cpu": ResourceUsage(average_value=1000)})
    assert utilization.propose(wl, wl.metrics[0], observed, None, NOW).replicas == 4


@pytest.mark.parametrize("usage, target, want", [
    pytest.param(ResourceUsage(average_utilization=90), (80, None), 5, id="container-utilization-above-target"),
    pytest.param(ResourceUsage(average_utilization=84), (80, None), 4, id="container-utilization-within-tolerance"),
    pytest.param(ResourceUsage(average_value=300), (None, 150), 8, id="container-average-value"),
])
def test_container_resource_scales_on_one_containers_usage(usage, target, want):
    metric = ContainerResourceMetric("cpu", "app", "Utilization" if target[0] else "AverageValue", *target)
    wl = workload(metrics=(metric,))
    observed = Observation(replicas=4, resources={metric.key: usage, "cpu": ResourceUsage(average_utilization=5)})
    assert utilization.propose_container(wl, metric, observed, None, NOW).replicas == want


@pytest.mark.parametrize("current, percent, target, want", [
    # = upstream TestReplicaCalcContainerScaleUp and TestReplicaCalcContainerScaleDown, the container's usage over
    # its request averaged across the tasks, as Container Insights reports it: 300, 500 and 700 of 1000m are 50 %
    # against a 30 % target; 100, 300, 500, 250 and 250 are 28 % against 50 %.
    pytest.param(3, 50, 30, 5, id="TestReplicaCalcContainerScaleUp"),
    pytest.param(5, 28, 50, 3, id="TestReplicaCalcContainerScaleDown"),
])
def test_container_resource_matches_upstream_container_cases(current, percent, target, want):
    metric = ContainerResourceMetric("cpu", "container2", "Utilization", target)
    observed = Observation(replicas=current, resources={metric.key: ResourceUsage(average_utilization=percent)})
    assert utilization.propose_container(workload(metrics=(metric,)), metric, observed, None, NOW).replicas == want


def test_a_container_without_metrics_is_an_invalid_proposal():
    metric = ContainerResourceMetric("memory", "sidecar", "Utilization", 70)
    proposal = utilization.propose_container(workload(metrics=(metric,)), metric, Observation(replicas=3), None, NOW)
    assert (proposal.valid, proposal.reason) == (False, "FailedGetContainerResourceMetric")


@pytest.mark.parametrize("ready, value, target, want, reason", [
    # GetMetricReplicas on the tasks' average: ceil(average / target × ready), within tolerance the count stays.
    pytest.param(3, 20.0, 15, 4, utilization.PODS_ABOVE_TARGET, id="TestReplicaCalcScaleUpCM-as-an-average"),
    pytest.param(5, 12.0, 20, 3, utilization.PODS_BELOW_TARGET, id="TestReplicaCalcScaleDownCM-as-an-average"),
    pytest.param(3, 20.6, 20, 3, utilization.PODS_WITHIN_TOLERANCE, id="TestReplicaCalcToleranceCM-as-an-average"),
    pytest.param(3, None, 20, 3, utilization.FAILED_GET_PODS_METRIC, id="no-datapoint-is-invalid"),
])
def test_pods_metric_averages_a_per_task_metric(ready, value, target, want, reason):
    metric = PodsMetric("ECS/ContainerInsights", "RequestsPerTask", target)
    observed = Observation(replicas=ready, external={} if value is None else {metric.key: value})
    proposal = utilization.propose_pods(workload(metrics=(metric,)), metric, observed, None, NOW)
    assert (proposal.replicas, proposal.reason) == (want, reason)


def test_unreadable_resource_metric_is_an_invalid_proposal_named_as_upstream():
    wl = workload(metrics=(ResourceMetric("cpu", "Utilization", average_utilization=80),))
    proposal = utilization.propose(wl, wl.metrics[0], Observation(replicas=3, resources={"cpu": None}), None, NOW)
    assert (proposal.valid, proposal.reason, proposal.replicas) == (False, "FailedGetResourceMetric", 3)
