"""Break-even idle, learned gaps and latency-bound batching of core/idle.py, through the core's own entry points."""
from datetime import timedelta

import pytest

from chalicelib.core import backlog, idle, nodes
from chalicelib.core.decide import decide, decide_tick
from chalicelib.core.types import History, Observation, PoolHistory, PoolObservation, QueueDepth
from chalicelib.model import BacklogMetric, DeadlineMetric
from tests.core.fleet import NOW, ago, pool, workload

DRAINED = QueueDepth(0)


def _drained(current, history, **spec):
    wl = workload(min_replicas=0, **spec)
    return backlog.propose(wl, wl.metrics[0], Observation(current, queue=DRAINED), history, NOW)


# ---- replicas: how long a drained workload keeps them -------------------------------------------------------------


@pytest.mark.parametrize("spec, empty_s, want, reason", [
    # Fargate: a cold start costs its measured start-up (40 s here): kept that long, then zero.
    pytest.param({"cooldown_s": None}, 20, 6, idle.IDLE_KEPT, id="fargate-kept-for-its-start-up"),
    pytest.param({"cooldown_s": None}, 35, 0, backlog.DEACTIVATED, id="fargate-zero-at-the-tick-nearest-break-even"),
    # On a node pool a task costs its node, kept warm on its own: replicas go after a tick.
    pytest.param({"cooldown_s": None, "node_pools": ("general",)}, 5, 6, idle.IDLE_KEPT, id="pool-kept-a-tick"),
    pytest.param({"cooldown_s": None, "node_pools": ("general",)}, 15, 0, backlog.DEACTIVATED, id="pool-then-zero"),
    # An explicit cooldownSeconds is KEDA's: one replica until it has passed, then zero.
    pytest.param({"cooldown_s": 300}, 120, 1, backlog.COOLDOWN, id="explicit-cooldown-keeps-one-as-keda"),
    # KEDA scales in once lastActiveTime + cooldownPeriod is Before(now): strictly after, so 301 s here.
    pytest.param({"cooldown_s": 300}, 301, 0, backlog.DEACTIVATED, id="explicit-cooldown-then-zero"),
])
def test_a_drained_workload_keeps_its_replicas_for_the_break_even_time(spec, empty_s, want, reason):
    history = History(queue_last_nonempty_at=ago(empty_s), startup_s=40.0)
    proposal = _drained(6, history, **spec)
    assert (proposal.replicas, proposal.reason) == (want, reason)


def test_the_break_even_rests_on_the_prior_start_up_until_one_is_measured():
    keep = idle.replica_keep(workload(cooldown_s=None), History())
    assert keep.seconds == idle.STARTUP_PRIOR_S and "break-even" in keep.basis


def test_fargate_replicas_stay_through_the_billing_minute_already_paid():
    history = History(queue_last_nonempty_at=ago(30), startup_s=10.0, last_scale_up_at=ago(35))
    proposal = _drained(1, history, cooldown_s=None)
    assert (proposal.replicas, proposal.reason) == (1, idle.IDLE_KEPT) and "minimum" in proposal.message


def test_replicas_go_at_once_when_the_learned_gap_says_work_comes_back_after_the_break_even():
    # Bursts come back ten minutes apart; keeping 40 s would only cost.
    history = History(queue_last_nonempty_at=ago(5), startup_s=40.0, gap_s=600.0)
    proposal = _drained(6, history, cooldown_s=None)
    assert (proposal.replicas, proposal.reason) == (0, backlog.DEACTIVATED) and "expected back" in proposal.message


@pytest.mark.parametrize("anchor_s, depth, arrival_s, want_gap", [
    pytest.param(240, QueueDepth(5), None, 240.0, id="work-back-after-four-quiet-minutes"),
    pytest.param(10, QueueDepth(5), None, None, id="ten-seconds-between-items-is-one-stretch"),
    pytest.param(200, QueueDepth(0), 20, 180.0, id="a-trickle-seen-by-its-arrival-stamp"),
])
def test_work_coming_back_after_a_quiet_queue_teaches_the_gap(anchor_s, depth, arrival_s, want_gap):
    wl = workload(min_replicas=0)
    observed = Observation(1, queue=depth, last_arrival_at=ago(arrival_s) if arrival_s is not None else None)
    history = backlog.remember(wl, observed, History(queue_last_nonempty_at=ago(anchor_s)), NOW)
    assert history.gap_s == pytest.approx(want_gap) if want_gap is not None else history.gap_s is None


