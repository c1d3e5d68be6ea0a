"""The baselines against small hand-computed cases: KEDA's cooldown, cluster-autoscaler's timers, HPA-on-CPU's metric
lag, target tracking's three datapoints."""
from dataclasses import replace

import pytest

from ballast.simulate.engine import Cluster
from ballast.simulate.policies import cluster_autoscaler, hpa_cpu, keda
from ballast.simulate.policies.hpa_cpu import HpaCpu
from ballast.simulate.policies.keda import Keda
from ballast.simulate.policies.target_tracking import TargetTracking
from tests.ballast.simulate import builders


@pytest.fixture(autouse=True)
def loops_at_round_seconds(monkeypatch):
    """Every loop from second zero, so the cases can be computed by hand (runs draw each loop's phase)."""
    for module in (cluster_autoscaler, hpa_cpu, keda):
        monkeypatch.setattr(module, "phase", lambda *args: 0)


def changes(cluster: Cluster, policy) -> list[tuple[int, str, int]]:
    """Runs the policy and returns every desired-count change as (second, workload, count)."""
    seen = []
    original = cluster.set_desired

    def watched(name, replicas):
        if replicas != cluster.desired[name]:
            seen.append((int(cluster.now), name, replicas))
        original(name, replicas)

    cluster.set_desired = watched
    cluster.run(policy)
    return seen


def test_keda_activates_at_its_poll_and_stays_up_for_the_cooldown_after_the_queue_empties():
    scenario = builders.fargate(arrivals=[{"workload": "photos", "burst": {"count": 1, "at": "10s"}}])
    cluster = Cluster(scenario)
    # Poll at 30 s: active, 0 → 1. The task runs at 60 s and ends the item at 61 s, after the poll at 60 s (still
    # active: lastActiveTime 60). Zero once 60 + 300 is before a poll: at 390 s, not 360 s.
    assert changes(cluster, Keda(scenario)) == [(30, "photos", 1), (390, "photos", 0)]


def test_kedas_hpa_follows_the_queue_once_active():
    scenario = builders.fargate(workloads=[builders.workload(pools=(), kind="ECSService", max_replicas=50)],
                                arrivals=[{"workload": "photos", "burst": {"count": 200, "at": "10s"}}], service=5.0)
    seen = changes(Cluster(scenario), Keda(scenario))
    # At 30 s KEDA activates (1), and the HPA in the same second asks ceil(200 / 5) = 40, limited to 1 + 4 = 5.
    assert seen[:3] == [(30, "photos", 1), (30, "photos", 5), (45, "photos", 10)]


class _PodsThenAutoscaler:
    """Desired counts set by hand at given seconds, nodes left to cluster-autoscaler."""

    name = label = "ca"

    def __init__(self, plan):
        self.plan = plan

    def start(self, cluster):
        self.cluster = cluster
        self.ca = cluster_autoscaler.ClusterAutoscaler(cluster, cluster_autoscaler.Settings())
        self.removed = []
        original = cluster.remove_node

        def watched(node):
            self.removed.append((int(cluster.now), node.pool))
            original(node)

        cluster.remove_node = watched

    def tick(self, t):
        for name, count in self.plan.get(t, {}).items():
            self.cluster.set_desired(name, count)
        self.ca.tick(t)

    def on_arrival(self, workload, at):
        pass


def _two_pools():
    return builders.scenario(
        workloads=[builders.workload("a", pools=("x",)), builders.workload("b", pools=("y",))],
        pools=[builders.pool("x"), builders.pool("y")],
        arrivals=[{"workload": "a", "burst": {"count": 1, "at": "20m"}}], duration="30m")


def test_cluster_autoscaler_removes_a_node_only_after_ten_minutes_unneeded():
    cluster = Cluster(_two_pools())
    policy = _PodsThenAutoscaler({0: {"a": 1}, 100: {"a": 0}})
    cluster.run(policy)
    # The node added at 0 s for the pending pod is empty from 100 s: unneeded at the scan at 100 s, gone at 700 s.
    assert policy.removed == [(700, "x")]


def test_cluster_autoscaler_removes_nothing_within_ten_minutes_of_a_scale_up():
    cluster = Cluster(_two_pools())
    policy = _PodsThenAutoscaler({0: {"a": 1}, 100: {"a": 0}, 300: {"b": 1}})
    cluster.run(policy)
    # Pool y grew at 300 s: x's node, ripe at 700 s, waits for 300 + 600.
    assert policy.removed[0] == (900, "x")


def test_cluster_autoscaler_adds_once_for_pods_an_upcoming_node_will_take():
    cluster = Cluster(_two_pools())
    cluster.run(_PodsThenAutoscaler({0: {"a": 2}, 20: {"a": 4}}))
    # The node asked for at 0 s (ready at 60 s) holds four 500m pods: the two at 20 s need no second node.
    assert len(cluster.record.launch_times) == 1


def test_hpa_on_cpu_sees_load_only_once_a_second_scrape_measured_it():
    scenario = builders.fargate(workloads=[builders.workload(pools=(), kind="ECSService", max_replicas=10)],
                                arrivals=[{"workload": "photos", "burst": {"count": 500, "at": "10s"}}])
    scenario.work["photos"] = replace(scenario.work["photos"], cpu_busy_millicores=500)
    seen = changes(Cluster(scenario), HpaCpu(scenario))
    # The resting pod is busy from 10 s. A pod's first sample needs two scrapes (0 s and 30 s), so the syncs at 0 s
    # and 15 s have none and change nothing; the sample at 30 s is (20 s × 500m + 10 s × 5m) / 30 s = 335m, 67 % of
    # the 500m request, and the sync at 30 s asks ceil(1 × 67 / 30) = 3.
    assert seen[0] == (30, "photos", 3)


def test_target_tracking_scales_out_after_three_datapoints_above_target():
    scenario = builders.fargate(workloads=[builders.workload(pools=(), kind="ECSService", max_replicas=10)],
                                arrivals=[{"workload": "photos", "burst": {"count": 1000, "at": "5s"}}])
    seen = changes(Cluster(scenario), TargetTracking(scenario))
    # Target 300 s / 1 s = 300 per task; the minutes ending at 60, 120 and 180 s are all above it: at 180 s the one
    # task's last minute averaged ~850 visible, ceil(1 × 850 / 300) = 3.
    assert seen[0] == (180, "photos", 3)
