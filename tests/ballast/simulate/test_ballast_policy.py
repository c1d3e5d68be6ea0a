"""The Ballast policy drives the real core as the controller does: its cadence, its nudge, its stored memory."""
import json

import pytest

from chalicelib.core import decide
from chalicelib.core.types import History

from ballast.simulate.engine import Cluster
from ballast.simulate.policies import ballast as ballast_policy
from ballast.simulate.policies.ballast import Ballast
from tests.ballast.simulate import builders


@pytest.fixture
def ticks(monkeypatch):
    """The seconds at which the policy called the core's decide_tick, and what it passed."""
    calls = []

    def counting(**kwargs):
        calls.append(kwargs)
        return decide.decide_tick(**kwargs)

    monkeypatch.setattr(ballast_policy, "decide_tick", counting)
    return calls


def test_a_paused_workload_holds_the_count_its_spec_pins(ticks):
    scenario = builders.scenario(workloads=[builders.workload(max_replicas=8, replicas=2)],
                                 arrivals=[{"workload": "photos", "burst": {"count": 400, "at": "10s"}}])
    cluster = Cluster(scenario)
    seen = []
    original = cluster.set_desired
    cluster.set_desired = lambda name, n: (seen.append(n), original(name, n))
    cluster.run(Ballast(scenario))
    assert ticks and seen == [] and cluster.desired["photos"] == 2  # 400 items, yet the core held spec.replicas


def test_the_first_arrival_for_a_workload_at_zero_nudges_a_tick_within_a_second_or_two(ticks):
    scenario = builders.scenario(arrivals=[{"workload": "photos", "burst": {"count": 10, "at": "20.5s"}}])
    Cluster(scenario).run(Ballast(scenario))
    times = [int((call["now"] - scenario.start).total_seconds()) for call in ticks]
    # A scheduled tick at 0 s finds nothing and ends; the arrival at 20.5 s nudges: on_nudge a second later.
    assert times[:2] == [0, 22]


def test_a_busy_controller_ticks_every_fifteen_seconds_across_invocations(ticks):
    scenario = builders.scenario(arrivals=[{"workload": "photos", "burst": {"count": 2000, "at": "5s"}}],
                                 service=1.0, duration="10m")
    Cluster(scenario).run(Ballast(scenario))
    times = [(call["now"] - scenario.start).total_seconds() for call in ticks]
    busy = [t for t in times if 60 <= t < 240]
    # An invocation out of time hands off through the nudge queue: the fleet is never unwatched for a tick or more.
    assert max(b - a for a, b in zip(busy, busy[1:])) <= 15
    assert len(busy) >= 12


def test_the_core_gets_back_the_history_it_returned_through_json(ticks):
    scenario = builders.scenario(arrivals=[{"workload": "photos", "burst": {"count": 200, "at": "5s"}}])
    policy = Ballast(scenario)
    Cluster(scenario).run(policy)
    stored = policy.statuses["photos"]
    assert json.loads(json.dumps(stored)) == stored
    assert History.from_dict(stored["history"]).to_dict() == stored["history"]
    # And each tick handed the core exactly what the previous tick stored.
    assert all(isinstance(call["histories"]["photos"], History) for call in ticks)
    assert "statsSeen" in stored and "arrivalPerSecond" in stored and "startupSeconds" in stored


def test_an_idle_controller_costs_one_tick_a_minute(ticks):
    scenario = builders.scenario(arrivals=[{"workload": "photos", "burst": {"count": 1, "at": "29m"}}])
    Cluster(scenario).run(Ballast(scenario))
    quiet = [int((c["now"] - scenario.start).total_seconds()) for c in ticks]
    assert [t for t in quiet if t < 300] == [0, 60, 120, 180, 240]


def test_the_ballast_policy_sizes_nodes_for_the_tasks_it_wants():
    scenario = builders.scenario(workloads=[builders.workload(max_replicas=8)],
                                 arrivals=[{"workload": "photos", "burst": {"count": 400, "at": "10s"}}])
    policy = Ballast(scenario)
    cluster = Cluster(scenario)
    cluster.run(policy)
    resized = [entry for entry in policy.log if "pool" in entry]
    assert resized and resized[0]["reason"] == "TriggeredScaleUp"
    assert cluster.record.pending_beyond_boot_s == 0  # its pods waited only for the nodes it asked for with them
