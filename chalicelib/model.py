"""The objects of DESIGN.md "Objects in the store" as the frozen values the core reads, built from stored manifests."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from chalicelib.sources import (SERIES_METRICS, BacklogMetric, ContainerResourceMetric, DeadlineMetric,  # noqa: F401
                                ExternalMetric, Metric, ObjectMetric, PodsMetric, ResourceMetric)

# Kubernetes' HPA defaults (pkg/apis/autoscaling/v2/defaults.go), applied field by field.
# kube-controller-manager's --horizontal-pod-autoscaler-tolerance: a rule's tolerance when it sets none (Kubernetes 1.33
# lets behavior.scaleUp.tolerance and behavior.scaleDown.tolerance override it per direction).
DEFAULT_TOLERANCE = 0.1
# kube-controller-manager's --horizontal-pod-autoscaler-cpu-initialization-period and -initial-readiness-delay.
DEFAULT_CPU_INITIALIZATION_S = 300
DEFAULT_READINESS_DELAY_S = 30
# Container Insights, where a Pods metric names no namespace of its own (ECS with enhanced observability; EKS).
ECS_CONTAINER_INSIGHTS = "ECS/ContainerInsights"
EKS_CONTAINER_INSIGHTS = "ContainerInsights"

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
    tolerance: float = DEFAULT_TOLERANCE  # how far the usage ratio may stray this way before the count changes


@dataclass(frozen=True)
class Behavior:
    scale_up: ScalingRules
    scale_down: ScalingRules


@dataclass(frozen=True)
class Target:
    kind: str  # "ECSService" | "Deployment"
    cluster: str
    service: str | None = None
    namespace: str | None = None
    name: str | None = None
    launch_type: str = "FARGATE"

    @property
    def claim(self) -> str:
        """What one scaler owns: the ECS service, or the Deployment in its cluster and namespace."""
        if self.kind == "ECSService":
            return f"ECSService/{_last_segment(self.cluster)}/{_last_segment(self.service)}"
        return f"Deployment/{_last_segment(self.cluster)}/{self.namespace}/{self.name}"

    def describe(self) -> str:
        return f"{self.kind} {self.cluster}/{self.service}" if self.kind == "ECSService" else \
            f"Deployment {self.cluster}/{self.namespace}/{self.name}"


def _last_segment(name: str | None) -> str:
    # An ECS cluster or service may be named by its ARN (arn:aws:ecs:...:service/cluster/name): the name is last.
    return (name or "").rsplit("/", 1)[-1]


@dataclass(frozen=True)
class Resources:
    cpu_millicores: int  # 0: the task requests no CPU (ECS on EC2 without a CPU size, a pod without requests.cpu)
    memory_mib: int


@dataclass(frozen=True)
class Workload:
    name: str
    target: Target
    max_replicas: int
    min_replicas: int = 1
    namespace: str = "default"
    queue_name: str | None = None
    include_delayed: bool = False  # KEDA's scaleOnDelayed
    include_in_flight: bool = True  # KEDA's scaleOnInFlight
    resources: Resources = Resources(1000, 2048)
    metrics: tuple[Metric, ...] = ()
    behavior: Behavior = field(default_factory=lambda: behavior_from({}))
    cooldown_s: int | None = None  # None: the break-even delay of core/idle.py
    latency_bound_s: int | None = None  # the longest an item may take from arrival to done, when set
    node_pools: tuple[str, ...] = ()
    dry_run: bool = False
    paused_replicas: int | None = None
    generation: int = 1
    idle_replicas: int | None = None  # KEDA's idleReplicaCount: the count of an inactive workload, below minReplicas
    activation: str = "Sized"  # "Sized": straight to what the metrics ask; "Paced": KEDA's, to max(minReplicas, 1)
    paused_scale_in: bool = False  # KEDA's paused-scale-in annotation: never fewer replicas
    paused_scale_out: bool = False  # KEDA's paused-scale-out annotation: never more replicas
    cpu_initialization_s: int = DEFAULT_CPU_INITIALIZATION_S
    readiness_delay_s: int = DEFAULT_READINESS_DELAY_S

    @property
    def resting_replicas(self) -> int | None:
        """The count an inactive workload rests at (KEDA's idleReplicaCount, or zero), None when it never rests."""
        if self.idle_replicas is not None:
            return self.idle_replicas
        return 0 if self.min_replicas == 0 else None


@dataclass(frozen=True)
class InstanceShape:
    cpu_millicores: int
    memory_mib: int
    reserved_cpu_millicores: int = 0
    reserved_memory_mib: int = 0
    price_per_hour: float = 0.0
    type: str = ""
    max_tasks: int | None = None  # tasks one node holds at most (EKS max pods, ECS awsvpc ENIs), whatever room is left

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

    @property
    def claim(self) -> str | None:
        """The node group one pool owns; a Local pool models this machine and owns nothing."""
        if self.provider_kind == "AutoScalingGroup":
            return f"AutoScalingGroup/{self.auto_scaling_group}"
        if self.provider_kind == "EKSNodegroup":
            return f"EKSNodegroup/{self.cluster}/{self.nodegroup}"
        return None

    def describe(self) -> str:
        return f"{self.provider_kind} {self.auto_scaling_group or f'{self.cluster}/{self.nodegroup}'}"


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
    involved_namespace: str = "default"

    def to_dict(self) -> dict:
        return {"type": self.type, "reason": self.reason, "message": self.message,
                "involvedObject": {"kind": self.involved_kind, "name": self.involved_name,
                                   "namespace": self.involved_namespace},
                "time": self.time.isoformat(), "data": dict(self.data)}


# ---- manifest → values ---------------------------------------------------------------------------


def _rules_from(rules: dict, default: dict) -> ScalingRules:
    merged = {**default, **rules}
    return ScalingRules(
        stabilization_window_s=merged["stabilizationWindowSeconds"],
        select_policy=merged["selectPolicy"],
        policies=tuple(ScalingPolicy(p["type"], p["value"], p["periodSeconds"]) for p in merged["policies"]),
        tolerance=merged.get("tolerance", DEFAULT_TOLERANCE),
    )


def behavior_from(behavior: dict) -> Behavior:
    return Behavior(_rules_from(behavior.get("scaleUp", {}), DEFAULT_SCALE_UP),
                    _rules_from(behavior.get("scaleDown", {}), DEFAULT_SCALE_DOWN))


def insights_dimensions(target: Target) -> tuple[tuple[str, str], ...]:
    """Where Container Insights publishes a target's task or pod metrics (PodName is the Deployment's name there)."""
    if target.kind == "ECSService":
        return (("ClusterName", target.cluster), ("ServiceName", target.service))
    return (("ClusterName", target.cluster), ("Namespace", target.namespace), ("PodName", target.name))


def _dimensions(given: dict) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(given.items()))


