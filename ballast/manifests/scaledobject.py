"""KEDA keda.sh/v1alpha1 ScaledObjects to Workloads and back: aws-sqs-queue, aws-cloudwatch, cpu and memory triggers."""
from __future__ import annotations

from urllib.parse import urlparse

from ballast.manifests import kubernetes, quantity
from ballast.manifests.findings import CONFORMANCE, Translation, unknown_fields
from ballast.manifests.kubernetes import Context

KIND = "ScaledObject"
VERSIONS = ("keda.sh/v1alpha1",)
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
PAUSED = "autoscaling.keda.sh/paused"
PAUSED_SCALE_IN, PAUSED_SCALE_OUT = "autoscaling.keda.sh/paused-scale-in", "autoscaling.keda.sh/paused-scale-out"
# KEDA's defaults (apis/keda/v1alpha1/scaledobject_types.go and the scalers' metadata parsing).
DEFAULT_MIN, DEFAULT_MAX, DEFAULT_COOLDOWN_S, DEFAULT_QUEUE_LENGTH = 0, 100, 300, 5
# Ballast reads every queue and metric with the controller's own IAM role, so KEDA's ways to find credentials change nothing.
CREDENTIALS = ("identityOwner", "awsRoleArn", "awsAccessKeyID", "awsSecretAccessKey", "awsSessionToken",
               "awsAccessKeyIDFromEnv", "awsSecretAccessKeyFromEnv")
HARMLESS = {"awsEndpoint": "an endpoint for tests of KEDA itself; Ballast's controller uses the region's"}
SQS_METADATA = ("queueURL", "queueURLFromEnv", "queueLength", "activationQueueLength", "awsRegion", "scaleOnInFlight",
                "scaleOnDelayed", *CREDENTIALS, *HARMLESS)
CLOUDWATCH_METADATA = ("namespace", "metricName", "dimensionName", "dimensionValue", "targetMetricValue",
                       "activationTargetMetricValue", "minMetricValue", "metricStat", "metricStatPeriod",
                       "metricCollectionTime", "metricUnit", "metricEndTimeOffset", "expression", "awsRegion",
                       "ignoreNullValues", *CREDENTIALS, *HARMLESS)
RESOURCE_METADATA = ("type", "value", "containerName")
_TRIGGER = {"type": None, "name": None, "metadata": None, "authenticationRef": {"name": None, "kind": None},
            "metricType": None, "useCachedMetrics": None}
_BEHAVIOR = kubernetes.BEHAVIOR_SHAPE
SHAPE = {"apiVersion": None, "kind": None, "metadata": kubernetes.METADATA_SHAPE, "status": None, "spec": {
    "scaleTargetRef": {"apiVersion": None, "kind": None, "name": None, "envSourceContainerName": None},
    "pollingInterval": None, "cooldownPeriod": None, "initialCooldownPeriod": None, "idleReplicaCount": None,
    "minReplicaCount": None, "maxReplicaCount": None,
    "fallback": {"failureThreshold": None, "replicas": None, "behavior": None},
    "advanced": {"restoreToOriginalReplicaCount": None,
                 "horizontalPodAutoscalerConfig": {"name": None, "behavior": _BEHAVIOR},
                 "scalingModifiers": None},
    "triggers": [_TRIGGER]}}


