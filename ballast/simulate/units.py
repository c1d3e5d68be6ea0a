"""The scenario file's small languages: durations ("90s", "20m"), rates ("10/s", "1/min") and distributions of seconds.

Every parser takes the path of the value in the scenario file, so a bad value is an error that says where it is.
"""
from __future__ import annotations

import math
import random
import re
from dataclasses import dataclass
from typing import Callable

_DURATION = re.compile(r"^\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m(?!s))?\s*(?:(\d+(?:\.\d+)?)s)?\s*$")
_RATE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*/\s*(s|sec|second|min|minute|h|hour)\s*$")
_PER_SECOND = {"s": 1.0, "sec": 1.0, "second": 1.0, "min": 60.0, "minute": 60.0, "h": 3600.0, "hour": 3600.0}
DISTRIBUTIONS = ("fixed", "uniform", "normal", "lognormal", "empirical")


class ScenarioError(Exception):
    """A scenario that cannot be simulated; `path` is where in the file (`platform.taskStart.normal.sd`)."""

    def __init__(self, path: str, message: str, source: str = ""):
        self.path, self.message, self.source = path, message, source
        where = f"{source}: " if source else ""
        super().__init__(f"{where}{path}: {message}" if path else f"{where}{message}")

    def within(self, source: str) -> ScenarioError:
        return ScenarioError(self.path, self.message, source)


def seconds(value: object, path: str, allow_zero: bool = True) -> float:
    """A duration: a number of seconds or a string with units ("90s", "20m", "1h30m"); never negative."""
    if isinstance(value, bool) or value is None:
        raise ScenarioError(path, f"must be a duration such as 90s, 20m or 1h, got {value!r}")
    if isinstance(value, (int, float)):
        result = float(value)
    elif isinstance(value, str):
        match = _DURATION.match(value)
        if not match or not any(match.groups()):
            raise ScenarioError(path, f"must be a duration such as 90s, 20m or 1h, got {value!r}")
        hours, minutes, secs = (float(g) if g else 0.0 for g in match.groups())
        result = hours * 3600 + minutes * 60 + secs
    else:
        raise ScenarioError(path, f"must be a duration such as 90s, 20m or 1h, got {value!r}")
    if math.isnan(result) or result < 0 or (result == 0 and not allow_zero):
        raise ScenarioError(path, f"must be {'>' if not allow_zero else '≥'} 0 seconds, got {value!r}")
    return result


def per_second(value: object, path: str) -> float:
    """A rate with its unit ("10/s", "1/min", "30/h") as items per second; a bare number has no unit and is refused."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ScenarioError(path, f"a rate needs a unit, such as {value:g}/s or {value:g}/min, got {value!r}")
    match = _RATE.match(value) if isinstance(value, str) else None
    if not match:
        raise ScenarioError(path, f"must be a rate such as 10/s, 1/min or 30/h, got {value!r}")
    rate = float(match.group(1)) / _PER_SECOND[match.group(2)]
    if rate <= 0:
        raise ScenarioError(path, f"must be more than zero, got {value!r}")
    return rate


@dataclass(frozen=True)
class Distribution:
    """Seconds drawn at random; `mean` is the expected value, `spec` the form it was written in (for the report)."""

    kind: str
    mean: float
    draw: Callable[[random.Random], float]
    spec: object

    def sample(self, rng: random.Random) -> float:
        return self.draw(rng)


def fixed(value: float) -> Distribution:
    return Distribution("fixed", value, lambda rng: value, {"fixed": value})


def empirical(values: list[float], weights: list[float] | None = None) -> Distribution:
    """Draws one of `values` (with `weights`, as many completions as each came from): a trace's service times."""
    weights = weights or [1.0] * len(values)
    total = sum(weights)
    mean = sum(v * w for v, w in zip(values, weights)) / total
    cumulative, running = [], 0.0
    for weight in weights:
        running += weight
        cumulative.append(running)

    def draw(rng: random.Random) -> float:
        return rng.choices(values, cum_weights=cumulative)[0]

    return Distribution("empirical", mean, draw, {"empirical": {"values": len(values), "mean": round(mean, 4)}})


