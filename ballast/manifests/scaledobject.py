"""KEDA keda.sh/v1alpha1 ScaledObjects to Workloads: the object's own fields and annotations here, its triggers in
triggers.py (upstream apis/keda/v1alpha1/scaledobject_types.go and pkg/scaling/executor/scale_scaledobjects.go)."""
from __future__ import annotations

from ballast.manifests import kubernetes, triggers
from ballast.manifests.findings import ANY, FREE_MAP, Translation
from ballast.manifests.kubernetes import ECS_SERVICE, Context

KIND = "ScaledObject"
VERSIONS = ("keda.sh/v1alpha1",)
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
PAUSED = "autoscaling.keda.sh/paused"
PAUSED_SCALE_IN, PAUSED_SCALE_OUT = "autoscaling.keda.sh/paused-scale-in", "autoscaling.keda.sh/paused-scale-out"
FORCE_ACTIVATION = "autoscaling.keda.sh/force-activation"
KEDA_ANNOTATIONS = (PAUSED, PAUSED_REPLICAS, PAUSED_SCALE_IN, PAUSED_SCALE_OUT, FORCE_ACTIVATION)
# KEDA's defaults (apis/keda/v1alpha1/scaledobject_types.go).
DEFAULT_MIN, DEFAULT_MAX, DEFAULT_COOLDOWN_S = 0, 100, 300
# KEDA's executor leaves rest for max(minReplicaCount, 1) and lets the HPA's policies pace the rest (scaleFromZeroOrIdle):
# Ballast's "Paced" activation.
ACTIVATION = "Paced"
_TRIGGER = {"type": None, "name": None, "metadata": FREE_MAP, "authenticationRef": {"name": None, "kind": None},
            "metricType": None, "useCachedMetrics": None}
_BEHAVIOR = kubernetes.BEHAVIOR_SHAPE
SHAPE = {"apiVersion": None, "kind": None, "metadata": kubernetes.METADATA_SHAPE, "status": ANY, "spec": {
    "scaleTargetRef": {"apiVersion": None, "kind": None, "name": None, "envSourceContainerName": None},
    "pollingInterval": None, "cooldownPeriod": None, "initialCooldownPeriod": None, "idleReplicaCount": None,
    "minReplicaCount": None, "maxReplicaCount": None,
    "fallback": {"failureThreshold": None, "replicas": None, "behavior": None},
    "advanced": {"restoreToOriginalReplicaCount": None,
                 "horizontalPodAutoscalerConfig": {"name": None, "behavior": _BEHAVIOR},
                 "scalingModifiers": ANY},
    "triggers": [_TRIGGER]}}


def to_workload(document: dict, context: Context) -> Translation:
    t, readable = kubernetes.start(KIND, document, SHAPE)
    if not readable:
        return t
    metadata, namespace, annotations = kubernetes.begin(document, t)
    spec = document.get("spec") if isinstance(document.get("spec"), dict) else {}
    workload: dict = {
        "target": kubernetes.target(spec.get("scaleTargetRef"), annotations, namespace, context, t, "spec.scaleTargetRef"),
        "minReplicas": kubernetes.replicas(spec.get("minReplicaCount"), t, "spec.minReplicaCount", "spec.minReplicas", DEFAULT_MIN),
        "maxReplicas": kubernetes.replicas(spec.get("maxReplicaCount"), t, "spec.maxReplicaCount", "spec.maxReplicas", DEFAULT_MAX),
        "cooldownSeconds": kubernetes.replicas(spec.get("cooldownPeriod"), t, "spec.cooldownPeriod", "spec.cooldownSeconds",
                                               DEFAULT_COOLDOWN_S),
        "nodePools": kubernetes.node_pools(annotations, t),
        "activation": ACTIVATION,
    }
    t.mapped("spec.triggers (activation)", f"spec.activation: {ACTIVATION}, KEDA's: from rest to max(minReplicaCount, "
                                           f"1), then the HPA's policies (Sized goes straight to what the backlog asks)")
    workload["idleReplicas"] = _idle(spec, workload["minReplicas"], t)
    _options(spec, t)
    advanced = spec.get("advanced") or {}
    hpa_config = advanced.get("horizontalPodAutoscalerConfig") or {}
    workload["behavior"] = kubernetes.behavior(hpa_config.get("behavior"), t, "spec.advanced.horizontalPodAutoscalerConfig.behavior")
    if "name" in hpa_config:
        t.note("spec.advanced.horizontalPodAutoscalerConfig.name", "the name of the HPA KEDA would create; Ballast creates none")
    if advanced.get("restoreToOriginalReplicaCount"):
        t.refuse("spec.advanced.restoreToOriginalReplicaCount", "deleting a Workload leaves its fleet at the last size")
    elif "restoreToOriginalReplicaCount" in advanced:
        t.note("spec.advanced.restoreToOriginalReplicaCount", "false is what Ballast does: a deleted Workload's fleet keeps its size")
    if "scalingModifiers" in advanced:
        t.refuse("spec.advanced.scalingModifiers", "Ballast combines metrics as the HPA does, by taking the largest proposal")
    metrics, queue = [], None
    for index, trigger in enumerate(spec.get("triggers") or []):
        metric, trigger_queue = triggers.read(trigger, context, t, f"spec.triggers[{index}]", queue, ECS_SERVICE in annotations)
        if metric:
            metrics.append(metric)
        queue = queue or trigger_queue
    if not spec.get("triggers"):
        t.invalid("spec.triggers", "a ScaledObject needs at least one trigger")
    workload["queue"], workload["metrics"] = queue, metrics
    workload["replicas"] = _paused_replicas(annotations, t)
    workload["pausedScaleIn"], workload["pausedScaleOut"] = _paused_directions(annotations, t)
    t.workload = kubernetes.workload(metadata, workload)
    return t


