"""The policies a scenario is played under, side by side: the Workloads as given, three baselines and a lower bound."""
from __future__ import annotations

from ballast.simulate.policies import ballast, cluster_autoscaler, hpa_cpu, keda, lower_bound, target_tracking
from ballast.simulate.units import ScenarioError, settings_from

POLICIES = {
    "ballast": ballast.Ballast,
    "hpa-cpu": hpa_cpu.HpaCpu,
    "keda": keda.Keda,
    "target-tracking": target_tracking.TargetTracking,
    "lower-bound": lower_bound.LowerBound,
}
# The scenario file's `baselines` section: its key, the settings' name, the dataclass and its fields.
SETTINGS = {
    "hpaCpu": ("hpa-cpu", hpa_cpu.Settings, hpa_cpu.FIELDS),
    "keda": ("keda", keda.Settings, keda.FIELDS),
    "targetTracking": ("target-tracking", target_tracking.Settings, target_tracking.FIELDS),
    "clusterAutoscaler": ("cluster-autoscaler", cluster_autoscaler.Settings, cluster_autoscaler.FIELDS),
}


def baseline_settings(section: object, path: str) -> dict:
    if not isinstance(section, dict):
        raise ScenarioError(path, f"must be a mapping of {', '.join(SETTINGS)}, got {section!r}")
    unknown = sorted(set(section) - set(SETTINGS))
    if unknown:
        raise ScenarioError(f"{path}.{unknown[0]}", f"is not a known baseline ({', '.join(SETTINGS)})")
    return {name: settings_from(cls, fields, section.get(key), f"{path}.{key}")
            for key, (name, cls, fields) in SETTINGS.items()}


def names(spec: str | None) -> list[str]:
    """The policies a --policy list names, in the report's order; all of them when none is given."""
    if not spec:
        return list(POLICIES)
    chosen = [name.strip() for name in spec.split(",") if name.strip()]
    for name in chosen:
        if name not in POLICIES:
            raise ScenarioError("--policy", f"unknown policy {name!r} (one of {', '.join(POLICIES)})")
    return [name for name in POLICIES if name in chosen]


def make(name: str, scenario):
    return POLICIES[name](scenario)
