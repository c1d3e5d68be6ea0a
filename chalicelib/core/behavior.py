"""The HPA `behavior` of DESIGN.md "The decision core": stabilisation windows, Pods/Percent rate policies, selectPolicy and the min/max clamp."""
from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache

from chalicelib.core.types import History, Recommendation, ScaleEvent
from chalicelib.model import Condition, ScalingRules, Workload

ABLE_TO_SCALE = "AbleToScale"
SCALING_ACTIVE = "ScalingActive"
SCALING_LIMITED = "ScalingLimited"

READY_FOR_NEW_SCALE = "ReadyForNewScale"
SCALE_UP_STABILIZED = "ScaleUpStabilized"
SCALE_DOWN_STABILIZED = "ScaleDownStabilized"
SCALE_UP_LIMIT = "ScaleUpLimit"
SCALE_DOWN_LIMIT = "ScaleDownLimit"
TOO_MANY_REPLICAS = "TooManyReplicas"
TOO_FEW_REPLICAS = "TooFewReplicas"
DESIRED_WITHIN_RANGE = "DesiredWithinRange"


@lru_cache(maxsize=4096)
def condition(kind: str, status: bool, reason: str, message: str) -> Condition:
    """A shared, immutable Condition: a tick repeats the same few thousands of times, building them is its main cost."""
    return Condition(kind, status, reason, message)


@dataclass(frozen=True)
class Limited:
    replicas: int
    stabilized: int  # the recommendation after the windows, before rates and min/max
    conditions: tuple[Condition, ...]  # AbleToScale, ScalingLimited
    history: History  # with this tick's recommendation recorded

    @property
    def reason(self) -> str:
        return self.conditions[1].reason if self.conditions[1].status else self.conditions[0].reason


def limit(workload: Workload, current: int, desired: int, history: History, now: datetime) -> Limited:
    """Upstream normalizeDesiredReplicasWithBehaviors: stabilise, then apply the rate policies and min/max."""
    rules = workload.behavior
    # Upstream seeds an HPA's memory with the current count, so a fresh controller never scales down at once.
    recommendations = history.recommendations or (Recommendation(current, now),)
    stabilized, recommendations = stabilize(recommendations, current, desired, rules.scale_up, rules.scale_down, now)
    if stabilized != desired:
        up = desired >= current
        able = condition(ABLE_TO_SCALE, True, SCALE_UP_STABILIZED if up else SCALE_DOWN_STABILIZED,
                         "recent recommendations were lower than current one, applying the lowest recent recommendation"
                         if up else
                         "recent recommendations were higher than current one, applying the highest recent recommendation")
    else:
        able = condition(ABLE_TO_SCALE, True, READY_FOR_NEW_SCALE, "recommended size matches current size")
    replicas, reason, message = rate_limit(current, stabilized, workload.min_replicas, workload.max_replicas,
                                           rules.scale_up, rules.scale_down, history, now)
    limited = condition(SCALING_LIMITED, replicas != stabilized, reason, message)
    return Limited(replicas, stabilized, (able, limited), history.evolve(recommendations=recommendations))


def stabilize(recommendations: tuple[Recommendation, ...], current: int, desired: int, up: ScalingRules,
              down: ScalingRules, now: datetime) -> tuple[int, tuple[Recommendation, ...]]:
    """(stabilised count, recommendations to keep): the lowest of the up window, the highest of the down window."""
    up_cutoff = _before(now, up.stabilization_window_s)
    down_cutoff = _before(now, down.stabilization_window_s)
    up_floor, down_ceiling = desired, desired
    kept = []
    for rec in recommendations:  # one pass: every workload stabilises every tick
        at = rec.at
        if at > up_cutoff and rec.replicas < up_floor:
            up_floor = rec.replicas
        if at > down_cutoff and rec.replicas > down_ceiling:
            down_ceiling = rec.replicas
        if at >= up_cutoff or at >= down_cutoff:
            kept.append(rec)
    kept.append(Recommendation(desired, now))
    return min(max(current, up_floor), down_ceiling), tuple(kept)


@lru_cache(maxsize=64)
def _before(now: datetime, seconds: float) -> datetime:
    """now - seconds, shared: a tick asks the same few windows and periods of every workload."""
    return now - timedelta(seconds=seconds)