def distribution(value: object, path: str) -> Distribution:
    """`{fixed: 2}`, `{uniform: [1, 3]}`, `{normal: {mean:, sd:}}`, `{lognormal: {mean:, sd:}}` or `{empirical: [..]}`.

    A bare number or duration is taken as fixed. Normal draws are cut at zero (no latency is negative); the lognormal's
    mean and sd are those of the distribution itself, not of its logarithm, so both forms read the same.
    """
    if isinstance(value, (int, float, str)) and not isinstance(value, bool):
        return fixed(seconds(value, path))
    if not isinstance(value, dict) or len(value) != 1:
        raise ScenarioError(path, f"must be one of {', '.join(f'{{{k}: ...}}' for k in DISTRIBUTIONS)}, got {value!r}")
    (kind, args), = value.items()
    here = f"{path}.{kind}"
    if kind == "fixed":
        return fixed(seconds(args, here))
    if kind == "uniform":
        if not isinstance(args, list) or len(args) != 2:
            raise ScenarioError(here, f"must be [low, high], got {args!r}")
        low, high = seconds(args[0], f"{here}[0]"), seconds(args[1], f"{here}[1]")
        if high < low:
            raise ScenarioError(here, f"high ({args[1]!r}) must be ≥ low ({args[0]!r})")
        return Distribution("uniform", (low + high) / 2, lambda rng: rng.uniform(low, high), value)
    if kind in ("normal", "lognormal"):
        mean, sd = _mean_sd(args, here)
        if kind == "normal":
            return Distribution("normal", mean, lambda rng: max(0.0, rng.gauss(mean, sd)), value)
        if mean == 0:
            raise ScenarioError(f"{here}.mean", "must be > 0 seconds for a lognormal, got 0")
        sigma = math.sqrt(math.log(1 + (sd / mean) ** 2))
        mu = math.log(mean) - sigma * sigma / 2
        return Distribution("lognormal", mean, lambda rng: rng.lognormvariate(mu, sigma), value)
    if kind == "empirical":
        if isinstance(args, dict):  # {values: [...], weights: [...]}: a trace's per-minute means and their counts
            return _weighted(args, here)
        if not isinstance(args, list) or not args:
            raise ScenarioError(here, f"must be a non-empty list of seconds, got {args!r}")
        return empirical([seconds(v, f"{here}[{i}]") for i, v in enumerate(args)])
    raise ScenarioError(path, f"unknown distribution {kind!r} (one of {', '.join(DISTRIBUTIONS)})")


def _weighted(args: dict, path: str) -> Distribution:
    unknown = sorted(set(args) - {"values", "weights"})
    if unknown:
        raise ScenarioError(f"{path}.{unknown[0]}", "is not a known field (values, weights)")
    values, weights = args.get("values"), args.get("weights")
    if not isinstance(values, list) or not values:
        raise ScenarioError(f"{path}.values", f"must be a non-empty list of seconds, got {values!r}")
    if not isinstance(weights, list) or len(weights) != len(values):
        raise ScenarioError(f"{path}.weights", f"must be a list of {len(values)} weights, got {weights!r}")
    for i, weight in enumerate(weights):
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight <= 0:
            raise ScenarioError(f"{path}.weights[{i}]", f"must be a weight > 0, got {weight!r}")
    return empirical([seconds(v, f"{path}.values[{i}]") for i, v in enumerate(values)], [float(w) for w in weights])


def _mean_sd(args: object, path: str) -> tuple[float, float]:
    if not isinstance(args, dict):
        raise ScenarioError(path, f"must be {{mean: ..., sd: ...}}, got {args!r}")
    unknown = sorted(set(args) - {"mean", "sd"})
    if unknown:
        raise ScenarioError(f"{path}.{unknown[0]}", "is not a known field (mean, sd)")
    for name in ("mean", "sd"):
        if name not in args:
            raise ScenarioError(f"{path}.{name}", "is required")
    return seconds(args["mean"], f"{path}.mean"), seconds(args["sd"], f"{path}.sd")


# ---- a baseline's settings: camelCase keys of the scenario file onto a dataclass's snake_case fields ---------------


def count(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ScenarioError(path, f"must be a whole number ≥ 0, got {value!r}")
    return value


def number(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or math.isnan(value) or value < 0:
        raise ScenarioError(path, f"must be a number ≥ 0, got {value!r}")
    return float(value)


def positive(value: object, path: str) -> float:
    result = number(value, path)
    if result == 0:
        raise ScenarioError(path, f"must be > 0, got {value!r}")
    return result


def fraction(value: object, path: str) -> float:
    result = number(value, path)
    if result > 1:
        raise ScenarioError(path, f"must be between 0 and 1, got {value!r}")
    return result


def settings_from(cls, fields: dict[str, tuple[str, Callable]], section: object, path: str):
    """An instance of dataclass `cls` with the section's values parsed onto its defaults."""
    if section is None:
        return cls()
    if not isinstance(section, dict):
        raise ScenarioError(path, f"must be a mapping, got {section!r}")
    unknown = sorted(set(section) - set(fields))
    if unknown:
        raise ScenarioError(f"{path}.{unknown[0]}", f"is not a known field ({', '.join(sorted(fields))})")
    return cls(**{fields[key][0]: fields[key][1](value, f"{path}.{key}") for key, value in section.items()})
