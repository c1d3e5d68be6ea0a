"""HPA `behavior` of core/behavior.py: stabilisation windows, rate policies, selectPolicy and min/max, as horizontal.go."""
import pytest

from chalicelib.core import behavior
from chalicelib.core.types import History, Recommendation, ScaleEvent
from chalicelib.model import Behavior, behavior_from
from tests.core.fleet import NOW, ago, rules, workload

DEFAULT = behavior_from({})


def _limit(current, desired, recs=(), up_events=(), down_events=(), bhv=DEFAULT, min_replicas=1, max_replicas=100):
    history = History(recommendations=tuple(Recommendation(r, ago(s)) for r, s in recs),
                      scale_up_events=tuple(ScaleEvent(c, ago(s)) for c, s in up_events),
                      scale_down_events=tuple(ScaleEvent(c, ago(s)) for c, s in down_events))
    wl = workload(min_replicas=min_replicas, max_replicas=max_replicas, behavior=bhv)
    return behavior.limit(wl, current, desired, history, NOW)


@pytest.mark.parametrize("kwargs, want, able, limited", [
    pytest.param(dict(current=2, desired=4, recs=[(4, 0)]), 4, "ReadyForNewScale", "DesiredWithinRange",
                 id="TestNormalizeDesiredReplicasWithBehavior/scale-up-within-limits"),
    pytest.param(dict(current=5, desired=3, recs=[(4, 60), (3, 0)]), 4, "ScaleDownStabilized", "DesiredWithinRange",
                 id="TestNormalizeDesiredReplicasWithBehavior/scale-down-stabilized"),
    pytest.param(dict(current=5, desired=3, recs=[(6, 301)]), 3, "ReadyForNewScale", "DesiredWithinRange",
                 id="TestStabilizeRecommendationWithBehaviors/recommendation-older-than-window-forgotten"),
    pytest.param(dict(current=5, desired=3), 5, "ScaleDownStabilized", "DesiredWithinRange",
                 id="TestScaleDownStabilizeInitialSize/fresh-controller-seeds-current-count"),
    pytest.param(dict(current=2, desired=8, recs=[(3, 30)], bhv=Behavior(rules(window_s=60), DEFAULT.scale_down)),
                 3, "ScaleUpStabilized", "DesiredWithinRange",
                 id="TestStabilizeRecommendationWithBehaviors/scale-up-window-applies-lowest"),
    pytest.param(dict(current=3, desired=20, recs=[(3, 0)]), 7, "ReadyForNewScale", "ScaleUpLimit",
                 id="TestScalingWithRules/default-scale-up-max-of-4-pods-and-100-percent"),
    pytest.param(dict(current=10, desired=50, recs=[(10, 0)]), 20, "ReadyForNewScale", "ScaleUpLimit",
                 id="TestScalingWithRules/default-scale-up-percent-wins-above-4"),
    pytest.param(dict(current=10, desired=50, recs=[(10, 0)], up_events=[(5, 10)]), 10, "ReadyForNewScale",
                 "ScaleUpLimit", id="TestScalingWithRules/scale-up-events-in-period-lower-the-start"),
    pytest.param(dict(current=10, desired=50, recs=[(10, 0)], up_events=[(5, 20)]), 20, "ReadyForNewScale",
                 "ScaleUpLimit", id="TestScalingWithRules/scale-up-events-outside-period-forgotten"),
    pytest.param(dict(current=10, desired=50, recs=[(10, 0)],
                      bhv=Behavior(rules(select="Min"), DEFAULT.scale_down)), 14, "ReadyForNewScale", "ScaleUpLimit",
                 id="TestCalculateScaleUpLimitWithScalingRules/select-Min-picks-smallest-increase"),
    pytest.param(dict(current=10, desired=50, recs=[(10, 0)],
                      bhv=Behavior(rules(select="Disabled"), DEFAULT.scale_down)), 10, "ReadyForNewScale",
                 "ScaleUpLimit", id="TestCalculateScaleUpLimitWithScalingRules/select-Disabled-holds"),
    pytest.param(dict(current=10, desired=11, recs=[(10, 0)],
                      bhv=Behavior(rules(policies=[("Percent", 10, 60)]), DEFAULT.scale_down)), 11,
                 "ReadyForNewScale", "DesiredWithinRange",
                 id="TestCalculateScaleUpLimitWithScalingRules/percent-rounds-up"),
    pytest.param(dict(current=40, desired=80, recs=[(40, 0)], max_replicas=50), 50, "ReadyForNewScale",
                 "TooManyReplicas", id="TestConvertDesiredReplicasWithRules/too-many-replicas"),
    pytest.param(dict(current=10, desired=1, recs=[(1, 400)], min_replicas=3), 3, "ReadyForNewScale",
                 "TooFewReplicas", id="TestConvertDesiredReplicasWithRules/too-few-replicas"),
    pytest.param(dict(current=10, desired=2, recs=[(2, 400)],
                      bhv=Behavior(DEFAULT.scale_up, rules(300, policies=[("Pods", 2, 60)]))), 8, "ReadyForNewScale",
                 "ScaleDownLimit", id="TestCalculateScaleDownLimitWithBehaviors/pods-policy"),
    pytest.param(dict(current=10, desired=2, recs=[(2, 400)],
                      bhv=Behavior(DEFAULT.scale_up, rules(300, policies=[("Percent", 25, 60)]))), 7,
                 "ReadyForNewScale", "ScaleDownLimit",
                 id="TestCalculateScaleDownLimitWithBehaviors/percent-policy-truncates"),
    pytest.param(dict(current=10, desired=2, recs=[(2, 400)], down_events=[(2, 30)],
                      bhv=Behavior(DEFAULT.scale_up, rules(300, policies=[("Pods", 2, 60)]))), 10,
                 "ReadyForNewScale", "ScaleDownLimit",
                 id="TestCalculateScaleDownLimitWithBehaviors/down-events-in-period-use-up-the-budget"),
    pytest.param(dict(current=10, desired=2, recs=[(2, 400)],
                      bhv=Behavior(DEFAULT.scale_up, rules(300, "Min", [("Pods", 2, 60), ("Percent", 50, 60)]))), 8,
                 "ReadyForNewScale", "ScaleDownLimit",
                 id="TestCalculateScaleDownLimitWithBehaviors/select-Min-picks-smallest-decrease"),
    pytest.param(dict(current=10, desired=2, recs=[(2, 400)],
                      bhv=Behavior(DEFAULT.scale_up, rules(300, "Disabled"))), 10, "ReadyForNewScale",
                 "ScaleDownLimit", id="TestCalculateScaleDownLimitWithBehaviors/select-Disabled-holds"),
])
def test_behavior_limits_as_upstream_normalizes(kwargs, want, able, limited):
    result = _limit(**kwargs)
    assert (result.replicas, result.conditions[0].reason, result.conditions[1].reason) == (want, able, limited)


def test_scaling_limited_is_true_only_when_the_clamp_changed_the_count():
    result = _limit(current=3, desired=20, recs=[(3, 0)])
    assert result.conditions[1].status is True and _limit(current=3, desired=5, recs=[(3, 0)]).conditions[1].status is False


def test_activation_from_zero_is_never_held_at_zero_by_a_percent_only_policy():
    bhv = Behavior(rules(policies=[("Percent", 100, 15)]), DEFAULT.scale_down)
    assert _limit(current=0, desired=5, recs=[(0, 0)], bhv=bhv, min_replicas=0).replicas == 1


def test_recommendations_older_than_both_windows_are_forgotten():
    result = _limit(current=5, desired=5, recs=[(9, 1000), (4, 10)])
    assert [r.replicas for r in result.history.recommendations] == [4, 5]


def test_record_scale_keeps_events_only_within_the_longest_period():
    history = History(scale_up_events=(ScaleEvent(3, ago(100)), ScaleEvent(2, ago(5))))
    recorded = behavior.record_scale(history, DEFAULT.scale_up, DEFAULT.scale_down, 5, 9, NOW)
    assert [(e.change, e.at) for e in recorded.scale_up_events] == [(2, ago(5)), (4, NOW)]
