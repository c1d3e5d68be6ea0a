"""autoscaling/v2 (and v2beta2, v1) HorizontalPodAutoscalers to Workloads and back: the HPA's fields are Ballast's own."""
from __future__ import annotations

from ballast.manifests import kubernetes, quantity
from ballast.manifests.findings import CONFORMANCE, Translation, unknown_fields
from ballast.manifests.kubernetes import CLOUDWATCH_NAMESPACE, Context

KIND = "HorizontalPodAutoscaler"
VERSIONS = ("autoscaling/v2", "autoscaling/v2beta2", "autoscaling/v1")
STATISTIC = "ballast.io/statistic"  # an External metric's CloudWatch statistic, as a selector label
DEFAULT_CPU = 80  # the HPA's default when no metric is given

_TARGET = {"type": None, "averageUtilization": None, "averageValue": None, "value": None}
_IDENTIFIER = {"name": None, "selector": {"matchLabels": None, "matchExpressions": None}}
_METRIC = {"type": None,
           "resource": {"name": None, "target": _TARGET},
           "containerResource": {"name": None, "container": None, "target": _TARGET},
           "pods": {"metric": _IDENTIFIER, "target": _TARGET},
           "object": {"describedObject": None, "metric": _IDENTIFIER, "target": _TARGET},
           "external": {"metric": _IDENTIFIER, "target": _TARGET}}
_REF = {"apiVersion": None, "kind": None, "name": None}
SHAPES = {
    "autoscaling/v2": {"spec": {"scaleTargetRef": _REF, "minReplicas": None, "maxReplicas": None, "metrics": [_METRIC],
                                "behavior": kubernetes.BEHAVIOR_SHAPE}},
    "autoscaling/v1": {"spec": {"scaleTargetRef": _REF, "minReplicas": None, "maxReplicas": None,
                                "targetCPUUtilizationPercentage": None}},
}
SHAPES["autoscaling/v2beta2"] = SHAPES["autoscaling/v2"]


def to_workload(document: dict, context: Context) -> Translation:
    version = document["apiVersion"]
    translation = Translation(f"{KIND}/{(document.get('metadata') or {}).get('name')}", {})
    shape = {"apiVersion": None, "kind": None, "metadata": kubernetes.METADATA_SHAPE, "status": None, **SHAPES[version]}
    translation.unknown(unknown_fields(document, shape))
    metadata, namespace, annotations = kubernetes.begin(document, translation)
    spec = document.get("spec") if isinstance(document.get("spec"), dict) else {}
    if version == "autoscaling/v1":
        percent = spec.get("targetCPUUtilizationPercentage", DEFAULT_CPU)
        metrics = [_cpu(percent)]
        translation.mapped("spec.targetCPUUtilizationPercentage", f"spec.metrics[0]: cpu at {percent}% of the request")
    elif spec.get("metrics"):  # Kubernetes defaults an empty list as it does a missing one
        read = [_metric(m, annotations, translation, f"spec.metrics[{i}]") for i, m in enumerate(spec["metrics"] or [])]
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
        if any(m["type"] == "External" for m in metrics):
            translation.mapped(f"metadata.annotations[{CLOUDWATCH_NAMESPACE}]", "the External metrics' CloudWatch namespace")
        else:
            translation.note(f"metadata.annotations[{CLOUDWATCH_NAMESPACE}]", "no External metric to apply it to")
    return translation


def _cpu(percent: int) -> dict:
    return {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": percent}}}


def _metric(metric: object, annotations: dict, t: Translation, path: str) -> dict | None:
    kind = metric.get("type") if isinstance(metric, dict) else None
    if kind == "Resource":
        return _resource(metric.get("resource") or {}, t, path)
    if kind == "External":
        return _external(metric.get("external") or {}, annotations, t, path)
    if kind in ("Pods", "Object", "ContainerResource"):
        what = {"Pods": "Pods metrics", "Object": "Object metrics", "ContainerResource": "container resource metrics"}[kind]
        t.refuse(path, f"{what} {CONFORMANCE}")
        return None
    t.invalid(f"{path}.type", f"must be Resource, External, Pods, Object or ContainerResource, got {kind!r}")
    return None


def _resource(resource: dict, t: Translation, path: str) -> dict | None:
    name, target = resource.get("name"), resource.get("target") or {}
    if name not in ("cpu", "memory"):
        t.refuse(f"{path}.resource.name", f"Ballast reads cpu and memory, not {name!r}")
        return None
    if target.get("type") == "Utilization" and isinstance(target.get("averageUtilization"), int):
        t.mapped(path, f"spec.metrics: {name} at {target['averageUtilization']}% of the request")
        return {"type": "Resource", "resource": {"name": name, "target": {"type": "Utilization",
                                                                          "averageUtilization": target["averageUtilization"]}}}
    if target.get("type") == "AverageValue" and "averageValue" in target:
        try:
            value = (quantity.millicores if name == "cpu" else quantity.mebibytes)(target["averageValue"])
        except ValueError as error:
            t.invalid(f"{path}.resource.target.averageValue", str(error))
            return None
        unit = "millicores" if name == "cpu" else "MiB"
        t.mapped(path, f"spec.metrics: {name} at {value:g} {unit} per replica")
        return {"type": "Resource", "resource": {"name": name, "target": {"type": "AverageValue", "averageValue": value}}}
    t.invalid(f"{path}.resource.target", "must be Utilization with averageUtilization, or AverageValue with averageValue")
    return None


def _external(external: dict, annotations: dict, t: Translation, path: str) -> dict | None:
    metric, target = external.get("metric") or {}, external.get("target") or {}
    selector = metric.get("selector") or {}
    if selector.get("matchExpressions"):
        t.refuse(f"{path}.external.metric.selector.matchExpressions", "CloudWatch dimensions are equalities: use matchLabels")
        return None
    namespace = annotations.get(CLOUDWATCH_NAMESPACE)
    if not namespace:
        t.refuse(path, f"an External metric is a CloudWatch metric for Ballast: annotate {CLOUDWATCH_NAMESPACE} "
                       f"with its namespace (e.g. AWS/SQS)")
        return None
    labels = dict(selector.get("matchLabels") or {})
    statistic = labels.pop(STATISTIC, "Average")
    field = {"Value": "value", "AverageValue": "averageValue"}.get(target.get("type"))
    if field is None or field not in target:
        t.invalid(f"{path}.external.target", "must be Value with value, or AverageValue with averageValue")
        return None
    try:
        value = quantity.parse(target[field])
    except ValueError as error:
        t.invalid(f"{path}.external.target.{field}", str(error))
        return None
    found = {"namespace": namespace, "name": metric.get("name"), "statistic": statistic}
    if labels:
        found["dimensions"] = {k: str(v) for k, v in labels.items()}
    t.mapped(path, f"spec.metrics: CloudWatch {namespace} {metric.get('name')} ({statistic}), {target['type']} {value:g}")
    return {"type": "External", "external": {"metric": found, "target": {"type": target["type"], field: value}}}
