"""The platform model: work is conserved, placement respects a node's room, billing has each provider's minimum."""
import math

import pytest

from ballast.simulate import measure
from ballast.simulate.engine import Cluster
from ballast.simulate.fleet import PENDING, RUNNING
from ballast.simulate.policies import POLICIES
from ballast.simulate.run import play
from tests.ballast.simulate import builders


class Hold:
    """A policy that sets fixed counts at time zero (or at given seconds) and then does nothing."""

    name = label = "hold"

    def __init__(self, replicas=None, nodes=None, at=0, then=None):
        self.replicas, self.nodes, self.at, self.then = replicas or {}, nodes or {}, at, then or {}

    def start(self, cluster):
        self.cluster = cluster

    def tick(self, t):
        if t == self.at:
            for pool, count in self.nodes.items():
                self.cluster.set_pool_size(pool, count)
            for name, count in self.replicas.items():
                self.cluster.set_desired(name, count)
        for name, count in self.then.get(t, {}).items():
            self.cluster.set_desired(name, count)

    def on_arrival(self, workload, at):
        pass


def two_queues():
    return builders.scenario(
        workloads=[builders.workload("a"), builders.workload("b", cpu=1000)],
        arrivals=[{"workload": "a", "burst": {"count": 300, "at": "5s", "over": "60s"}},
                  {"workload": "b", "rate": "2/s", "from": "0s", "until": "5m"}],
        service=0.7, duration="1h")


@pytest.mark.parametrize("policy", sorted(POLICIES))
def test_every_arrival_is_done_exactly_once(policy):
    summary, cluster = play(two_queues(), policy, keep_timeline=False)
    assert summary["items"] == len(cluster.arrival_t) == summary["done"]
    assert not any(math.isnan(t) for t in cluster.done_t)
    assert all(done >= arrived + service - 1e-9
               for arrived, done, service in zip(cluster.arrival_t, cluster.done_t, cluster.service_s))
    assert all(q.backlog == 0 for q in cluster.queues.values())


def test_a_worker_takes_one_item_at_a_time_for_its_service_time():
    scenario = builders.scenario(service=2.0, arrivals=[{"workload": "photos", "burst": {"count": 4, "at": "100s"}}])
    cluster = Cluster(scenario)
    cluster.run(Hold({"photos": 1}, {"workers": 1}))
    # Node at 60 s, task at 65 s; four items at 100 s on one worker end at 102, 104, 106, 108.
    assert sorted(cluster.done_t) == [102.0, 104.0, 106.0, 108.0]


@pytest.mark.parametrize("cpu, memory, pods, want", [
    pytest.param(500, 512, None, 4, id="cpu-limits-to-four"),
    pytest.param(100, 3000, None, 2, id="memory-limits-to-two"),
    pytest.param(100, 100, 3, 3, id="pod-limit-of-three"),
])
def test_placement_respects_cpu_memory_and_the_pod_limit(cpu, memory, pods, want):
    platform = {"kind": "eks", "taskStart": {"fixed": 5}, "nodeBoot": {"fixed": 60}, "nodeJoin": {"fixed": 0}}
    if pods:
        platform["maxTasksPerNode"] = pods
    scenario = builders.scenario(workloads=[builders.workload(cpu=cpu, memory=memory, max_replicas=10)],
                                 pools=[builders.pool(cpu=2000, memory=6144)], platform=platform)
    cluster = Cluster(scenario)
    cluster.run(Hold({"photos": 10}, {"workers": 1}))
    assert cluster.count("photos", RUNNING) == want and cluster.count("photos", PENDING) == 10 - want


def test_a_short_lived_node_is_billed_its_minute():
    scenario = builders.scenario(arrivals=[{"workload": "photos", "burst": {"count": 1, "at": "5m"}}], duration="10m")
    cluster = Cluster(scenario)
    cluster.run(_Blip())
    # Asked for at 0 and terminated at 10 s: 10 node-seconds, billed as 60.
    assert measure.summarize(cluster, _Blip(), 0)["node_seconds"] == pytest.approx(10)
    assert measure.summarize(cluster, _Blip(), 0)["cost"] == pytest.approx(60 * 0.096 / 3600)


class _Blip(Hold):
    def tick(self, t):
        if t == 0:
            self.cluster.set_pool_size("workers", 1)
        if t == 10:
            self.cluster.set_pool_size("workers", 0)


def test_a_short_fargate_task_is_billed_its_minute_at_the_smallest_size_holding_it():
    scenario = builders.fargate(workloads=[builders.workload(pools=(), kind="ECSService", cpu=300, memory=600)],
                                arrivals=[{"workload": "photos", "burst": {"count": 1, "at": "5m"}}], duration="10m")
    cluster = Cluster(scenario)
    cluster.run(Hold({"photos": 1}, then={20: {"photos": 0}}))
    summary = measure.summarize(cluster, Hold(), 0)
    # 300m and 600 MiB need 0.5 vCPU and 1 GB; 20 s of life are billed as 60.
    assert summary["task_seconds"] == pytest.approx(20)
    assert summary["cost"] == pytest.approx(60 * (0.5 * 0.04048 + 1 * 0.004445) / 3600)


def test_a_busy_worker_told_to_stop_finishes_its_item_first():
    scenario = builders.scenario(service=30.0, arrivals=[{"workload": "photos", "burst": {"count": 1, "at": "70s"}}])
    cluster = Cluster(scenario)
    cluster.run(Hold({"photos": 1}, {"workers": 1}, then={80: {"photos": 0}}))
    assert cluster.done_t == [100.0]  # taken at 70 s, asked to stop at 80 s, done at 100 s


def test_pending_beyond_a_boot_counts_only_waiting_with_no_node_booting():
    scenario = builders.scenario(arrivals=[{"workload": "photos", "burst": {"count": 1, "at": "5m"}}])
    cluster = Cluster(scenario)
    # A task asked for at 0, its node only at 30 s (ready at 90 s): 30 s of the wait is no boot's.
    cluster.run(_LateNode())
    assert cluster.record.pending_beyond_boot_s == pytest.approx(30)


class _LateNode(Hold):
    def tick(self, t):
        if t == 0:
            self.cluster.set_desired("photos", 1)
        if t == 30:
            self.cluster.set_pool_size("workers", 1)


def test_the_same_scenario_gives_the_same_numbers():
    first, _ = play(two_queues(), "ballast", keep_timeline=False)
    second, _ = play(two_queues(), "ballast", keep_timeline=False)
    drop = ("elapsed_s",)
    assert {k: v for k, v in first.items() if k not in drop} == {k: v for k, v in second.items() if k not in drop}