def _idle(spec: dict, min_replicas: int | None, t: Translation) -> int | None:
    idle = kubernetes.replicas(spec.get("idleReplicaCount"), t, "spec.idleReplicaCount", "spec.idleReplicas")
    if idle is None or min_replicas is None:
        return None
    if idle >= min_replicas:
        # KEDA's CheckReplicaCountBoundsAreValid: an idle count at or above the minimum would never be idle.
        t.invalid("spec.idleReplicaCount", f"must be less than minReplicaCount ({min_replicas}), got {idle}")
        return None
    return idle


def _options(spec: dict, t: Translation) -> None:
    if "pollingInterval" in spec:
        t.note("spec.pollingInterval", "Ballast's controller reads every queue and metric every 15 s, and at once on an upload")
    if spec.get("initialCooldownPeriod"):
        t.refuse("spec.initialCooldownPeriod", "Ballast has no cooldown after creation: the cooldown applies from the first tick")
    if "fallback" in spec:
        t.refuse("spec.fallback", "when a metric cannot be read Ballast keeps the current count (as the HPA does), "
                                  "it has no fallback count")
    if (spec.get("scaleTargetRef") or {}).get("envSourceContainerName"):
        t.note("spec.scaleTargetRef.envSourceContainerName", "Ballast reads no container environment")


def is_set(value: object) -> bool:
    """A KEDA boolean annotation as KEDA reads it (getBoolAnnotation): Go's ParseBool, and anything else is true."""
    text = str(value)
    return text not in ("0", "f", "F", "false", "FALSE", "False")


def _paused_replicas(annotations: dict, t: Translation) -> int | None:
    for key in annotations:
        if key.startswith("autoscaling.keda.sh/") and key not in KEDA_ANNOTATIONS:
            t.unknown([f"metadata.annotations[{key}]"])
    if FORCE_ACTIVATION in annotations and is_set(annotations[FORCE_ACTIVATION]):
        t.refuse(f"metadata.annotations[{FORCE_ACTIVATION}]", "Ballast has no forced activation: raise minReplicas "
                                                              "(or hold a count with paused-replicas) while it must run")
    elif FORCE_ACTIVATION in annotations:
        t.note(f"metadata.annotations[{FORCE_ACTIVATION}]", "false: activation as the triggers say, as without it")
    if PAUSED_REPLICAS not in annotations:
        return None
    raw = str(annotations[PAUSED_REPLICAS])
    if not raw.isdigit():
        t.invalid(f"metadata.annotations[{PAUSED_REPLICAS}]", f"must be a whole number, got {raw!r}")
        return None
    t.mapped(f"metadata.annotations[{PAUSED_REPLICAS}]", f"spec.replicas: held at {raw}, autoscaling paused")
    return int(raw)


def _paused_directions(annotations: dict, t: Translation) -> tuple[bool | None, bool | None]:
    """KEDA's paused (both directions, at the current count) and paused-scale-in/-out (one): spec.pausedScaleIn/Out."""
    paused = PAUSED in annotations and is_set(annotations[PAUSED])
    if PAUSED in annotations and PAUSED_REPLICAS in annotations:
        t.note(f"metadata.annotations[{PAUSED}]", f"{PAUSED_REPLICAS} holds the count; KEDA reads paused beside it as "
                                                  "nothing more")
        paused = False
    elif paused:
        t.mapped(f"metadata.annotations[{PAUSED}]", "spec.pausedScaleIn and spec.pausedScaleOut: held at the current "
                                                    "count, neither direction scaled")
    elif PAUSED in annotations:
        t.note(f"metadata.annotations[{PAUSED}]", "false: not paused, as without it")
    directions = []
    for key, field, way in ((PAUSED_SCALE_IN, "pausedScaleIn", "never fewer replicas, nor rest"),
                            (PAUSED_SCALE_OUT, "pausedScaleOut", "never more replicas, nor activation from rest")):
        held = key in annotations and is_set(annotations[key])
        if held:
            t.mapped(f"metadata.annotations[{key}]", f"spec.{field}: {way}")
        elif key in annotations:
            t.note(f"metadata.annotations[{key}]", "false: not paused, as without it")
        directions.append(True if held or paused else None)
    return directions[0], directions[1]
