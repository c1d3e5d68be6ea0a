"""The objects of DESIGN.md "Objects in the store" as the frozen values the core reads, built from stored manifests."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import ClassVar

# Kubernetes' HPA defaults (pkg/apis/autoscaling/v2/defaults.go), applied field by field.
DEFAULT_SCALE_UP = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [{"type": "Pods", "value": 4, "periodSeconds": 15}, {"type": "Percent", "value": 100, "periodSeconds": 15}],
}
DEFAULT_SCALE_DOWN = {
    "stabilizationWindowSeconds": 300,
    "selectPolicy": "Max",
    "policies": [{"type": "Percent", "value": 100, "periodSeconds": 15}],
}


@dataclass(frozen=True)
class ScalingPolicy:
    kind: str  # "Pods" | "Percent"
    value: int
    period_s: int


@dataclass(frozen=True)
class ScalingRules:
    stabilization_window_s: int
    select_policy: str  # "Max" | "Min" | "Disabled"
    policies: tuple[ScalingPolicy, ...]


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules
    scale_down: ScalingRules


@dataclass(frozen=True)
class BacklogMetric:
    type: ClassVar[str] = "Backlog"
    target_per_replica: float
    activation_threshold: float = 0


@dataclass(frozen=True)
class ResourceMetric:
    type: ClassVar[str] = "Resource"
    resource: str  # "cpu" | "memory"
    target_type: str  # "Utilization" | "AverageValue"
    average_utilization: int | None = None  # percent of the request
    average_value: float | None = None  # millicores or MiB per replica


@dataclass(frozen=True)
class ExternalMetric:
    type: ClassVar[str] = "External"
    namespace: str
    name: str
    target_type: str  # "Value" | "AverageValue"
    value: float | None = None
    average_value: float | None = None
    dimensions: tuple[tuple[str, str], ...] = ()
    statistic: str = "Average"

    @property
    def key(self) -> str:
        return f"{self.namespace}/{self.name}" + "".join(f",{k}={v}" for k, v in self.dimensions)


@dataclass(frozen=True)
class DeadlineMetric:
    type: ClassVar[str] = "Deadline"
    seconds: int
    prior_items_per_s: float = 1.0
    prior_startup_s: float = 30.0
    min_samples: int = 1  # readings with completions before the learned rate replaces the prior


Metric = BacklogMetric | ResourceMetric | ExternalMetric | DeadlineMetric


@dataclass(frozen=True)
class Target:
    kind: str  # "ECSService" | "Deployment"
    cluster: str
    service: str | None = None
    namespace: str | None = None
    name: str | None = None
    launch_type: str = "FARGATE"


@dataclass(frozen=True)
class Resources:
    cpu_millicores: int
    memory_mib: int


@dataclass(frozen=True)
class Workload:
    name: str
    target: Target
    max_replicas: int
    min_replicas: int = 1
    namespace: str = "default"
    queue_name: str | None = None
    include_delayed: bool = False
    resources: Resources = Resources(1000, 2048)
    metrics: tuple[Metric, ...] = ()
    behavior: Behavior = field(default_factory=lambda: behavior_from({}))
    cooldown_s: int | None = None  # None: the break-even delay of core/idle.py
    latency_bound_s: int | None = None  # the longest an item may take from arrival to done, when set
    node_pools: tuple[str, ...] = ()
    dry_run: bool = False
    paused_replicas: int | None = None
    generation: int = 1


@dataclass(frozen=True)
class InstanceShape:
    cpu_millicores: int
    memory_mib: int
    reserved_cpu_millicores: int = 0
    reserved_memory_mib: int = 0
    price_per_hour: float = 0.0
    type: str = ""

    @property
    def allocatable_cpu_millicores(self) -> int:
        return self.cpu_millicores - self.reserved_cpu_millicores

    @property
    def allocatable_memory_mib(self) -> int:
        return self.memory_mib - self.reserved_memory_mib


@dataclass(frozen=True)
class NodePool:
    name: str
    provider_kind: str  # "AutoScalingGroup" | "EKSNodegroup" | "Local"
    instance: InstanceShape
    max_nodes: int
    min_nodes: int = 0
    namespace: str = "default"
    auto_scaling_group: str | None = None
    cluster: str | None = None
    nodegroup: str | None = None
    scale_down_unneeded_s: int | None = None  # None: the break-even delay of core/idle.py
    dry_run: bool = False


@dataclass(frozen=True)
class Condition:
    type: str  # "AbleToScale" | "ScalingActive" | "ScalingLimited" | ...
    status: bool
    reason: str
    message: str

    def to_dict(self, since: datetime) -> dict:
        return {"type": self.type, "status": "True" if self.status else "False", "reason": self.reason,
                "message": self.message, "lastTransitionTime": since.isoformat()}


@dataclass(frozen=True)
class Event:
    type: str  # "Normal" | "Warning"
    reason: str
    message: str
    involved_kind: str
    involved_name: str
    time: datetime
    data: tuple[tuple[str, object], ...] = ()  # the decision's inputs, for replay and `describe`

    def to_dict(self) -> dict:
        return {"type": self.type, "reason": self.reason, "message": self.message,
                "involvedObject": {"kind": self.involved_kind, "name": self.involved_name},
                "time": self.time.isoformat(), "data": dict(self.data)}


# ---- manifest → values ---------------------------------------------------------------------------


def _rules_from(rules: dict, default: dict) -> ScalingRules:
    merged = {**default, **rules}
    return ScalingRules(
        stabilization_window_s=merged["stabilizationWindowSeconds"],
        select_policy=merged["selectPolicy"],
        policies=tuple(ScalingPolicy(p["type"], p["value"], p["periodSeconds"]) for p in merged["policies"]),
    )


def behavior_from(behavior: dict) -> Behavior:
    return Behavior(_rules_from(behavior.get("scaleUp", {}), DEFAULT_SCALE_UP),
                    _rules_from(behavior.get("scaleDown", {}), DEFAULT_SCALE_DOWN))


def metric_from(metric: dict) -> Metric:
    kind = metric["type"]
    if kind == "Backlog":
        b = metric["backlog"]
        return BacklogMetric(target_per_replica=b["targetPerReplica"], activation_threshold=b.get("activationThreshold", 0))
    if kind == "Resource":
        r = metric["resource"]
        t = r["target"]
        return ResourceMetric(r["name"], t["type"], t.get("averageUtilization"), t.get("averageValue"))
    if kind == "External":
        e = metric["external"]
        m, t = e["metric"], e["target"]
        return ExternalMetric(m["namespace"], m["name"], t["type"], t.get("value"), t.get("averageValue"),
                              tuple(sorted(m.get("dimensions", {}).items())), m.get("statistic", "Average"))
    d = metric["deadline"]
    return DeadlineMetric(d["seconds"], d.get("priorItemsPerSecond", 1.0), d.get("priorStartupSeconds", 30),
                          d.get("minSamples", 1))


def workload_from(manifest: dict) -> Workload:
    meta, spec = manifest["metadata"], manifest["spec"]
    target, queue, resources = spec["target"], spec.get("queue"), spec.get("resources", {})
    return Workload(
        name=meta["name"],
        namespace=meta.get("namespace", "default"),
        target=Target(target["kind"], target["cluster"], target.get("service"), target.get("namespace"),
                      target.get("name"), target.get("launchType", "FARGATE")),
        queue_name=queue["name"] if queue else None,
        include_delayed=bool(queue and queue.get("includeDelayed")),
        resources=Resources(resources.get("cpuMillicores", 1000), resources.get("memoryMiB", 2048)),
        min_replicas=spec.get("minReplicas", 1),
        max_replicas=spec["maxReplicas"],
        metrics=tuple(metric_from(m) for m in spec.get("metrics", [])),
        behavior=behavior_from(spec.get("behavior", {})),
        cooldown_s=spec.get("cooldownSeconds"),
        latency_bound_s=spec.get("latencyBoundSeconds"),
        node_pools=tuple(spec.get("nodePools", [])),
        dry_run=spec.get("dryRun", False),
        paused_replicas=spec.get("replicas"),
        generation=meta.get("generation", 1),
    )


def nodepool_from(manifest: dict) -> NodePool:
    meta, spec = manifest["metadata"], manifest["spec"]
    provider, inst = spec["provider"], spec["instance"]
    return NodePool(
        name=meta["name"],
        namespace=meta.get("namespace", "default"),
        provider_kind=provider["kind"],
        auto_scaling_group=provider.get("autoScalingGroupName"),
        cluster=provider.get("cluster"),
        nodegroup=provider.get("nodegroup"),
        instance=InstanceShape(inst["cpuMillicores"], inst["memoryMiB"], inst.get("reservedCpuMillicores", 0),
                               inst.get("reservedMemoryMiB", 0), inst.get("pricePerHour", 0.0), inst.get("type", "")),
        min_nodes=spec.get("minNodes", 0),
        max_nodes=spec["maxNodes"],
        scale_down_unneeded_s=spec.get("scaleDownUnneededSeconds"),
        dry_run=spec.get("dryRun", False),
    )