def metric_from(metric: dict, target: Target | None = None) -> Metric:
    kind = metric["type"]
    if kind == "Backlog":
        b = metric["backlog"]
        return BacklogMetric(target_per_replica=b["targetPerReplica"], activation_threshold=b.get("activationThreshold", 0))
    if kind in ("Resource", "ContainerResource"):
        r = metric["resource" if kind == "Resource" else "containerResource"]
        t = r["target"]
        if kind == "Resource":
            return ResourceMetric(r["name"], t["type"], t.get("averageUtilization"), t.get("averageValue"))
        return ContainerResourceMetric(r["name"], r["container"], t["type"], t.get("averageUtilization"),
                                       t.get("averageValue"))
    if kind == "External":
        e = metric["external"]
        m, t = e["metric"], e["target"]
        return ExternalMetric(m["namespace"], m["name"], t["type"], t.get("value"), t.get("averageValue"),
                              _dimensions(m.get("dimensions", {})), m.get("statistic", "Average"))
    if kind == "Pods":
        m, t = metric["pods"]["metric"], metric["pods"]["target"]
        ecs = target is None or target.kind == "ECSService"
        dimensions = _dimensions(m["dimensions"]) if "dimensions" in m else \
            (insights_dimensions(target) if target is not None else ())
        return PodsMetric(m.get("namespace", ECS_CONTAINER_INSIGHTS if ecs else EKS_CONTAINER_INSIGHTS), m["name"],
                          t["averageValue"], dimensions, m.get("statistic", "Average"))
    if kind == "Object":
        o = metric["object"]
        described, m, t = o["describedObject"], o["metric"], o["target"]
        dimensions = ((described["kind"], described["name"]),) + _dimensions(m.get("dimensions", {}))
        return ObjectMetric(m["namespace"], m["name"], t["type"], described["kind"], described["name"], t.get("value"),
                            t.get("averageValue"), dimensions, m.get("statistic", "Average"))
    d = metric["deadline"]
    return DeadlineMetric(d["seconds"], d.get("priorItemsPerSecond", 1.0), d.get("priorStartupSeconds", 30),
                          d.get("minSamples", 1))