def test_next_work_is_predicted_from_the_gap_and_forgotten_when_long_overdue():
    assert backlog.next_work_in_s(History(queue_last_nonempty_at=ago(100), gap_s=300.0), NOW) == 200.0
    assert backlog.next_work_in_s(History(queue_last_nonempty_at=ago(700), gap_s=300.0), NOW) is None


# ---- nodes: how long an unneeded node stays -----------------------------------------------------------------------


def _pool_plan(history, demand_due_in_s=None, unneeded_s=None, current=2):
    wl = workload(node_pools=("general",), cooldown_s=None)
    demand = nodes.Demand(wl, 0, False, demand_due_in_s)
    return nodes.plan([demand], {"general": pool(unneeded_s=unneeded_s)}, {"general": PoolObservation(current)},
                      {"general": history}, NOW).pools["general"]


@pytest.mark.parametrize("history, want, reason", [
    pytest.param(PoolHistory((ago(60), ago(60)), boot_s=120.0), 2, nodes.UNNEEDED, id="kept-while-a-boot-costs-more"),
    pytest.param(PoolHistory((ago(125), ago(125)), boot_s=120.0), 0, nodes.SCALE_DOWN, id="removed-at-its-boot-time"),
    pytest.param(PoolHistory((ago(80), ago(80))), 2, nodes.UNNEEDED, id="the-prior-boot-before-one-is-measured"),
    pytest.param(PoolHistory((ago(95), ago(95))), 0, nodes.SCALE_DOWN, id="removed-after-the-prior-boot"),
])
def test_an_unneeded_node_stays_for_as_long_as_one_takes_to_boot(history, want, reason):
    decision = _pool_plan(history)
    assert (decision.nodes, decision.reason) == (want, reason)


def test_an_explicit_unneeded_time_overrides_the_break_even():
    assert _pool_plan(PoolHistory((ago(300), ago(300)), boot_s=60.0), unneeded_s=600).nodes == 2


def test_nodes_stay_when_work_is_predicted_sooner_than_a_boot():
    decision = _pool_plan(PoolHistory((ago(200), ago(200)), boot_s=90.0), demand_due_in_s=40.0)
    assert (decision.nodes, decision.reason) == (2, nodes.KEPT_FOR_PREDICTED_WORK)


def test_nodes_go_at_once_when_work_is_predicted_after_their_break_even():
    decision = _pool_plan(PoolHistory((), boot_s=90.0), demand_due_in_s=900.0)
    assert (decision.nodes, decision.reason) == (0, nodes.SCALE_DOWN) and "expected back" in decision.message


def test_a_measured_boot_is_learned_into_the_pool_history():
    wl = workload(node_pools=("general",))
    plan = nodes.plan([nodes.Demand(wl, 4, True)], {"general": pool()}, {"general": PoolObservation(1, 1, boot_s=70.0)},
                      {"general": PoolHistory(boot_s=100.0)}, NOW)
    assert plan.pools["general"].history.boot_s == pytest.approx(100.0 + nodes.BOOT_SMOOTHING * (70.0 - 100.0))


# ---- batching a trickle under a latency bound ---------------------------------------------------------------------


def _at_zero(waiting, waited_s, latency=300, **spec):
    wl = workload(min_replicas=0, cooldown_s=None, **spec)
    wl = type(wl)(**{**wl.__dict__, "latency_bound_s": latency})
    history = History(waiting_since=ago(waited_s), startup_s=40.0, startup_dev_s=2.0, throughput_per_s=1.0)
    return wl, Observation(0, queue=QueueDepth(waiting)), history


def test_a_trickle_waits_at_zero_while_its_oldest_item_can_still_be_done_in_time():
    wl, observed, history = _at_zero(2, 60)
    decision = decide(wl, observed, history, NOW)
    assert (decision.replicas, decision.reason) == (0, idle.BATCHING)


def test_the_batch_starts_when_waiting_longer_would_miss_the_bound():
    wl, observed, history = _at_zero(2, 240)  # 240 s waited + 48 s slow start-up + 2 s of work + a tick > 300 s
    decision = decide(wl, observed, history, NOW)
    assert decision.replicas == 1 and decision.reason == backlog.ACTIVATED


