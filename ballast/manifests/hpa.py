"""autoscaling/v2 (and v2beta2, v1) HorizontalPodAutoscalers to Workloads and back: the HPA's fields are Ballast's own."""
from __future__ import annotations

from ballast.manifests import kubernetes, quantity
from ballast.manifests.findings import ANY, FREE_MAP, Translation
from ballast.manifests.kubernetes import CLOUDWATCH_NAMESPACE, ECS_SERVICE, Context

KIND = "HorizontalPodAutoscaler"
VERSIONS = ("autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1")
STATISTIC = "ballast.io/statistic"  # a CloudWatch metric's statistic (External, Pods, Object), as a selector label
STATISTICS = ("Average", "Sum", "Maximum", "Minimum", "SampleCount")
DEFAULT_CPU = 80  # the HPA's default when no metric is given

_REF = {"apiVersion": None, "kind": None, "name": None}
_TARGET = {"type": None, "averageUtilization": None, "averageValue": None, "value": None}
_IDENTIFIER = {"name": None, "selector": {"matchLabels": FREE_MAP, "matchExpressions": [ANY]}}
_METRIC = {"type": None,
           "resource": {"name": None, "target": _TARGET},
           "containerResource": {"name": None, "container": None, "target": _TARGET},
           "pods": {"metric": _IDENTIFIER, "target": _TARGET},
           "object": {"describedObject": _REF, "metric": _IDENTIFIER, "target": _TARGET},
           "external": {"metric": _IDENTIFIER, "target": _TARGET}}
SHAPES = {
    "autoscaling/v2": {"spec": {"scaleTargetRef": _REF, "minReplicas": None, "maxReplicas": None, "metrics": [_METRIC],
                                "behavior": kubernetes.BEHAVIOR_SHAPE}},
    "autoscaling/v1": {"spec": {"scaleTargetRef": _REF, "minReplicas": None, "maxReplicas": None,
                                "targetCPUUtilizationPercentage": None}},
}
SHAPES["autoscaling/v2beta2"] = SHAPES["autoscaling/v2"]
_BLOCKS = {"Resource": "resource", "ContainerResource": "containerResource", "External": "external", "Pods": "pods",
           "Object": "object"}


def to_workload(document: dict, context: Context) -> Translation:
    version = document["apiVersion"]
    shape = {"apiVersion": None, "kind": None, "metadata": kubernetes.METADATA_SHAPE, "status": ANY, **SHAPES[version]}
    translation, readable = kubernetes.start(KIND, document, shape)
    if not readable:
        return translation
    metadata, namespace, annotations = kubernetes.begin(document, translation)
    spec = document.get("spec") if isinstance(document.get("spec"), dict) else {}
    if version == "autoscaling/v1":
        percent = spec.get("targetCPUUtilizationPercentage", DEFAULT_CPU)
        metrics = [_cpu(percent)]
        translation.mapped("spec.targetCPUUtilizationPercentage", f"spec.metrics[0]: cpu at {percent}% of the request")
    elif spec.get("metrics"):  # Kubernetes defaults an empty list as it does a missing one
        read = [_metric(m, annotations, translation, f"spec.metrics[{i}]") for i, m in enumerate(spec["metrics"])]
        metrics = [m for m in read if m is not None]
    else:
        metrics = [_cpu(DEFAULT_CPU)]
        translation.mapped("spec.metrics (unset)", f"spec.metrics[0]: cpu at {DEFAULT_CPU}% of the request, the HPA's default")
    max_replicas = kubernetes.replicas(spec.get("maxReplicas"), translation, "spec.maxReplicas", "spec.maxReplicas")
    if max_replicas is None and "maxReplicas" not in spec:
        translation.invalid("spec.maxReplicas", "is required")
    translation.workload = kubernetes.workload(metadata, {
        "target": kubernetes.target(spec.get("scaleTargetRef"), annotations, namespace, context, translation, "spec.scaleTargetRef"),
        "minReplicas": kubernetes.replicas(spec.get("minReplicas"), translation, "spec.minReplicas", "spec.minReplicas", 1),
        "maxReplicas": max_replicas,
        "metrics": metrics,
        "behavior": kubernetes.behavior(spec.get("behavior"), translation, "spec.behavior"),
        "nodePools": kubernetes.node_pools(annotations, translation),
    })
    if CLOUDWATCH_NAMESPACE in annotations:
        where = f"metadata.annotations[{CLOUDWATCH_NAMESPACE}]"
        if any("namespace" in (m.get(_BLOCKS[m["type"]]) or {}).get("metric", {}) for m in metrics):
            translation.mapped(where, "the CloudWatch namespace of the External and Object metrics (and Pods metrics "
                                      "with a selector)")
        else:
            translation.note(where, "no External, Object or Pods metric with a selector to apply it to")
    return translation