def to_workload(document: dict, context: Context) -> Translation:
    t = Translation(f"{KIND}/{(document.get('metadata') or {}).get('name')}", {})
    t.unknown(unknown_fields(document, SHAPE))
    metadata, namespace, annotations = kubernetes.begin(document, t)
    spec = document.get("spec") if isinstance(document.get("spec"), dict) else {}
    workload: dict = {
        "target": kubernetes.target(spec.get("scaleTargetRef"), annotations, namespace, context, t, "spec.scaleTargetRef"),
        "minReplicas": kubernetes.replicas(spec.get("minReplicaCount"), t, "spec.minReplicaCount", "spec.minReplicas", DEFAULT_MIN),
        "maxReplicas": kubernetes.replicas(spec.get("maxReplicaCount"), t, "spec.maxReplicaCount", "spec.maxReplicas", DEFAULT_MAX),
        "cooldownSeconds": kubernetes.replicas(spec.get("cooldownPeriod"), t, "spec.cooldownPeriod", "spec.cooldownSeconds",
                                               DEFAULT_COOLDOWN_S),
        "nodePools": kubernetes.node_pools(annotations, t),
    }
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
        metric, trigger_queue = _trigger(trigger, context, t, f"spec.triggers[{index}]", queue)
        if metric:
            metrics.append(metric)
        queue = queue or trigger_queue
    if not spec.get("triggers"):
        t.invalid("spec.triggers", "a ScaledObject needs at least one trigger")
    workload["queue"], workload["metrics"] = queue, metrics
    workload["replicas"] = _paused(annotations, t)
    t.workload = kubernetes.workload(metadata, workload)
    return t


def _options(spec: dict, t: Translation) -> None:
    if "pollingInterval" in spec:
        t.note("spec.pollingInterval", "Ballast's controller reads every queue and metric every 15 s, and at once on an upload")
    if "idleReplicaCount" in spec:
        t.refuse("spec.idleReplicaCount", f"an idle replica count {CONFORMANCE}")
    if spec.get("initialCooldownPeriod"):
        t.refuse("spec.initialCooldownPeriod", "Ballast has no cooldown after creation: the cooldown applies from the first tick")
    if "fallback" in spec:
        t.refuse("spec.fallback", "when a metric cannot be read Ballast keeps the current count (as the HPA does), "
                                  "it has no fallback count")
    if (spec.get("scaleTargetRef") or {}).get("envSourceContainerName"):
        t.note("spec.scaleTargetRef.envSourceContainerName", "Ballast reads no container environment")


def _paused(annotations: dict, t: Translation) -> int | None:
    for key in (PAUSED_SCALE_IN, PAUSED_SCALE_OUT):
        if key in annotations:
            t.refuse(f"metadata.annotations[{key}]", f"pausing one direction {CONFORMANCE}")
    if PAUSED in annotations and PAUSED_REPLICAS not in annotations:
        t.refuse(f"metadata.annotations[{PAUSED}]", f"Ballast pauses at a count: set {PAUSED_REPLICAS} instead "
                                                    "(or `ballast scale --replicas N` once applied)")
    for key in annotations:
        if key.startswith("autoscaling.keda.sh/") and key not in (PAUSED, PAUSED_REPLICAS, PAUSED_SCALE_IN, PAUSED_SCALE_OUT):
            t.unknown([f"metadata.annotations[{key}]"])
    if PAUSED_REPLICAS not in annotations:
        return None
    raw = str(annotations[PAUSED_REPLICAS])
    if not raw.isdigit():
        t.invalid(f"metadata.annotations[{PAUSED_REPLICAS}]", f"must be a whole number, got {raw!r}")
        return None
    t.mapped(f"metadata.annotations[{PAUSED_REPLICAS}]", f"spec.replicas: held at {raw}, autoscaling paused")
    return int(raw)


def _trigger(trigger: object, context: Context, t: Translation, path: str, queue: dict | None):
    if not isinstance(trigger, dict):
        t.invalid(path, "must be a mapping with type and metadata")
        return None, None
    kind, metadata = trigger.get("type"), trigger.get("metadata") or {}
    if "authenticationRef" in trigger:
        t.note(f"{path}.authenticationRef", "Ballast reads metrics with its own IAM role")
    if "useCachedMetrics" in trigger:
        t.note(f"{path}.useCachedMetrics", "Ballast reads each metric once per tick for every decision")
    if "name" in trigger:
        t.note(f"{path}.name", "a trigger's name is only KEDA's label for it")
    if kind == "aws-sqs-queue":
        return _sqs(trigger, metadata, context, t, path, queue)
    if kind == "aws-cloudwatch":
        return _cloudwatch(trigger, metadata, t, path), None
    if kind in ("cpu", "memory"):
        return _resource(kind, trigger, metadata, t, path), None
    t.refuse(path, f"Ballast has no {kind!r} scaler: it reads SQS queues (aws-sqs-queue), CloudWatch "
                             "(aws-cloudwatch), cpu and memory")
    return None, None