def test_the_batch_starts_when_its_work_outweighs_the_cold_start():
    wl, observed, history = _at_zero(120, 10)  # 120 s of work against a 60 s minimum: waiting saves nothing
    assert decide(wl, observed, history, NOW).replicas > 0


def test_a_drain_deadline_is_a_latency_bound_too():
    wl = workload(min_replicas=0, cooldown_s=None, metrics=(DeadlineMetric(300),))
    history = History(waiting_since=ago(30), startup_s=40.0, startup_dev_s=2.0, throughput_per_s=1.0)
    assert decide(wl, Observation(0, queue=QueueDepth(1)), history, NOW).reason == idle.BATCHING


def test_without_a_bound_work_at_zero_starts_at_once():
    wl = workload(min_replicas=0, cooldown_s=None)
    history = History(waiting_since=ago(30), startup_s=40.0)
    assert decide(wl, Observation(0, queue=QueueDepth(1)), history, NOW).replicas == 1


def test_a_batch_rides_a_ready_node_that_has_room():
    wl, observed, history = _at_zero(1, 20, node_pools=("general",))
    busy = workload("other", min_replicas=0, node_pools=("general",))
    tick = decide_tick((wl, busy), {"general": pool()}, {wl.name: observed, busy.name: Observation(1, queue=QueueDepth(9))},
                       {wl.name: history}, {"general": PoolObservation(1, 1)}, NOW)
    assert tick.workloads[wl.name].replicas == 1


@pytest.mark.parametrize("latency, want_nodes", [
    # Nothing predicts the next item: a node is kept its break-even time, as ever, for a workload that cannot wait...
    pytest.param(None, 1, id="no-bound-kept-its-break-even"),
    # ...but an item of a batching one may wait for the next batch, so the node is not wanted again before that wait
    # (300 s less a slow start-up and boot): it goes once its work is done, rather than being kept by a trickle whose
    # items each come within its break-even time.
    pytest.param(300, 0, id="batching-goes-once-done"),
    # A bound too tight to batch within leaves the break-even keep alone.
    pytest.param(120, 1, id="tight-bound-kept-its-break-even"),
])
def test_a_node_of_drained_batching_workloads_goes_once_its_work_is_done(latency, want_nodes):
    wl = workload(min_replicas=0, cooldown_s=None, node_pools=("general",))
    wl = type(wl)(**{**wl.__dict__, "latency_bound_s": latency})
    history = History(queue_last_nonempty_at=ago(20), startup_s=10.0, startup_dev_s=1.0)  # no gap learned
    tick = decide_tick((wl,), {"general": pool(unneeded_s=None)}, {wl.name: Observation(0, queue=DRAINED)}, {wl.name: history},
                       {"general": PoolObservation(1, 1)}, NOW, {"general": PoolHistory((ago(20),), boot_s=90.0)})
    assert tick.pools["general"].nodes == want_nodes


def test_the_waiting_clock_starts_at_the_first_sight_of_work_and_stops_at_the_start():
    wl = workload(min_replicas=0)
    started = backlog.remember(wl, Observation(0, queue=QueueDepth(1)), History(), NOW)
    later = backlog.remember(wl, Observation(0, queue=QueueDepth(3)), started, NOW + timedelta(seconds=15))
    running = backlog.remember(wl, Observation(1, queue=QueueDepth(3)), later, NOW + timedelta(seconds=30))
    assert (started.waiting_since, later.waiting_since, running.waiting_since) == (NOW, NOW, None)


# ---- activation --------------------------------------------------------------------------------------------------


def test_activation_goes_straight_to_the_backlog_sized_count_and_growth_is_paced_from_there():
    wl = workload(min_replicas=0, max_replicas=100, metrics=(BacklogMetric(5),))
    first = decide(wl, Observation(0, queue=QueueDepth(200)), History(), NOW)
    assert first.replicas == 40  # not 4, the default rate's first step
    then = decide(wl, Observation(40, queue=QueueDepth(1000)), first.history, NOW + timedelta(seconds=5))
    assert then.replicas == 80  # doubled within the period, as 100 % of the activated count allows
