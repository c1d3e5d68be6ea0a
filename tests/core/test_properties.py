"""Properties of the decision core that must hold for any input (hypothesis)."""
import json
from datetime import timedelta

from hypothesis import given, settings, strategies as st

from chalicelib.core.decide import decide, decide_tick
from chalicelib.core.types import History, Observation, PoolObservation, QueueDepth, Recommendation, ScaleEvent
from chalicelib.model import BacklogMetric, DeadlineMetric
from tests.core.fleet import NOW, pool, workload

depths = st.one_of(st.none(), st.builds(QueueDepth, st.integers(0, 5000), st.integers(0, 500), st.integers(0, 50)))
ages = st.integers(0, 1200).map(lambda s: NOW - timedelta(seconds=s))
histories = st.builds(
    History,
    recommendations=st.lists(st.builds(Recommendation, st.integers(0, 80), ages), max_size=6).map(tuple),
    scale_up_events=st.lists(st.builds(ScaleEvent, st.integers(1, 20), ages), max_size=3).map(tuple),
    scale_down_events=st.lists(st.builds(ScaleEvent, st.integers(1, 20), ages), max_size=3).map(tuple),
    queue_last_nonempty_at=st.one_of(st.none(), ages),
)


@st.composite
def cases(draw):
    min_replicas = draw(st.integers(0, 5))
    max_replicas = draw(st.integers(max(min_replicas, 1), 60))
    metrics = draw(st.sampled_from([(BacklogMetric(5),), (BacklogMetric(2, 3),), (DeadlineMetric(120),),
                                    (BacklogMetric(10), DeadlineMetric(300))]))
    wl = workload(min_replicas=min_replicas, max_replicas=max_replicas, metrics=metrics,
                  include_delayed=draw(st.booleans()))
    observed = Observation(replicas=draw(st.integers(0, 80)), queue=draw(depths),
                           arrival_per_s=draw(st.one_of(st.none(), st.floats(0, 20))))
    return wl, observed, draw(histories)


@settings(max_examples=300, deadline=None)
@given(cases())
def test_decisions_stay_within_min_and_max(case):
    wl, observed, history = case
    decision = decide(wl, observed, history, NOW)
    if observed.replicas == 0 and wl.min_replicas > 0:
        # The HPA's one exception (horizontal.go): a target at zero with minReplicas above zero is left there.
        assert (decision.replicas, decision.reason) == (0, "ScalingDisabled")
    else:
        assert wl.min_replicas <= decision.replicas <= wl.max_replicas


@settings(max_examples=300, deadline=None)
@given(cases())
def test_no_scale_up_while_queue_and_in_flight_are_empty(case):
    wl, observed, history = case
    if observed.queue is not None and observed.queue.backlog(wl.include_delayed) == 0:
        assert decide(wl, observed, history, NOW).replicas <= max(observed.replicas, wl.min_replicas)


@settings(max_examples=200, deadline=None)
@given(cases(), st.integers(1000, 16000), st.integers(1, 10), st.integers(0, 10), st.integers(250, 4000))
def test_replicas_never_exceed_what_the_node_pool_can_hold(case, node_cpu, max_nodes, nodes_now, task_cpu):
    wl, observed, history = case
    wl = workload(min_replicas=wl.min_replicas, max_replicas=wl.max_replicas, metrics=wl.metrics, cpu=task_cpu,
                  memory=1024, node_pools=("general",))
    shape = pool(cpu=node_cpu, memory=node_cpu * 2, max_nodes=max_nodes)
    tick = decide_tick((wl,), {"general": shape}, {wl.name: observed}, {wl.name: history},
                       {"general": PoolObservation(nodes_now)}, NOW)
    per_node = min(node_cpu // task_cpu, (node_cpu * 2) // 1024)
    assert tick.workloads[wl.name].replicas <= per_node * max_nodes
    assert tick.pools["general"].nodes <= max_nodes


@settings(max_examples=200, deadline=None)
@given(cases())
def test_same_inputs_give_the_same_decision_and_history_survives_json(case):
    wl, observed, history = case
    first, second = decide(wl, observed, history, NOW), decide(wl, observed, history, NOW)
    assert first == second
    assert History.from_dict(json.loads(json.dumps(first.history.to_dict()))) == first.history
