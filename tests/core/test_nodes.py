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


def _shaped(cpu, memory, max_tasks, max_nodes):
    return replace(pool(max_nodes=max_nodes), instance=replace(pool().instance, cpu_millicores=cpu, memory_mib=memory,
                                                               max_tasks=max_tasks))


@pytest.mark.parametrize("node, tasks, want_nodes, want_placed", [
    # = cluster-autoscaler estimator/binpacking_estimator_test.go TestBinpackingEstimate: its template node (cpu,
    # memory MiB, pods, the limiter's maxNodes) as a pool, its pod equivalence group as one workload's tasks.
    pytest.param((350 * 3 - 50, 2000, 10, 20), (350, 1000, 10), 5, 10,
                 id="TestBinpackingEstimate/simple-resource-based-binpacking"),
    pytest.param((10000, 20000, 10, 20), (10, 100, 20), 2, 20,
                 id="TestBinpackingEstimate/pods-per-node-bound-binpacking"),
    pytest.param((1000, 5000, 10, 5), (500, 1000, 20), 5, 10, id="TestBinpackingEstimate/limiter-cuts-binpacking"),
])
def test_nodes_and_tasks_placed_as_the_binpacking_estimator_counts_them(node, tasks, want_nodes, want_placed):
    cpu, memory, count = tasks
    wl = workload(cpu=cpu, memory=memory, node_pools=("general",), max_replicas=100)
    plan = _plan([nodes.Demand(wl, count, True)], [_shaped(*node)], {"general": PoolObservation(0)})
    assert (plan.pools["general"].nodes, plan.pools["general"].tasks) == (want_nodes, want_placed)


def test_a_full_pool_gives_the_smaller_tasks_room_where_the_estimator_would_place_only_the_larger():
    # = TestBinpackingEstimate "decreasing ordered pods are processed first": 10 pods of 50m and 10 of 500m (1 GiB
    # each) onto at most 5 nodes of 1000m/5000MiB. The estimator places the larger ten and nothing else; Ballast
    # deals the room in rounds, larger first within each, so both workloads run (the departure README's design
    # notes give the reason for).
    small = workload("grayscale", cpu=50, memory=1000, node_pools=("general",))
    large = workload("thumbnail", cpu=500, memory=1000, node_pools=("general",))
    plan = _plan([nodes.Demand(small, 10, True), nodes.Demand(large, 10, True)], [_shaped(1000, 5000, 10, 5)],
                 {"general": PoolObservation(0)})
    assert {name: limit.replicas for name, limit in plan.capacity.items()} == {"grayscale": 8, "thumbnail": 8}


def test_larger_tasks_are_placed_first_as_the_binpacking_estimator_orders_them():
    # = cluster-autoscaler DecreasingPodOrderer: score = cpu / node cpu + memory / node memory, highest first. The
    # memory-heavy task (0.25 + 0.625) goes before the CPU-heavy one (0.5 + 0.125): two nodes. CPU first would pack
    # both CPU-heavy tasks on one node and need three.
    cpu_heavy = workload("thumbnail", cpu=2000, memory=1024, node_pools=("general",))
    memory_heavy = workload("watermark", cpu=1000, memory=5120, node_pools=("general",))
    plan = _plan([nodes.Demand(cpu_heavy, 2, True), nodes.Demand(memory_heavy, 2, True)], [pool()],
                 {"general": PoolObservation(0)})
    assert plan.pools["general"].nodes == 2


def test_a_full_pool_deals_its_shares_in_rounds_so_no_workload_starves_behind_larger_tasks():
    # One node of 4000m/8192MiB. Round by round the room holds one 1000m/4096MiB task and two 1500m/1024MiB ones;
    # equal backlogs share it 2 and 1 by name. Placed whole, the two large tasks would fill the memory and leave the
    # small-task workload at zero.
    large = workload("grayscale", cpu=1000, memory=4096, node_pools=("general",))
    small = workload("thumbnail", cpu=1500, memory=1024, node_pools=("general",))
    demands = [nodes.Demand(large, 2, True, backlog=50), nodes.Demand(small, 2, True, backlog=50)]
    plan = _plan(demands, [pool(max_nodes=1)], {"general": PoolObservation(1)})
    assert {name: limit.replicas for name, limit in plan.capacity.items()} == {"grayscale": 1, "thumbnail": 1}


@pytest.mark.parametrize("max_tasks, replicas, want_nodes", [
    # An m5.large on EKS holds 29 pods with the VPC CNI, however small they are; on ECS with awsvpc, one task per
    # spare ENI (2 on an m5.large without trunking).
    pytest.param(None, 58, 2, id="cpu-and-memory-alone-40-per-node"),
    pytest.param(29, 58, 2, id="eks-m5.large-29-pods"),
    pytest.param(29, 59, 3, id="eks-the-thirtieth-pod-needs-a-node"),
    pytest.param(2, 5, 3, id="ecs-awsvpc-two-enis"),
])
def test_a_node_holds_at_most_its_task_limit(max_tasks, replicas, want_nodes):
    wl = workload(cpu=50, memory=128, node_pools=("general",), max_replicas=100)
    shape = replace(pool(cpu=2000, memory=8192, max_nodes=10), instance=replace(pool().instance, cpu_millicores=2000,
                                                                                memory_mib=8192, max_tasks=max_tasks))
    plan = _plan([nodes.Demand(wl, replicas, True)], [shape], {"general": PoolObservation(0)})
    assert plan.pools["general"].nodes == want_nodes


def test_the_task_limit_caps_what_max_nodes_hold():
    wl = workload(cpu=50, memory=128, node_pools=("general",), max_replicas=100)
    shape = replace(pool(max_nodes=2), instance=replace(pool().instance, max_tasks=29))
    plan = _plan([nodes.Demand(wl, 80, True)], [shape], {"general": PoolObservation(2)})
    assert plan.capacity[wl.name].replicas == 58


def test_tasks_that_request_no_cpu_are_bound_by_memory_and_slots():
    wl = workload(cpu=0, memory=2048, node_pools=("general",))
    plan = _plan([nodes.Demand(wl, 8, True)], [pool()], {"general": PoolObservation(0)})
    assert plan.pools["general"].nodes == 2  # 4 per 8 GiB node
