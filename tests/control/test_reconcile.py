"""The controller's loop against fakes of the fleets, queues and node groups, and the real store on moto."""
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.control import loop, reconcile
from chalicelib.wiring import Adapters
from chalicelib.adapters.fleets import FleetState
from chalicelib.adapters.metrics import Readings
from chalicelib.adapters.queues import Backlog
from chalicelib.errors import NotFound, Unavailable
from chalicelib.spec import parse_spec

T0 = datetime(2026, 11, 25, 2, 0, 5, tzinfo=timezone.utc)
OPS = ("grayscale", "watermark", "thumbnail")


@dataclass(frozen=True)
class GroupState:
    desired: int
    min: int
    max: int
    ready: int


class FakeFleets:
    def __init__(self, names):
        self.states = {name: FleetState(0, 0, 0) for name in names}
        self.calls, self.failing = [], {}

    def observe(self, targets):
        return {t: (NotFound(f"service {t.service} not found") if t.service not in self.states else self.states[t.service])
                for t in targets}

    def set_desired(self, target, replicas):
        if target.service in self.failing:
            raise self.failing[target.service]
        self.calls.append((target.service, replicas))
        self.states[target.service] = FleetState(replicas, replicas, 0)


class FakeQueues:
    def __init__(self):
        self.depths = {}
        self.sent = []

    def backlog(self, names):
        return {name: self.depths.get(name, Backlog(0, 0, 0)) for name in names}

    def send(self, name, body):
        self.sent.append((name, body))


class FakeNodeGroups:
    def __init__(self, desired=0, maximum=4):
        self.state = GroupState(desired, 0, maximum, desired)
        self.calls = []

    def observe(self, pools):
        return {p: self.state for p in pools}

    def set_desired(self, pool, nodes, state):
        nodes = max(state.min, min(state.max, nodes))
        if nodes != state.desired:
            self.calls.append(nodes)
            self.state = replace(self.state, desired=nodes, ready=nodes)
        return nodes


class FakeMetrics:
    def read(self, targets, containers, series, now):
        return Readings()


def workload(op, pool=None, **spec):
    body = {"metadata": {"name": f"photos-{op}"},
            "spec": {"target": {"kind": "ECSService", "cluster": "ballast-dev", "service": op},
                     "queue": {"name": f"ballast-dev-{op}"}, "minReplicas": 0, "maxReplicas": 10, "cooldownSeconds": 60,
                     "resources": {"cpuMillicores": 1000, "memoryMiB": 1024},
                     "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 10}}],
                     **({"nodePools": [pool]} if pool else {}), **spec}}
    return parse_spec("Workload", body)


def nodepool(max_nodes=4):
    return parse_spec("NodePool", {"metadata": {"name": "workers"}, "spec": {
        "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-nodes"},
        "instance": {"cpuMillicores": 2000, "memoryMiB": 4096}, "maxNodes": max_nodes, "scaleDownUnneededSeconds": 60}})


@pytest.fixture
def world(store):
    fleets, queues, groups = FakeFleets(OPS), FakeQueues(), FakeNodeGroups()
    adapters = Adapters(store=store, queues=queues, fleets=fleets, nodegroups=groups, metrics=FakeMetrics())
    return adapters


def status(store, op):
    return store.get("Workload", "default", f"photos-{op}")["status"]