def _credentials_and_unknown(metadata: dict, known: tuple[str, ...], t: Translation, path: str) -> None:
    t.unknown([f"{path}.metadata.{key}" for key in metadata if key not in known])
    for key in metadata:
        if key in CREDENTIALS:
            t.note(f"{path}.metadata.{key}", "Ballast reads metrics with its own IAM role")
        elif key in HARMLESS:
            t.note(f"{path}.metadata.{key}", HARMLESS[key])


def _region(metadata: dict, context: Context, t: Translation, path: str, from_url: str | None = None) -> None:
    region = metadata.get("awsRegion") or from_url
    if region and context.region and region != context.region:
        t.refuse(f"{path}.metadata.awsRegion", f"the queue is in {region}; Ballast's controller reads queues in its "
                                               f"own region ({context.region})")
    elif region:
        t.note(f"{path}.metadata.awsRegion", "Ballast reads queues and metrics in the region its controller runs in")


def _number(metadata: dict, key: str, default: float, t: Translation, path: str) -> float | None:
    raw = metadata.get(key, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        t.invalid(f"{path}.metadata.{key}", f"must be a number, got {raw!r}")
        return None
    return int(value) if value.is_integer() else value


def _switch(metadata: dict, key: str, default: bool, t: Translation, path: str) -> bool | None:
    raw = str(metadata.get(key, default)).lower()
    if raw not in ("true", "false"):
        t.invalid(f"{path}.metadata.{key}", f"must be true or false, got {metadata.get(key)!r}")
        return None
    return raw == "true"


def _sqs(trigger: dict, metadata: dict, context: Context, t: Translation, path: str, queue: dict | None):
    _credentials_and_unknown(metadata, SQS_METADATA, t, path)
    if queue is not None:
        t.refuse(path, f"a Workload drains one queue (already {queue['name']}); make a Workload per queue")
        return None, None
    if trigger.get("metricType", "AverageValue") != "AverageValue":
        t.refuse(f"{path}.metricType", "a backlog target is per replica (AverageValue)")
        return None, None
    url = metadata.get("queueURL")
    if not url:
        if "queueURLFromEnv" in metadata:
            t.refuse(f"{path}.metadata.queueURLFromEnv", "Ballast reads no container environment: name the queue in queueURL")
        else:
            t.invalid(f"{path}.metadata.queueURL", "is required")
        return None, None
    parsed = urlparse(str(url))
    name = parsed.path.rstrip("/").rsplit("/", 1)[-1] if parsed.scheme else str(url)
    host_region = parsed.hostname.split(".")[1] if parsed.hostname and parsed.hostname.startswith("sqs.") else None
    _region(metadata, context, t, path, host_region)
    length = _number(metadata, "queueLength", DEFAULT_QUEUE_LENGTH, t, path)
    activation = _number(metadata, "activationQueueLength", 0, t, path)
    in_flight = _switch(metadata, "scaleOnInFlight", True, t, path)
    delayed = _switch(metadata, "scaleOnDelayed", False, t, path)
    if in_flight is False:
        t.refuse(f"{path}.metadata.scaleOnInFlight", f"leaving in-flight messages out of the backlog {CONFORMANCE}")
    if length is None or activation is None or delayed is None:
        return None, None
    t.mapped(f"{path}.metadata.queueURL", f"spec.queue.name: {name}")
    t.mapped(path, f"spec.metrics: backlog {length:g} per replica, active above {activation:g}"
                   + (", delayed messages counted" if delayed else ""))
    return ({"type": "Backlog", "backlog": {"targetPerReplica": length, "activationThreshold": activation}},
            {"name": name, "includeDelayed": delayed})


def _cloudwatch(trigger: dict, metadata: dict, t: Translation, path: str) -> dict | None:
    _credentials_and_unknown(metadata, CLOUDWATCH_METADATA, t, path)
    for key, why in (("expression", "Ballast reads one metric, not a metric-math expression"),
                     ("minMetricValue", "a missing datapoint is an unreadable metric for Ballast (it keeps the count)"),
                     ("ignoreNullValues", "a missing datapoint is an unreadable metric for Ballast (it keeps the count)")):
        if key in metadata:
            t.refuse(f"{path}.metadata.{key}", why)
    if float(metadata.get("activationTargetMetricValue", 0) or 0):
        t.refuse(f"{path}.metadata.activationTargetMetricValue", "External metrics have no activation threshold in Ballast")
    for key in ("metricStatPeriod", "metricCollectionTime", "metricEndTimeOffset", "metricUnit"):
        if key in metadata:
            t.note(f"{path}.metadata.{key}", "Ballast reads the newest one-minute datapoint of the last minutes")
    missing = [key for key in ("namespace", "metricName", "targetMetricValue") if not metadata.get(key)]
    if missing:
        t.invalid(f"{path}.metadata", f"needs {', '.join(missing)}")
        return None
    names = [n for n in str(metadata.get("dimensionName", "")).split(";") if n]
    values = [v for v in str(metadata.get("dimensionValue", "")).split(";") if v]
    if len(names) != len(values):
        t.invalid(f"{path}.metadata.dimensionValue", f"{len(names)} dimension names but {len(values)} values")
        return None
    target = _number(metadata, "targetMetricValue", 0, t, path)
    kind = trigger.get("metricType", "AverageValue")
    if target is None or kind not in ("AverageValue", "Value"):
        if kind not in ("AverageValue", "Value"):
            t.invalid(f"{path}.metricType", f"must be AverageValue or Value, got {kind!r}")
        return None
    metric = {"namespace": metadata["namespace"], "name": metadata["metricName"],
              "statistic": metadata.get("metricStat", "Average")}
    if names:
        metric["dimensions"] = dict(zip(names, values))
    t.mapped(path, f"spec.metrics: CloudWatch {metric['namespace']} {metric['name']}, {kind} {target:g}")
    field = "averageValue" if kind == "AverageValue" else "value"
    return {"type": "External", "external": {"metric": metric, "target": {"type": kind, field: target}}}


def _resource(kind: str, trigger: dict, metadata: dict, t: Translation, path: str) -> dict | None:
    t.unknown([f"{path}.metadata.{key}" for key in metadata if key not in RESOURCE_METADATA])
    if metadata.get("containerName"):
        t.refuse(f"{path}.metadata.containerName", f"container resource metrics {CONFORMANCE}")
        return None
    target_type = trigger.get("metricType") or metadata.get("type")
    if "type" in metadata:
        t.note(f"{path}.metadata.type", "deprecated by KEDA in favour of metricType; read as metricType")
    if target_type not in ("Utilization", "AverageValue") or "value" not in metadata:
        t.invalid(path, "needs metricType Utilization or AverageValue and metadata.value")
        return None
    try:
        if target_type == "Utilization":
            value = int(str(metadata["value"]))
            target = {"type": "Utilization", "averageUtilization": value}
            shown = f"{value}% of the request"
        else:
            value = (quantity.millicores if kind == "cpu" else quantity.mebibytes)(metadata["value"])
            target = {"type": "AverageValue", "averageValue": value}
            shown = f"{value:g} {'millicores' if kind == 'cpu' else 'MiB'} per replica"
    except ValueError:
        t.invalid(f"{path}.metadata.value", f"must be a percentage or a quantity, got {metadata['value']!r}")
        return None
    t.mapped(path, f"spec.metrics: {kind} at {shown}")
    return {"type": "Resource", "resource": {"name": kind, "target": target}}