def _scale_on_delayed(queue: dict | None) -> bool:
    # includeDelayed is the name this field had before KEDA's scaleOnDelayed; spec.py keeps the two equal.
    return bool(queue and (queue.get("scaleOnDelayed") or queue.get("includeDelayed")))


def workload_from(manifest: dict) -> Workload:
    meta, spec = manifest["metadata"], manifest["spec"]
    target_spec, queue, resources = spec["target"], spec.get("queue"), spec.get("resources", {})
    target = Target(target_spec["kind"], target_spec["cluster"], target_spec.get("service"),
                    target_spec.get("namespace"), target_spec.get("name"), target_spec.get("launchType", "FARGATE"))
    return Workload(
        name=meta["name"],
        namespace=meta.get("namespace", "default"),
        target=target,
        queue_name=queue["name"] if queue else None,
        include_delayed=_scale_on_delayed(queue),
        include_in_flight=bool(queue.get("scaleOnInFlight", True)) if queue else True,
        resources=Resources(resources.get("cpuMillicores", 1000), resources.get("memoryMiB", 2048)),
        min_replicas=spec.get("minReplicas", 1),
        max_replicas=spec["maxReplicas"],
        metrics=tuple(metric_from(m, target) for m in spec.get("metrics", [])),
        behavior=behavior_from(spec.get("behavior", {})),
        cooldown_s=spec.get("cooldownSeconds"),
        latency_bound_s=spec.get("latencyBoundSeconds"),
        node_pools=tuple(spec.get("nodePools", [])),
        dry_run=spec.get("dryRun", False),
        paused_replicas=spec.get("replicas"),
        generation=meta.get("generation", 1),
        idle_replicas=spec.get("idleReplicas"),
        activation=spec.get("activation", "Sized"),
        paused_scale_in=spec.get("pausedScaleIn", False),
        paused_scale_out=spec.get("pausedScaleOut", False),
        cpu_initialization_s=spec.get("cpuInitializationPeriodSeconds", DEFAULT_CPU_INITIALIZATION_S),
        readiness_delay_s=spec.get("initialReadinessDelaySeconds", DEFAULT_READINESS_DELAY_S),
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
                               inst.get("reservedMemoryMiB", 0), inst.get("pricePerHour", 0.0), inst.get("type", ""),
                               inst.get("maxTasks")),
        min_nodes=spec.get("minNodes", 0),
        max_nodes=spec["maxNodes"],
        scale_down_unneeded_s=spec.get("scaleDownUnneededSeconds"),
        dry_run=spec.get("dryRun", False),
    )


def claims(kind: str, manifest: dict) -> tuple[str, ...]:
    """What an object owns while it exists (KEDA's one ScaledObject per target): a Workload its target, a pool its group."""
    if kind == "Workload":
        return (workload_from(manifest).target.claim,)
    if kind == "NodePool":
        claim = nodepool_from(manifest).claim
        return (claim,) if claim else ()
    return ()