def test_a_burst_scales_up_on_the_first_tick_and_says_why(world):
    world.store.create(workload("thumbnail"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(visible=420, in_flight=0, delayed=0)
    summary = reconcile.tick(world, T0)
    # 42 wanted, 10 allowed by maxReplicas; activation from zero is not paced by the scale-up rate (4 pods per 15 s).
    assert world.fleets.calls == [("thumbnail", 10)]
    assert summary.actions == 1
    got = status(world.store, "thumbnail")
    assert (got["currentReplicas"], got["desiredReplicas"], got["reason"]) == (0, 10, "TooManyReplicas")
    assert got["backlog"] == {"visible": 420, "inFlight": 0, "delayed": 0}
    limited = {c["type"]: c for c in got["conditions"]}["ScalingLimited"]
    assert limited["status"] == "True"
    events = world.store.list_events("default", "Workload", "photos-thumbnail")
    assert events and events[0]["reason"] == "SuccessfulRescale"


def test_no_scaling_call_when_desired_equals_observed(world):
    world.store.create(workload("thumbnail"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(30, 0, 0)
    reconcile.tick(world, T0)
    reconcile.tick(world, T0 + timedelta(seconds=15))
    assert world.fleets.calls == [("thumbnail", 3)]


def test_a_workload_pinned_while_a_tick_decides_is_not_scaled_on_the_old_spec(world):
    world.store.create(workload("thumbnail"))
    burst = Backlog(visible=420, in_flight=0, delayed=0)

    def pinned_at_zero_after_the_read(names):
        # `ballast scale --replicas 0` lands after the tick read the Workloads, before it acts.
        current = world.store.get("Workload", "default", "photos-thumbnail")
        world.store.replace({**current, "spec": {**current["spec"], "replicas": 0}}, None, current=current)
        world.queues.backlog = lambda names: {name: burst for name in names}
        return {name: burst for name in names}
    world.queues.backlog = pinned_at_zero_after_the_read
    assert reconcile.tick(world, T0).actions == 0
    reconcile.tick(world, T0 + timedelta(seconds=15))
    assert world.fleets.calls == []
    assert (status(world.store, "thumbnail")["desiredReplicas"], status(world.store, "thumbnail")["reason"]) == (0, "ScalingDisabled")


def test_an_empty_queue_never_scales_up_and_reaches_zero_only_after_the_cooldown(world):
    world.store.create(workload("thumbnail"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(50, 0, 0)
    reconcile.tick(world, T0)
    scaled_to = world.fleets.states["thumbnail"].desired
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(0, 0, 0)
    for seconds in (15, 30, 45):
        reconcile.tick(world, T0 + timedelta(seconds=seconds))
        assert world.fleets.calls == [("thumbnail", scaled_to)]
    reconcile.tick(world, T0 + timedelta(seconds=80))
    assert world.fleets.calls[-1] == ("thumbnail", 0)
    assert reconcile.tick(world, T0 + timedelta(seconds=95)).idle


def test_one_workload_whose_service_was_deleted_does_not_stop_the_others(world):
    world.store.create(workload("thumbnail"))
    world.store.create(workload("watermark"))
    del world.fleets.states["watermark"]
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(20, 0, 0)
    world.queues.depths["ballast-dev-watermark"] = Backlog(20, 0, 0)
    summary = reconcile.tick(world, T0)
    assert world.fleets.calls == [("thumbnail", 2)]
    assert summary.failures == 1 and not summary.idle
    able = {c["type"]: c for c in status(world.store, "watermark")["conditions"]}["AbleToScale"]
    assert (able["status"], able["reason"]) == ("False", "FailedGetScale")
    assert world.store.list_events("default", "Workload", "photos-watermark")[0]["type"] == "Warning"


def test_a_throttled_scaling_api_becomes_a_condition_and_is_retried_next_tick(world):
    world.store.create(workload("thumbnail"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(20, 0, 0)
    world.fleets.failing["thumbnail"] = Unavailable("ECS UpdateService throttled", "ThrottlingException")
    reconcile.tick(world, T0)
    able = {c["type"]: c for c in status(world.store, "thumbnail")["conditions"]}["AbleToScale"]
    assert (able["status"], able["reason"]) == ("False", "FailedRescale")
    del world.fleets.failing["thumbnail"]
    reconcile.tick(world, T0 + timedelta(seconds=15))
    assert world.fleets.calls == [("thumbnail", 2)]


def test_dry_run_records_what_it_would_do_and_calls_nothing(world):
    world.store.create(workload("thumbnail", dryRun=True))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(20, 0, 0)
    reconcile.tick(world, T0)
    assert world.fleets.calls == []
    event = world.store.list_events("default", "Workload", "photos-thumbnail")[0]
    assert event["reason"] == "DryRun" and "would scale 0 → 2" in event["message"]


def test_nodes_are_added_only_for_tasks_that_cannot_be_placed(world):
    world.store.create(nodepool())
    world.store.create(workload("thumbnail", pool="workers"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(30, 0, 0)
    reconcile.tick(world, T0)
    assert world.fleets.calls == [("thumbnail", 3)]
    assert world.nodegroups.calls == [2]  # 3 tasks of 1 CPU on 2-CPU nodes
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(0, 0, 0)
    reconcile.tick(world, T0 + timedelta(seconds=15))
    assert world.nodegroups.calls == [2]


def test_the_loop_keeps_ticking_until_unneeded_nodes_are_gone(world, monkeypatch):
    monkeypatch.setattr(loop.config, "TICK_INTERVAL_S", 0.01)
    world.store.create(nodepool())  # nodes unneeded for 60 s are removed
    world.store.create(workload("thumbnail", pool="workers"))
    world.nodegroups.state = GroupState(2, 0, 4, 2)
    clock = iter(T0 + timedelta(seconds=10 * i) for i in range(100))  # 10 s a call, two calls a tick
    ticks = loop.run(world, time_left_ms=lambda: 60_000, clock=lambda: next(clock), sleep=lambda s: None)
    # Every workload was idle from the first tick, and time never ran short: only the nodes kept the loop going.
    assert world.fleets.calls == [] and world.nodegroups.calls == [0]
    assert ticks == 5  # unneeded from 0 s, removed at the tick of 60 s, and the tick of 80 s found all idle


def test_a_pool_at_max_caps_replicas_and_says_so_without_a_call(world):
    world.nodegroups.state = GroupState(1, 0, 1, 1)
    world.store.create(nodepool(max_nodes=1))
    world.store.create(workload("thumbnail", pool="workers"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(100, 0, 0)
    reconcile.tick(world, T0)
    assert world.nodegroups.calls == []
    assert world.fleets.calls == [("thumbnail", 2)]  # two 1-CPU tasks fit one 2-CPU node
    limited = {c["type"]: c for c in status(world.store, "thumbnail")["conditions"]}["ScalingLimited"]
    assert (limited["status"], limited["reason"]) == ("True", "MaxNodesReached")
    assert world.store.get("NodePool", "default", "workers")["status"]["tasks"] == 2


def test_the_store_unreachable_for_a_tick_scales_nothing(world, monkeypatch):
    world.store.create(workload("thumbnail"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(20, 0, 0)
    reconcile.tick(world, T0)

    def down(*args, **kwargs):
        raise Unavailable("the store is unavailable: ThrottlingException", "ThrottlingException")

    monkeypatch.setattr(world.store, "list_all", down)
    with pytest.raises(Unavailable):
        reconcile.tick(world, T0 + timedelta(seconds=400))
    assert world.fleets.calls == [("thumbnail", 2)]


def test_the_seed_burst_scales_up_at_once_never_after_the_queues_empty_and_ends_at_zero(world):
    """The seed's EKS run: 10,000 images into three queues, then nothing. Ballast must not repeat its faults."""
    world.store.create(nodepool(max_nodes=8))
    for op in OPS:
        world.store.create(workload(op, pool="workers"))
    remaining = {"grayscale": 4000, "thumbnail": 4000, "watermark": 2000}
    now = T0
    for step in range(40):
        for op in OPS:
            replicas = world.fleets.states[op].desired
            remaining[op] = max(0, remaining[op] - replicas * 60)  # a replica finishes 4 images/s, 60 per tick
            in_flight = min(remaining[op], replicas)
            world.queues.depths[f"ballast-dev-{op}"] = Backlog(remaining[op] - in_flight, in_flight, 0)
        before = {op: world.fleets.states[op].desired for op in OPS}
        nodes_before, calls_before = world.nodegroups.state.desired, len(world.fleets.calls)
        reconcile.tick(world, now)
        calls = world.fleets.calls[calls_before:]
        if step == 0:
            assert {op for op, replicas in calls if replicas > 0} == set(OPS), "scale-up must start on the first tick"
        if all(v == 0 for v in remaining.values()):
            assert all(replicas <= before[op] for op, replicas in calls), f"scaled up on empty queues at step {step}"
            assert world.nodegroups.state.desired <= nodes_before, f"added nodes after the work was done at step {step}"
        now += timedelta(seconds=15)
    assert {op: world.fleets.states[op].desired for op in OPS} == {op: 0 for op in OPS}
    assert world.nodegroups.state.desired == 0


def test_an_overlapping_invocation_exits_at_once_and_wakes_the_holder(world):
    world.store.acquire_lease(loop.LEASE, "someone-else", ttl_s=45, now=datetime.now(timezone.utc))
    assert loop.run(world, time_left_ms=lambda: 60_000) == 0
    assert world.store.lease_holder(loop.LEASE)["wake"] > 0


def test_the_loop_ticks_until_its_time_is_nearly_used_then_frees_the_lease(world, monkeypatch):
    monkeypatch.setattr(loop.config, "TICK_INTERVAL_S", 0.01)
    world.store.create(workload("thumbnail"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(20, 0, 0)
    remaining = iter(range(20_000, 0, -1_000))
    ticks = loop.run(world, time_left_ms=lambda: next(remaining))
    assert ticks >= 2
    assert world.store.lease_holder(loop.LEASE) is None
    # Work goes on: the next invocation is started now, not at the next minute's schedule.
    assert [(name, body["reason"]) for name, body in world.queues.sent] == [("ballast-dev-nudge", "hand-off")]


def test_a_tick_that_wakes_a_workload_is_followed_by_another_within_seconds(world, monkeypatch):
    # The first tick after a burst's first upload sees its first second only: the next one must not wait a tick.
    monkeypatch.setattr(loop.config, "TICK_INTERVAL_S", 30)
    monkeypatch.setattr(loop, "FOLLOW_UP_S", 0.05)
    world.store.create(workload("thumbnail"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(5, 0, 0)
    ends = time.monotonic() + 2 + loop.SAFETY_MARGIN_S
    ticks = loop.run(world, time_left_ms=lambda: (ends - time.monotonic()) * 1000)
    assert ticks == 2  # the waking tick and its follow-up; the next regular one (30 s) is past the time left
    assert world.fleets.calls == [("thumbnail", 1)]


def test_an_idle_system_ticks_once_and_returns(world):
    world.store.create(workload("thumbnail"))
    assert loop.run(world, time_left_ms=lambda: 60_000) == 1
    assert world.fleets.calls == [] and world.queues.sent == []


# ---- every namespace, and one owner per target ------------------------------------------------------------------


def _in(namespace, manifest):
    manifest["metadata"]["namespace"] = namespace
    return manifest


def _service(op, service):
    manifest = workload(op)
    manifest["spec"]["target"]["service"] = service
    return manifest


class PerGroupNodeGroups(FakeNodeGroups):
    """Node groups by Auto Scaling group name: pools of different namespaces size their own groups."""

    def __init__(self, names):
        super().__init__()
        self.states = {name: GroupState(0, 0, 4, 0) for name in names}
        self.sized = []

    def observe(self, pools):
        return {p: self.states[p.auto_scaling_group] for p in pools}

    def set_desired(self, pool, nodes, state):
        self.sized.append((pool.auto_scaling_group, nodes))
        self.states[pool.auto_scaling_group] = replace(state, desired=nodes, ready=nodes)
        return nodes


def test_a_workload_in_any_namespace_is_scaled_and_told_in_its_own(world):
    world.store.create(_in("team-a", workload("thumbnail")))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(30, 0, 0)
    reconcile.tick(world, T0)
    assert world.fleets.calls == [("thumbnail", 3)]
    assert world.store.get("Workload", "team-a", "photos-thumbnail")["status"]["desiredReplicas"] == 3
    [event] = world.store.list_events("team-a", "Workload", "photos-thumbnail")
    assert event["reason"] == "SuccessfulRescale" and event["involvedObject"]["namespace"] == "team-a"
    assert world.store.list_events("default") == []


def test_a_workload_uses_the_node_pools_of_its_own_namespace_only(world):
    world = replace(world, nodegroups=PerGroupNodeGroups(["nodes-a", "nodes-default"]))
    for namespace, group in (("team-a", "nodes-a"), ("default", "nodes-default")):
        pool = nodepool()
        pool["spec"]["provider"]["autoScalingGroupName"] = group
        world.store.create(_in(namespace, pool))  # both pools are named "workers"
    world.store.create(_in("team-a", workload("thumbnail", pool="workers")))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(30, 0, 0)
    reconcile.tick(world, T0)
    assert world.nodegroups.sized == [("nodes-a", 2)]  # 3 tasks of 1 CPU on 2-CPU nodes, in team-a's group alone
    assert world.store.get("NodePool", "team-a", "workers")["status"]["tasks"] == 3
    assert world.store.get("NodePool", "default", "workers")["status"]["tasks"] == 0


def test_a_pool_of_another_namespace_is_not_seen(world):
    world.store.create(nodepool())  # "workers", in default
    world.store.create(_in("team-a", workload("thumbnail", pool="workers")))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(30, 0, 0)
    reconcile.tick(world, T0)
    assert world.nodegroups.calls == []  # default's nodes are not grown for team-a's tasks
    assert world.store.get("NodePool", "default", "workers")["status"]["tasks"] == 0


def test_two_workloads_owning_one_target_from_before_the_check_are_both_left_alone_and_told(world):
    # Created around the API's check (as before it existed): the store takes them without claims.
    world.store.create(_service("thumbnail", "shared"))
    world.store.create(_in("team-a", _service("watermark", "shared")))
    world.store.create(workload("grayscale"))
    for op in OPS:
        world.queues.depths[f"ballast-dev-{op}"] = Backlog(40, 0, 0)
    world.fleets.states["shared"] = FleetState(0, 0, 0)
    reconcile.tick(world, T0)
    assert world.fleets.calls == [("grayscale", 4)]  # the unconflicted one scales as ever
    for namespace, name, other in (("default", "photos-thumbnail", "team-a/photos-watermark"),
                                   ("team-a", "photos-watermark", "default/photos-thumbnail")):
        got = world.store.get("Workload", namespace, name)["status"]
        active = {c["type"]: c for c in got["conditions"]}["ScalingActive"]
        assert (active["status"], active["reason"]) == ("False", "AmbiguousSelector")
        assert f"also managed by Workload {other}" in active["message"]
        [warning] = world.store.list_events(namespace, "Workload", name)
        assert (warning["type"], warning["reason"]) == ("Warning", "AmbiguousSelector")
    reconcile.tick(world, T0 + timedelta(seconds=15))
    assert len(world.store.list_events("team-a", "Workload", "photos-watermark")) == 1  # warned once, not each tick
    assert world.fleets.calls == [("grayscale", 4)]


def test_two_pools_owning_one_group_size_neither(world):
    world.nodegroups.state = GroupState(1, 0, 4, 1)
    world.store.create(nodepool())
    world.store.create(_in("team-a", nodepool()))
    world.store.create(workload("thumbnail", pool="workers"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(60, 0, 0)
    reconcile.tick(world, T0)
    assert world.nodegroups.calls == []
    active = {c["type"]: c for c in world.store.get("NodePool", "team-a", "workers")["status"]["conditions"]}
    assert active["ScalingActive"]["reason"] == "AmbiguousSelector"


def test_a_wake_asked_for_during_an_idle_tick_gets_one_more_tick(world, monkeypatch):
    world.store.create(workload("thumbnail"))
    tick = reconcile.tick
    woken = []

    def nudged_while_ticking(adapters, now):
        summary = tick(adapters, now)
        if not woken:  # new work lands (ingest nudges) while the first tick is finishing, idle
            woken.append(world.store.request_wake(loop.LEASE, datetime.now(timezone.utc)))
        return summary
    monkeypatch.setattr(reconcile, "tick", nudged_while_ticking)
    assert loop.run(world, time_left_ms=lambda: 60_000) == 2 and woken == [True]


def test_a_wake_asked_for_after_the_idle_check_and_before_the_release_still_gets_one_more_tick(world, monkeypatch):
    world.store.create(workload("thumbnail"))
    release, woken = world.store.release_lease, []

    def nudged_while_letting_go(name, holder, **kwargs):
        if not woken:  # the last instant before the holder lets go: the nudger saw the lease held
            woken.append(world.store.request_wake(loop.LEASE, datetime.now(timezone.utc)))
        return release(name, holder, **kwargs)
    monkeypatch.setattr(world.store, "release_lease", nudged_while_letting_go)
    assert loop.run(world, time_left_ms=lambda: 60_000) == 2 and woken == [True]
    assert world.store.lease_holder(loop.LEASE) is None


def test_a_nudge_that_finds_the_lease_let_go_between_its_two_writes_ticks_itself(world, monkeypatch):
    world.store.create(workload("thumbnail"))
    world.store.acquire_lease(loop.LEASE, "finishing-holder", ttl_s=45, now=datetime.now(timezone.utc))
    wake = world.store.request_wake

    def holder_let_go_first(name, now):
        world.store.release_lease(name, "finishing-holder")
        return wake(name, now)
    monkeypatch.setattr(world.store, "request_wake", holder_let_go_first)
    assert loop.run(world, time_left_ms=lambda: 60_000) == 1
    assert world.store.lease_holder(loop.LEASE) is None


def test_status_samples_what_each_tick_changed_for_the_console_chart(world):
    world.store.create(nodepool())
    world.store.create(workload("thumbnail", pool="workers"))
    world.queues.depths["ballast-dev-thumbnail"] = Backlog(30, 0, 0)
    reconcile.tick(world, T0)
    reconcile.tick(world, T0 + timedelta(seconds=15))  # the same backlog, and the fleet now runs the 3 asked for
    reconcile.tick(world, T0 + timedelta(seconds=30))  # nothing changed
    epoch = int(T0.timestamp())
    assert status(world.store, "thumbnail")["samples"] == [[epoch, 30, 3, 0, 0], [epoch + 15, 30, 3, 3, 3]]
    pool = world.store.get("NodePool", "default", "workers")["status"]
    assert pool["samples"][0] == [epoch, 2, 0, 0, 3]  # desired 2 nodes, none yet, 3 tasks to place
