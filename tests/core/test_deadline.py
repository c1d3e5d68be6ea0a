"""The drain-deadline proposal of core/deadline.py."""
import random

import pytest

from chalicelib.core import deadline
from chalicelib.core.decide import decide
from chalicelib.core.types import History, Observation, QueueDepth, ThroughputSample
from chalicelib.model import DeadlineMetric
from tests.core.fleet import NOW, ago, workload


@pytest.mark.parametrize("work, ready, rate, deadline_s, startup_s, arrivals, want", [
    pytest.param(600, 0, 1.0, 300, 0, 0, 2, id="backlog-over-deadline-at-rate"),
    pytest.param(600, 0, 1.0, 300, 60, 0, 3, id="start-up-latency-costs-a-replica"),
    pytest.param(600, 4, 1.0, 300, 60, 0, 2, id="enough-running-replicas-may-shrink"),
    pytest.param(900, 2, 1.0, 300, 150, 0, 4, id="new-replicas-help-only-after-start-up"),
    pytest.param(10, 0, 1.0, 300, 0, 5.0, 5, id="arrivals-need-steady-state-replicas"),
    pytest.param(600, 0, 1.0, 30, 30, 0, None, id="start-up-longer-than-deadline-is-unreachable"),
])
def test_fewest_replicas_that_finish_within_the_deadline(work, ready, rate, deadline_s, startup_s, arrivals, want):
    assert deadline.replicas_needed(work, ready, rate, deadline_s, startup_s, arrivals) == want


def _observed(current, backlog, samples=(), startup_s=None):
    return Observation(replicas=current, queue=QueueDepth(backlog), throughput=tuple(samples), startup_s=startup_s)


def test_uses_the_prior_until_min_samples_readings_held_completions():
    metric = DeadlineMetric(300, prior_items_per_s=1.0, prior_startup_s=0, min_samples=3)
    history = History()
    for _ in range(2):
        history = deadline.learn(_observed(0, 0, [ThroughputSample(10, 5)] * 2), history)
    assert deadline.throughput_of(metric, history) == 1.0
    history = deadline.learn(_observed(0, 0, [ThroughputSample(10, 5)]), history)
    assert deadline.throughput_of(metric, history) == 2.0


def test_the_first_completions_of_a_burst_replace_the_prior_by_default():
    metric = DeadlineMetric(300, prior_items_per_s=1.0)
    assert deadline.throughput_of(metric, History()) == 1.0
    history = deadline.learn(_observed(8, 900, [ThroughputSample(6, 12)]), History())  # one tick: 6 images, 12 s busy
    assert deadline.throughput_of(metric, history) == 0.5


def test_learned_throughput_weighs_each_reading_by_its_busy_time():
    # 30 replica-seconds at 1/s, then 10 at 3/s: the busy-weighted mean is 1.5/s, not the mean of the two rates.
    history = deadline.learn(_observed(4, 100, [ThroughputSample(30, 30)]), History())
    history = deadline.learn(_observed(4, 100, [ThroughputSample(30, 10)]), history)
    assert history.throughput_per_s == pytest.approx(1.5)


def test_a_long_learned_throughput_moves_little_for_one_slow_reading():
    history = History(throughput_per_s=2.0, throughput_samples=50, throughput_busy_s=deadline.THROUGHPUT_MEMORY_S)
    history = deadline.learn(_observed(4, 100, [ThroughputSample(9, 18)]), history)  # one reading at 0.5/s
    assert 1.9 < history.throughput_per_s < 2.0


def test_proposes_fewer_replicas_once_faster_throughput_is_learned():
    wl = workload(metrics=(DeadlineMetric(300, prior_items_per_s=1.0, prior_startup_s=0, min_samples=1),))
    history = deadline.learn(_observed(0, 0, [ThroughputSample(40, 10)]), History())
    proposal = deadline.propose(wl, wl.metrics[0], _observed(0, 1200), history, NOW)
    assert proposal.replicas == 1 and proposal.reason == deadline.AT_RISK


def test_empty_queue_follows_the_cooldown_not_the_arrival_rate():
    wl = workload(min_replicas=0, metrics=(DeadlineMetric(300),))
    proposal = deadline.propose(wl, wl.metrics[0], _observed(4, 0), History(queue_last_nonempty_at=ago(30)), NOW)
    assert proposal.replicas == 1


def test_does_not_oscillate_on_noisy_throughput_samples():
    noise = random.Random(7)
    wl = workload(min_replicas=0, max_replicas=50,
                  metrics=(DeadlineMetric(300, prior_items_per_s=0.5, prior_startup_s=20, min_samples=5),))
    history, replicas = History(), 12
    seen = []
    for tick in range(60):
        samples = [ThroughputSample(noise.uniform(0.35, 0.65) * 60, 60) for _ in range(3)]
        observed = Observation(replicas=replicas, queue=QueueDepth(1500), throughput=tuple(samples),
                               startup_s=noise.uniform(15, 25), arrival_per_s=2.0)
        decision = decide(wl, observed, history, NOW.replace(hour=12 + tick // 60, minute=tick % 60))
        history, replicas = decision.history, decision.replicas
        seen.append(replicas)
    settled = seen[10:]  # after minSamples and the first start-ups
    changes = [b - a for a, b in zip(settled, settled[1:]) if b != a]
    reversals = sum(1 for a, b in zip(changes, changes[1:]) if (a > 0) != (b > 0))
    assert reversals == 0
