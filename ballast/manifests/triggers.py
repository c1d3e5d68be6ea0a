"""KEDA's triggers as a Workload's metrics (one function per scaler, as KEDA keeps a file per scaler): aws-sqs-queue,
aws-cloudwatch, cpu and memory (upstream pkg/scalers/aws_sqs_queue_scaler.go, aws_cloudwatch_scaler.go,
cpu_memory_scaler.go)."""
from __future__ import annotations

from urllib.parse import urlparse

from ballast.manifests import kubernetes
from ballast.manifests.findings import Translation
from ballast.manifests.kubernetes import Context

DEFAULT_QUEUE_LENGTH = 5
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


def read(trigger: object, context: Context, t: Translation, path: str, queue: dict | None,
         ecs: bool) -> tuple[dict | None, dict | None]:
    """The metric a trigger becomes, and the queue it drains (aws-sqs-queue only); (None, None) when refused."""
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
        return _resource(kind, trigger, metadata, ecs, t, path), None
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
    # KEDA's typed metadata reads a bool with Go's strconv.ParseBool; YAML's unquoted false arrives as a bool.
    raw = str(metadata.get(key, default)).lower()
    if raw not in ("true", "false", "1", "0", "t", "f"):
        t.invalid(f"{path}.metadata.{key}", f"must be true or false, got {metadata.get(key)!r}")
        return None
    return raw in ("true", "1", "t")


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
    if length is None or activation is None or in_flight is None or delayed is None:
        return None, None
    t.mapped(f"{path}.metadata.queueURL", f"spec.queue.name: {name}")
    counted = ["visible"] + (["in-flight"] if in_flight else []) + (["delayed"] if delayed else [])
    t.mapped(path, f"spec.metrics: backlog ({', '.join(counted)} messages) {length:g} per replica, active above "
                   f"{activation:g}")
    # KEDA's defaults (in-flight counted, delayed not) are the API's too: only a departure from them is written.
    found = {"name": name, **({"scaleOnDelayed": True} if delayed else {}), **({} if in_flight else {"scaleOnInFlight": False})}
    return {"type": "Backlog", "backlog": {"targetPerReplica": length, "activationThreshold": activation}}, found


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


def _resource(kind: str, trigger: dict, metadata: dict, ecs: bool, t: Translation, path: str) -> dict | None:
    """cpu and memory: the task's (Resource), or with containerName one container's (ContainerResource)."""
    t.unknown([f"{path}.metadata.{key}" for key in metadata if key not in RESOURCE_METADATA])
    container = metadata.get("containerName") or None  # KEDA's docs write containerName: "" for the whole pod
    target_type = trigger.get("metricType") or metadata.get("type")
    if "type" in metadata:
        t.note(f"{path}.metadata.type", "deprecated by KEDA in favour of metricType; read as metricType")
    if target_type not in ("Utilization", "AverageValue") or "value" not in metadata:
        t.invalid(path, "needs metricType Utilization or AverageValue and metadata.value")
        return None
    of = f"container {container}'s {kind}" if container else kind
    try:
        if target_type == "Utilization":
            value = int(str(metadata["value"]))
            target = {"type": "Utilization", "averageUtilization": value}
            shown = f"{value}% of the request"
        else:
            value, said = kubernetes.average_value(kind, metadata["value"], ecs and bool(container))
            target, shown = {"type": "AverageValue", "averageValue": value}, f"{said} per replica"
    except ValueError:
        t.invalid(f"{path}.metadata.value", f"must be a percentage or a quantity, got {metadata['value']!r}")
        return None
    if container:
        t.mapped(f"{path}.metadata.containerName", f"spec.metrics: a ContainerResource metric of container {container}")
        t.mapped(path, f"spec.metrics: {of} at {shown}")
        return {"type": "ContainerResource", "containerResource": {"name": kind, "container": str(container),
                                                                   "target": target}}
    t.mapped(path, f"spec.metrics: {kind} at {shown}")
    return {"type": "Resource", "resource": {"name": kind, "target": target}}
