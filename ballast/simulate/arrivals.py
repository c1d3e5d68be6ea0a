"""The arrivals of a scenario: bursts spread evenly, rates (Poisson or even), and recorded traces.

Each stream sends its items to one workload, or to several in proportion (`mix`): a burst splits exactly and
interleaved, a rate picks at random by weight, so every policy of one seed plays the same items.
"""
from __future__ import annotations

import random
from dataclasses import dataclass

from ballast.simulate.units import ScenarioError, per_second, seconds


@dataclass(frozen=True)
class Arrivals:
    """One stream of items: `count` spread evenly over [at, at + over), a rate between two times, or recorded times."""

    mix: tuple[tuple[str, float], ...]  # (workload, weight): where each item goes
    at_s: float
    count: int = 0  # a burst
    over_s: float = 0.0
    rate_per_s: float = 0.0  # a rate
    until_s: float = 0.0
    poisson: bool = True
    recorded: tuple[float, ...] = ()  # a trace's arrival times

    def times(self, rng: random.Random) -> list[tuple[float, str]]:
        names = [name for name, _ in self.mix]
        weights = [weight for _, weight in self.mix]
        if self.recorded:
            return list(zip(self.recorded, _split(names, weights, len(self.recorded))))
        if self.count:
            step = self.over_s / self.count
            return list(zip((self.at_s + step * i for i in range(self.count)), _split(names, weights, self.count)))
        found, t = [], self.at_s
        while True:
            t += rng.expovariate(self.rate_per_s) if self.poisson else 1 / self.rate_per_s
            if t >= self.until_s:
                return found
            found.append((t, names[0] if len(names) == 1 else rng.choices(names, weights)[0]))


def _split(names: list[str], weights: list[float], count: int) -> list[str]:
    """Each item's workload, exactly in proportion and interleaved (40/40/20 of 10 is 4, 4, 2, spread out)."""
    total = sum(weights)
    credit, order = [0.0] * len(names), []
    for _ in range(count):
        credit = [c + w / total for c, w in zip(credit, weights)]
        pick = max(range(len(names)), key=lambda i: credit[i])
        credit[pick] -= 1
        order.append(names[pick])
    return order


def arrivals_from(section: object, names: list[str], duration: float) -> tuple[Arrivals, ...]:
    if not isinstance(section, list) or not section:
        raise ScenarioError("arrivals", "must be a non-empty list of bursts and rates")
    return tuple(_stream(entry, f"arrivals[{i}]", names, duration) for i, entry in enumerate(section))


def _stream(entry: object, path: str, names: list[str], duration: float) -> Arrivals:
    if not isinstance(entry, dict):
        raise ScenarioError(path, f"must be a mapping with burst or rate, got {entry!r}")
    known = {"burst", "rate", "times", "perMinute", "from", "until", "process", "workload", "mix"}
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ScenarioError(f"{path}.{unknown[0]}", f"is not a known field ({', '.join(sorted(known))})")
    mix = _mix(entry, path, names)
    forms = [form for form in ("burst", "rate", "times", "perMinute") if form in entry]
    if len(forms) != 1:
        raise ScenarioError(path, "must have exactly one of burst, rate, times or perMinute")
    if forms[0] in ("times", "perMinute"):
        return _recorded(entry, forms[0], path, mix, duration)
    if "burst" in entry:
        burst = entry["burst"]
        if not isinstance(burst, dict) or set(burst) - {"count", "at", "over"} or "count" not in burst:
            raise ScenarioError(f"{path}.burst", f"must be {{count: N, at: 10s, over: 60s}}, got {burst!r}")
        count = burst["count"]
        if isinstance(count, bool) or not isinstance(count, int) or count < 1:
            raise ScenarioError(f"{path}.burst.count", f"must be a whole number ≥ 1, got {count!r}")
        at = seconds(burst.get("at", 0), f"{path}.burst.at")
        over = seconds(burst.get("over", 0), f"{path}.burst.over")
        if at + over > duration:
            raise ScenarioError(f"{path}.burst", f"ends at {at + over:g}s, after the scenario's duration {duration:g}s")
        return Arrivals(mix, at, count=count, over_s=over)
    rate = per_second(entry["rate"], f"{path}.rate")
    start = seconds(entry.get("from", 0), f"{path}.from")
    until = seconds(entry.get("until", duration), f"{path}.until")
    if until <= start or until > duration:
        raise ScenarioError(f"{path}.until", f"must be after from ({start:g}s) and within duration ({duration:g}s)")
    process = entry.get("process", "poisson")
    if process not in ("poisson", "even"):
        raise ScenarioError(f"{path}.process", f"must be poisson or even, got {process!r}")
    return Arrivals(mix, start, rate_per_s=rate, until_s=until, poisson=process == "poisson")


def _recorded(entry: dict, form: str, path: str, mix, duration: float) -> Arrivals:
    """A recorded trace: arrival times in seconds, or counts per minute from `from` on, spread evenly in each minute."""
    values = entry[form]
    if not isinstance(values, list) or not values:
        raise ScenarioError(f"{path}.{form}", f"must be a non-empty list, got {values!r}")
    if form == "times":
        times = [seconds(v, f"{path}.times[{i}]") for i, v in enumerate(values)]
    else:
        start, times = seconds(entry.get("from", 0), f"{path}.from"), []
        for i, count in enumerate(values):
            if isinstance(count, bool) or not isinstance(count, int) or count < 0:
                raise ScenarioError(f"{path}.perMinute[{i}]", f"must be a whole number ≥ 0, got {count!r}")
            times += [start + 60 * i + 60 * k / count for k in range(count)] if count else []
    late = [t for t in times if t >= duration]
    if late:
        raise ScenarioError(f"{path}.{form}", f"an arrival at {late[0]:g}s is after the duration {duration:g}s")
    if not times:
        raise ScenarioError(f"{path}.{form}", "has no arrivals")
    return Arrivals(mix, 0.0, recorded=tuple(sorted(times)))


def _mix(entry: dict, path: str, names: list[str]) -> tuple[tuple[str, float], ...]:
    if ("workload" in entry) == ("mix" in entry):
        raise ScenarioError(path, "must have exactly one of workload or mix")
    if "workload" in entry:
        if entry["workload"] not in names:
            raise ScenarioError(f"{path}.workload", f"no workload named {entry['workload']!r} in workloads")
        return ((entry["workload"], 1.0),)
    mix = entry["mix"]
    if not isinstance(mix, dict) or not mix:
        raise ScenarioError(f"{path}.mix", f"must map workload names to weights, got {mix!r}")
    for name, weight in mix.items():
        if name not in names:
            raise ScenarioError(f"{path}.mix.{name}", f"no workload named {name!r} in workloads")
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise ScenarioError(f"{path}.mix.{name}", f"must be a weight > 0, got {weight!r}")
    return tuple((name, float(weight)) for name, weight in mix.items())