def _cpu(percent: int) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}}}


def _metric(metric: object, annotations: dict, t: Translation, path: str) -> dict | None:
    kind = metric.get("type") if isinstance(metric, dict) else None
    if kind not in _BLOCKS:
        t.invalid(f"{path}.type", f"must be Resource, External, Pods, Object or ContainerResource, got {kind!r}")
        return None
    block = metric.get(_BLOCKS[kind]) or {}
    if kind in ("Resource", "ContainerResource"):
        return _resource(kind, block, ECS_SERVICE in annotations, t, path)
    return {"External": _external, "Pods": _pods, "Object": _object}[kind](block, annotations, t, path)


def _resource(kind: str, resource: dict, ecs: bool, t: Translation, path: str) -> dict | None:
    """Resource and ContainerResource: a task's, or one container's, cpu or memory against its request."""
    block = _BLOCKS[kind]
    name, target = resource.get("name"), resource.get("target") or {}
    container = resource.get("container") if kind == "ContainerResource" else None
    if name not in ("cpu", "memory"):
        t.refuse(f"{path}.{block}.name", f"Ballast reads cpu and memory, not {name!r}")
        return None
    if kind == "ContainerResource" and not container:
        t.invalid(f"{path}.{block}.container", "is required: the container whose usage is read")
        return None
    of = f"container {container}'s {name}" if container else name
    if target.get("type") == "Utilization" and isinstance(target.get("averageUtilization"), int):
        found = {"type": "Utilization", "averageUtilization": target["averageUtilization"]}
        shown = f"{of} at {target['averageUtilization']}% of the request"
    elif target.get("type") == "AverageValue" and "averageValue" in target:
        try:
            value, said = kubernetes.average_value(name, target["averageValue"], ecs and bool(container))
        except ValueError as error:
            t.invalid(f"{path}.{block}.target.averageValue", str(error))
            return None
        found, shown = {"type": "AverageValue", "averageValue": value}, f"{of} at {said} per replica"
    else:
        t.invalid(f"{path}.{block}.target", "must be Utilization with averageUtilization, or AverageValue with averageValue")
        return None
    t.mapped(path, f"spec.metrics: {shown}")
    resource_out = {"name": name, **({"container": container} if container else {}), "target": found}
    return {"type": kind, block: resource_out}


def _series(metric: dict, t: Translation, path: str) -> tuple[str, dict, str] | None:
    """A metric identifier as a CloudWatch series: its name, its matchLabels as dimensions, the ballast.io/statistic."""
    selector = metric.get("selector") or {}
    if selector.get("matchExpressions"):
        t.refuse(f"{path}.selector.matchExpressions", "CloudWatch dimensions are equalities: use matchLabels")
        return None
    if not metric.get("name"):
        t.invalid(f"{path}.name", "is required: the CloudWatch metric's name")
        return None
    labels = dict(selector.get("matchLabels") or {})
    statistic = labels.pop(STATISTIC, "Average")
    if statistic not in STATISTICS:
        t.invalid(f"{path}.selector.matchLabels[{STATISTIC}]", f"must be one of {', '.join(STATISTICS)}, got {statistic!r}")
        return None
    return metric["name"], {k: str(v) for k, v in labels.items()}, statistic


def _target(target: dict, types: tuple[str, ...], t: Translation, path: str) -> dict | None:
    """A Value or AverageValue target, its quantity ("10k", "500m", 30) as a number."""
    fields = {"Value": "value", "AverageValue": "averageValue"}
    field = fields.get(target.get("type"))
    if target.get("type") not in types or field not in target:
        t.invalid(path, "must be " + ", or ".join(f"{kind} with {fields[kind]}" for kind in types))
        return None
    try:
        value = quantity.parse(target[field])
    except ValueError as error:
        t.invalid(f"{path}.{field}", str(error))
        return None
    return {"type": target["type"], field: value}