def rate_limit(current: int, desired: int, min_replicas: int, max_replicas: int, up: ScalingRules,
               down: ScalingRules, history: History, now: datetime) -> tuple[int, str, str]:
    """Upstream convertDesiredReplicasWithBehaviorRate: (replicas, ScalingLimited reason, message)."""
    if desired > current:
        scale_up_limit = max(scale_up_limit_of(current, history, up, now), current)
        if current == 0:
            # Activation from zero: a Percent-only policy would otherwise keep a workload at zero forever.
            scale_up_limit = max(scale_up_limit, 1)
        if max_replicas > scale_up_limit:
            ceiling, reason, message = scale_up_limit, SCALE_UP_LIMIT, \
                "the desired replica count is increasing faster than the maximum scale rate"
        else:
            ceiling, reason, message = max_replicas, TOO_MANY_REPLICAS, \
                "the desired replica count is more than the maximum replica count"
        if desired > ceiling:
            return ceiling, reason, message
    elif desired < current:
        scale_down_limit = min(scale_down_limit_of(current, history, down, now), current)
        if min_replicas < scale_down_limit:
            floor, reason, message = scale_down_limit, SCALE_DOWN_LIMIT, \
                "the desired replica count is decreasing faster than the maximum scale rate"
        else:
            floor, reason, message = min_replicas, TOO_FEW_REPLICAS, \
                "the desired replica count is less than the minimum replica count"
        if desired < floor:
            return floor, reason, message
    return desired, DESIRED_WITHIN_RANGE, "the desired count is within the acceptable range"


def _changed_within(events: tuple[ScaleEvent, ...], period_s: int, now: datetime) -> int:
    if not events:  # most workloads, most ticks: spare the cutoff's arithmetic
        return 0
    cutoff = _before(now, period_s)
    return sum(e.change for e in events if e.at > cutoff)


def _period_start(current: int, history: History, period_s: int, now: datetime) -> int:
    if not history.scale_up_events and not history.scale_down_events:
        return current
    return current - _changed_within(history.scale_up_events, period_s, now) \
        + _changed_within(history.scale_down_events, period_s, now)


def scale_up_limit_of(current: int, history: History, rules: ScalingRules, now: datetime) -> int:
    """Upstream calculateScaleUpLimitWithScalingRules, float arithmetic included."""
    if rules.select_policy == "Disabled":
        return current
    proposals = []
    for policy in rules.policies:
        start = _period_start(current, history, policy.period_s, now)
        proposals.append(start + policy.value if policy.kind == "Pods"
                         else math.ceil(start * (1 + policy.value / 100)))
    return (min if rules.select_policy == "Min" else max)(proposals)


def scale_down_limit_of(current: int, history: History, rules: ScalingRules, now: datetime) -> int:
    """Upstream calculateScaleDownLimitWithBehaviors: Max picks the biggest change, i.e. the lowest count."""
    if rules.select_policy == "Disabled":
        return current
    proposals = []
    for policy in rules.policies:
        start = _period_start(current, history, policy.period_s, now)
        proposals.append(start - policy.value if policy.kind == "Pods" else int(start * (1 - policy.value / 100)))
    return (max if rules.select_policy == "Min" else min)(proposals)


def record_scale(history: History, rules_up: ScalingRules, rules_down: ScalingRules, previous: int, new: int,
                 now: datetime) -> History:
    """Upstream storeScaleEvent: remember the change for the rate policies, forgetting what no period can see."""
    def kept(events: tuple[ScaleEvent, ...], rules: ScalingRules) -> tuple[ScaleEvent, ...]:
        if not events:
            return events
        cutoff = _before(now, max((p.period_s for p in rules.policies), default=0))
        return tuple(e for e in events if not e.at < cutoff)

    if new > previous:
        return history.evolve(last_scale_at=now, scale_up_events=kept(history.scale_up_events, rules_up)
                              + (ScaleEvent(new - previous, now),))
    if new < previous:
        return history.evolve(last_scale_at=now, scale_down_events=kept(history.scale_down_events, rules_down)
                              + (ScaleEvent(previous - new, now),))
    return history.evolve(last_scale_at=now)
