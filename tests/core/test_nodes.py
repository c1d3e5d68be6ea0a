"""Node planning of core/nodes.py, and its cap on replicas through decide_tick."""
from dataclasses import replace

import pytest

from chalicelib.core import nodes
from chalicelib.core.decide import decide_tick
from chalicelib.core.types import History, Observation, PoolHistory, PoolObservation, QueueDepth, Recommendation
from tests.core.fleet import NOW, ago, pool, workload

STEADY = History(recommendations=(Recommendation(32, ago(400)),))


def _plan(demands, pools, observed, histories=None):
    return nodes.plan(demands, {p.name: p for p in pools}, observed, histories or {}, NOW)


@pytest.mark.parametrize("replicas, cpu, memory, current, want", [
    pytest.param(8, 1000, 2048, 0, 2, id="four-tasks-per-node"),
    pytest.param(9, 1000, 2048, 2, 3, id="one-task-that-cannot-be-placed-adds-one-node"),
    pytest.param(5, 1500, 1024, 0, 3, id="cpu-binds-two-per-node"),
    pytest.param(5, 500, 5000, 0, 5, id="memory-binds-one-per-node"),
    pytest.param(0, 1000, 2048, 0, 0, id="no-tasks-no-nodes"),
])
def test_bin_packs_tasks_onto_the_instance_shape(replicas, cpu, memory, current, want):
    wl = workload(cpu=cpu, memory=memory, node_pools=("general",))
    plan = _plan([nodes.Demand(wl, replicas, True)], [pool()], {"general": PoolObservation(current)})
    assert plan.pools["general"].nodes == want


def test_reserved_resources_are_not_allocatable():
    wl = workload(cpu=1000, memory=2048, node_pools=("general",))
    plan = _plan([nodes.Demand(wl, 4, True)], [pool(reserved_cpu=200)], {"general": PoolObservation(0)})
    assert plan.pools["general"].nodes == 2


def test_never_adds_nodes_when_no_task_waits():
    wl = workload(node_pools=("general",))
    plan = _plan([nodes.Demand(wl, 8, True)], [pool()], {"general": PoolObservation(3)})
    assert plan.pools["general"].nodes == 3 and plan.pools["general"].reason == nodes.UNNEEDED


def test_adds_no_node_for_pending_tasks_of_a_drained_queue():
    wl = workload(node_pools=("general",))
    plan = _plan([nodes.Demand(wl, 12, False)], [pool()], {"general": PoolObservation(2)})
    assert plan.pools["general"].nodes == 2


def test_replicas_pinned_by_the_user_get_nodes_though_their_queue_is_empty():
    pinned = workload(node_pools=("general",), paused=8)
    autoscaled = workload(name="grayscale", node_pools=("general",))
    observed = {name: Observation(8, pending=8, queue=QueueDepth(0)) for name in ("thumbnail", "grayscale")}
    decided = decide_tick((pinned,), {"general": pool()}, {"thumbnail": observed["thumbnail"]}, {},
                          {"general": PoolObservation(0)}, NOW)
    assert decided.pools["general"].nodes == 2  # 8 tasks of 1 CPU on 4-CPU nodes
    drained = decide_tick((autoscaled,), {"general": pool()}, {"grayscale": observed["grayscale"]}, {},
                          {"general": PoolObservation(0)}, NOW)
    assert drained.pools["general"].nodes == 0


def test_caps_replicas_to_what_max_nodes_hold_and_says_so():
    # The seed: 32 pods wanted, room for 24 on 6 nodes; Ballast plans 24 and explains the cap.
    wl = workload(node_pools=("general",), max_replicas=50)
    tick = decide_tick((wl,), {"general": pool()}, {wl.name: Observation(32, queue=QueueDepth(500))},
                       {wl.name: STEADY}, {"general": PoolObservation(6)}, NOW)
    decision = tick.workloads[wl.name]
    limited = [c for c in decision.conditions if c.type == "ScalingLimited"][0]
    assert (decision.replicas, limited.status, limited.reason) == (24, True, nodes.MAX_NODES_REACHED)
    assert tick.pools["general"].nodes == 6


def test_a_full_pool_is_shared_fairly_between_the_workloads_that_want_it():
    # 24 task slots on 6 nodes; three queues each want 20. First-fit in name order would give 20, 4 and 0: a queue
    # left at zero while another holds 20 workers is the unfairness the seed's EKS run showed between deployments.
    wanted = [workload(name, node_pools=("general",)) for name in ("grayscale", "thumbnail", "watermark")]
    plan = _plan([nodes.Demand(wl, 20, True) for wl in wanted], [pool()], {"general": PoolObservation(6)})
    assert {name: limit.replicas for name, limit in plan.capacity.items()} == {"grayscale": 8, "thumbnail": 8,
                                                                             "watermark": 8}


