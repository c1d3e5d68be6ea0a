"""The manifests of DESIGN.md "Objects in the store" as the API takes them: validated by the JSON Schemas, then defaulted."""
from __future__ import annotations

import copy
from functools import lru_cache

import fastjsonschema

from chalicelib import schema
from chalicelib.errors import SpecError
from chalicelib.model import DEFAULT_SCALE_DOWN, DEFAULT_SCALE_UP

KINDS = ("Workload", "NodePool")
# Each metric type's block, spelled as the HPA spells it (containerResource, not containerresource).
METRIC_BLOCKS = {"Backlog": "backlog", "Resource": "resource", "ContainerResource": "containerResource",
                 "External": "external", "Pods": "pods", "Object": "object", "Deadline": "deadline"}
DEFAULT_BACKLOG_PER_REPLICA = 5
DEFAULT_CPU_UTILIZATION = 80


@lru_cache(maxsize=None)
def _validator(kind: str):
    return fastjsonschema.compile(schema.object_schema(kind))


def parse_spec(kind: str, body: object) -> dict:
    """A complete, defaulted manifest of `kind`, or SpecError naming the first field that breaks a rule."""
    if kind not in KINDS:
        raise SpecError("kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    if not isinstance(body, dict):
        raise SpecError("body", "must be a JSON object")
    manifest = copy.deepcopy(body)
    manifest.setdefault("apiVersion", schema.API_VERSION)
    manifest.setdefault("kind", kind)
    try:
        manifest = _validator(kind)(manifest)
    except fastjsonschema.JsonSchemaValueException as error:
        raise SpecError(_field_path(error), _rule_message(error)) from None
    (_check_workload if kind == "Workload" else _check_nodepool)(manifest["spec"])
    return manifest


def _field_path(error: fastjsonschema.JsonSchemaValueException) -> str:
    parts = [str(p) for p in (error.path or ["data"])[1:]]
    if error.rule == "additionalProperties" and isinstance(error.value, dict) and isinstance(error.rule_definition, bool):
        props = set((error.definition or {}).get("properties", {}))
        extra = sorted(set(error.value) - props)
        if extra:
            parts.append(extra[0])
    if error.rule == "required" and isinstance(error.value, dict):
        missing = [r for r in error.rule_definition if r not in error.value]
        if missing:
            parts.append(missing[0])
    path = ""
    for part in parts:
        path += f"[{part}]" if part.isdigit() else (f".{part}" if path else part)
    return path or "body"


def _rule_message(error: fastjsonschema.JsonSchemaValueException) -> str:
    if error.rule == "required":
        return "is required"
    if error.rule == "additionalProperties":
        return "is not a known field"
    if error.rule == "pattern" and error.rule_definition == schema.DNS1123_LABEL["pattern"]:
        return f"must be a DNS-1123 label (lower-case letters, digits and '-', at most 63), got {error.value!r}"
    text = error.message
    prefix = error.name + " "
    return text[len(prefix):] if text.startswith(prefix) else text


def _require(spec: dict, path: str, *names: str) -> None:
    for name in names:
        if spec.get(name) in (None, ""):
            raise SpecError(f"{path}.{name}", "is required")


def _check_workload(spec: dict) -> None:
    if spec["maxReplicas"] < spec["minReplicas"]:
        raise SpecError("spec.maxReplicas", f"must be >= spec.minReplicas ({spec['minReplicas']}), got {spec['maxReplicas']}")
    if spec.get("replicas") is not None and spec["replicas"] > spec["maxReplicas"]:
        raise SpecError("spec.replicas", f"must be <= spec.maxReplicas ({spec['maxReplicas']}), got {spec['replicas']}")
    if spec.get("idleReplicas") is not None and spec["idleReplicas"] >= spec["minReplicas"]:
        # KEDA's CheckReplicaCountBoundsAreValid: an idle count at or above the minimum would never be idle.
        raise SpecError("spec.idleReplicas", f"must be < spec.minReplicas ({spec['minReplicas']}), got {spec['idleReplicas']}")
    target = spec["target"]
    if target["kind"] == "ECSService":
        _require(target, "spec.target", "service")
    else:
        _require(target, "spec.target", "namespace", "name")
    spec.setdefault("resources", {"cpuMillicores": 1000, "memoryMiB": 2048})
    if target["kind"] == "ECSService" and target.get("launchType") == "FARGATE" and spec["resources"]["cpuMillicores"] == 0:
        raise SpecError("spec.resources.cpuMillicores", "must be > 0 for a Fargate task, which always has a CPU size")
    queue = spec.get("queue") or {}
    if "includeDelayed" in queue and "scaleOnDelayed" in queue and queue["includeDelayed"] != queue["scaleOnDelayed"]:
        raise SpecError("spec.queue.includeDelayed", f"is the former name of scaleOnDelayed and must equal it "
                                                     f"({queue['scaleOnDelayed']}), got {queue['includeDelayed']}")
    if "metrics" not in spec:
        spec["metrics"] = (
            [{"type": "Backlog", "backlog": {"targetPerReplica": DEFAULT_BACKLOG_PER_REPLICA, "activationThreshold": 0}}]
            if "queue" in spec
            else [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": DEFAULT_CPU_UTILIZATION}}}]
        )
    for index, metric in enumerate(spec["metrics"]):
        _check_metric(f"spec.metrics[{index}]", metric, spec)
    behavior = spec.setdefault("behavior", {})
    behavior["scaleUp"] = {**DEFAULT_SCALE_UP, **behavior.get("scaleUp", {})}
    behavior["scaleDown"] = {**DEFAULT_SCALE_DOWN, **behavior.get("scaleDown", {})}


def _check_metric(path: str, metric: dict, spec: dict) -> None:
    block = METRIC_BLOCKS[metric["type"]]
    if block not in metric:
        raise SpecError(f"{path}.{block}", f"is required for type {metric['type']}")
    others = sorted(set(metric) - {"type", block})
    if others:
        raise SpecError(f"{path}.{others[0]}", f"must not be set for type {metric['type']}")
    if block in ("backlog", "deadline") and "queue" not in spec:
        raise SpecError("spec.queue", f"is required by {path} of type {metric['type']}")
    if block == "pods" and "namespace" in metric[block]["metric"] and "dimensions" not in metric[block]["metric"]:
        raise SpecError(f"{path}.pods.metric.dimensions", "is required with a namespace of your own: Container "
                                                          "Insights' dimensions are assumed only for its own namespace")
    target = metric[block].get("target")
    if target is not None:
        value_field = {"Utilization": "averageUtilization", "AverageValue": "averageValue", "Value": "value"}[target["type"]]
        _require(target, f"{path}.{block}.target", value_field)


def _check_nodepool(spec: dict) -> None:
    if spec["maxNodes"] < spec["minNodes"]:
        raise SpecError("spec.maxNodes", f"must be >= spec.minNodes ({spec['minNodes']}), got {spec['maxNodes']}")
    provider = spec["provider"]
    needs = {"AutoScalingGroup": ("autoScalingGroupName",), "EKSNodegroup": ("cluster", "nodegroup"), "Local": ()}
    _require(provider, "spec.provider", *needs[provider["kind"]])
    instance = spec["instance"]
    for resource, reserved in (("cpuMillicores", "reservedCpuMillicores"), ("memoryMiB", "reservedMemoryMiB")):
        if instance[reserved] >= instance[resource]:
            raise SpecError(f"spec.instance.{reserved}", f"must be < spec.instance.{resource} ({instance[resource]}), got {instance[reserved]}")