def _namespace(annotations: dict, t: Translation, path: str, kind: str, example: str) -> str | None:
    namespace = annotations.get(CLOUDWATCH_NAMESPACE)
    if not namespace:
        t.refuse(path, f"an {kind} metric is a CloudWatch metric for Ballast: annotate {CLOUDWATCH_NAMESPACE} "
                       f"with its namespace (e.g. {example})")
    return namespace


def _in_namespace(block: dict, annotations: dict, t: Translation, path: str, kind: str,
                  example: str) -> tuple[str, str, dict, str, dict] | None:
    """An External or Object metric's namespace (the annotation's), name, dimensions, statistic and Value or
    AverageValue target."""
    field = kind.lower()
    series = _series(block.get("metric") or {}, t, f"{path}.{field}.metric")
    if series is None:
        return None
    namespace = _namespace(annotations, t, path, kind, example)
    target = _target(block.get("target") or {}, ("Value", "AverageValue"), t, f"{path}.{field}.target")
    if not namespace or target is None:
        return None
    return (namespace, *series, target)


def _external(external: dict, annotations: dict, t: Translation, path: str) -> dict | None:
    read = _in_namespace(external, annotations, t, path, "External", "AWS/SQS")
    if read is None:
        return None
    namespace, name, dimensions, statistic, target = read
    found = {"namespace": namespace, "name": name, "statistic": statistic, **({"dimensions": dimensions} if dimensions else {})}
    t.mapped(path, f"spec.metrics: CloudWatch {namespace} {name} ({statistic}), {_shown(target)}")
    return {"type": "External", "external": {"metric": found, "target": target}}


def _pods(pods: dict, annotations: dict, t: Translation, path: str) -> dict | None:
    """A per-task metric averaged over the tasks: Container Insights' series for the target, unless a selector names
    the dimensions (then in the annotated namespace, if any)."""
    series = _series(pods.get("metric") or {}, t, f"{path}.pods.metric")
    target = _target(pods.get("target") or {}, ("AverageValue",), t, f"{path}.pods.target")
    if series is None or target is None:
        return None
    name, dimensions, statistic = series
    found: dict = {"name": name}
    if dimensions:
        found["dimensions"] = dimensions
        if annotations.get(CLOUDWATCH_NAMESPACE):
            found["namespace"] = annotations[CLOUDWATCH_NAMESPACE]
    if statistic != "Average":
        found["statistic"] = statistic
    where = found.get("namespace", "Container Insights")
    if not dimensions:
        t.note(f"{path}.pods.metric", "without a selector, read from Container Insights for the target's tasks "
                                      "(ClusterName, ServiceName on ECS; ClusterName, Namespace, PodName on EKS): a "
                                      "metric Container Insights does not publish is reported unavailable")
    t.mapped(path, f"spec.metrics: {name} ({statistic}) per task from {where}, {_shown(target)}")
    return {"type": "Pods", "pods": {"metric": found, "target": target}}


def _object(block: dict, annotations: dict, t: Translation, path: str) -> dict | None:
    """One value describing one object: the object is a CloudWatch dimension (its kind the name, its name the value)."""
    described = block.get("describedObject") or {}
    if not described.get("kind") or not described.get("name"):
        t.invalid(f"{path}.object.describedObject", "needs the kind and name of the object the metric describes")
        return None
    if "apiVersion" in described:
        t.note(f"{path}.object.describedObject.apiVersion", "a CloudWatch dimension has no API group: the kind is "
                                                            "read as the dimension's name")
    read = _in_namespace(block, annotations, t, path, "Object", "AWS/SQS, the object a QueueName")
    if read is None:
        return None
    namespace, name, dimensions, statistic, target = read
    if described["kind"] in dimensions:
        t.invalid(f"{path}.object.metric.selector.matchLabels[{described['kind']}]", "is the described object's "
                                                                                     "dimension already")
        return None
    found = {"namespace": namespace, "name": name, **({"dimensions": dimensions} if dimensions else {}),
             **({"statistic": statistic} if statistic != "Average" else {})}
    t.mapped(path, f"spec.metrics: CloudWatch {namespace} {name} ({statistic}) where {described['kind']}="
                   f"{described['name']}, {_shown(target)}")
    return {"type": "Object", "object": {"describedObject": {"kind": described["kind"], "name": described["name"]},
                                         "metric": found, "target": target}}


def _shown(target: dict) -> str:
    value = target.get("value", target.get("averageValue"))
    return f"{target['type']} {quantity.plain(value)}" + (" per replica" if target["type"] == "AverageValue" else "")