def test_a_share_left_unused_by_a_small_demand_goes_to_the_others():
    small, large = workload("grayscale", node_pools=("general",)), workload("thumbnail", node_pools=("general",))
    plan = _plan([nodes.Demand(small, 2, True), nodes.Demand(large, 40, True)], [pool()], {"general": PoolObservation(6)})
    assert "grayscale" not in plan.capacity and plan.capacity["thumbnail"].replicas == 22


def test_task_larger_than_any_node_is_capped_to_zero():
    wl = workload(cpu=8000, node_pools=("general",))
    plan = _plan([nodes.Demand(wl, 3, True)], [pool()], {"general": PoolObservation(0)})
    assert (plan.capacity[wl.name].replicas, plan.capacity[wl.name].reason) == (0, nodes.NOT_TRIGGER_SCALE_UP)


def test_removes_a_node_only_after_it_stayed_unneeded():
    wl = workload(node_pools=("general",))
    demand, observed = [nodes.Demand(wl, 4, True)], {"general": PoolObservation(2)}
    first = _plan(demand, [pool()], observed).pools["general"]
    early = _plan(demand, [pool()], observed, {"general": PoolHistory((ago(599),))}).pools["general"]
    ripe = _plan(demand, [pool()], observed, {"general": PoolHistory((ago(600),))}).pools["general"]
    assert (first.nodes, early.nodes, ripe.nodes) == (2, 2, 1)
    assert first.history.unneeded_since == (NOW,) and ripe.history.unneeded_since == ()


def test_keeps_min_nodes():
    plan = _plan([], [pool(min_nodes=2)], {"general": PoolObservation(3)}, {"general": PoolHistory((ago(900),))})
    assert plan.pools["general"].nodes == 2


def test_picks_the_cheapest_pool_per_task_and_spills_over():
    wl = workload(node_pools=("big", "small"))
    big = pool("big", cpu=16000, memory=32768, price=0.6, max_nodes=1)    # 16 tasks: 0.0375 per task
    small = pool("small", cpu=4000, memory=8192, price=0.2, max_nodes=10)  # 4 tasks: 0.05 per task
    plan = _plan([nodes.Demand(wl, 20, True)], [big, small], {"big": PoolObservation(0), "small": PoolObservation(0)})
    assert (plan.pools["big"].nodes, plan.pools["small"].nodes) == (1, 1)


def test_fargate_workloads_need_no_nodes():
    wl = workload(min_replicas=0)
    tick = decide_tick((wl,), {"general": pool()}, {wl.name: Observation(0, queue=QueueDepth(100))}, {},
                       {"general": PoolObservation(1)}, NOW)
    assert tick.workloads[wl.name].replicas == 20 and tick.pools["general"].tasks == 0


def test_a_full_pool_is_divided_in_proportion_to_the_work_waiting():
    # 24 slots; all three want 20. Grayscale has 800 waiting, the others 40 each: equal shares (8 each) would stop
    # grayscale's busy workers to start the others', which would then idle long before grayscale is done.
    gray, thumb, water = (workload(name, node_pools=("general",)) for name in ("grayscale", "thumbnail", "watermark"))
    demands = [nodes.Demand(gray, 20, True, current=16, backlog=800), nodes.Demand(thumb, 20, True, current=4, backlog=40),
               nodes.Demand(water, 20, True, current=4, backlog=40)]
    plan = _plan(demands, [pool()], {"general": PoolObservation(6)})
    # Grayscale grows only into room free now: the 4 the others give back are theirs until their tasks have stopped.
    assert {name: limit.replicas for name, limit in plan.capacity.items()} == {"grayscale": 16, "thumbnail": 2,
                                                                             "watermark": 2}
    later = [replace(d, current=min(d.current, 2)) if d.workload.name != "grayscale" else d for d in demands]
    plan = _plan(later, [pool()], {"general": PoolObservation(6)})
    assert "grayscale" not in plan.capacity  # the next tick: all 20 it wants


def test_shares_of_a_full_pool_follow_the_backlogs_by_largest_remainder():
    demands = [nodes.Demand(workload(name), 99, True, backlog=backlog)
               for name, backlog in (("grayscale", 4000), ("thumbnail", 4000), ("watermark", 2000))]
    assert nodes._shares(demands, 12) == {"grayscale": 5, "thumbnail": 5, "watermark": 2}
