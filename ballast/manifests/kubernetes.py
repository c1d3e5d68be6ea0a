"""What HorizontalPodAutoscalers and ScaledObjects share on their way to a Workload: metadata, scaleTargetRef, behavior."""
from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass

from ballast.manifests import quantity
from ballast.manifests.findings import ANY, FREE_MAP, Translation, unknown_fields, wrong_types

API_VERSION = "ballast.io/v1"
ORIGINAL = "ballast.io/original"  # the source manifest, as JSON, on the Workload translated from it
CLUSTER, ECS_SERVICE, LAUNCH_TYPE = "ballast.io/cluster", "ballast.io/ecs-service", "ballast.io/launch-type"
NODE_POOLS = "ballast.io/node-pools"
# An HPA's External and Object metrics, and its Pods metrics with a selector, are CloudWatch metrics in this namespace
# (a label value cannot hold AWS/SQS's '/').
CLOUDWATCH_NAMESPACE = "ballast.io/cloudwatch-namespace"
READ_ANNOTATIONS = (CLUSTER, ECS_SERVICE, LAUNCH_TYPE, NODE_POOLS, CLOUDWATCH_NAMESPACE)
LAST_APPLIED = "kubectl.kubernetes.io/last-applied-configuration"
SERVER_OWNED = ("uid", "resourceVersion", "generation", "creationTimestamp", "managedFields", "selfLink",
                "deletionTimestamp", "deletionGracePeriodSeconds", "ownerReferences", "finalizers", "generateName")
METADATA_SHAPE = {"name": None, "namespace": None, "labels": FREE_MAP, "annotations": FREE_MAP,
                  **{key: ANY for key in SERVER_OWNED}}
BEHAVIOR_RULES = {"stabilizationWindowSeconds": None, "selectPolicy": None, "tolerance": None,
                  "policies": [{"type": None, "value": None, "periodSeconds": None}]}
BEHAVIOR_SHAPE = {"scaleUp": BEHAVIOR_RULES, "scaleDown": BEHAVIOR_RULES}
DNS1123_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
MAX_ORIGINAL_CHARS = 32768  # the API's limit on one annotation value


@dataclass(frozen=True)
class Context:
    """What the command line adds to a manifest: the cluster (--cluster, else $BALLAST_CLUSTER) and the region.

    `cluster` (the flag) and a manifest's ballast.io/cluster annotation must agree; the annotation beats the default.
    """

    cluster: str | None = None
    region: str | None = None
    default_cluster: str | None = None

    @classmethod
    def from_flags(cls, cluster: str | None = None, region: str | None = None) -> "Context":
        return cls(cluster, region, os.environ.get("BALLAST_CLUSTER") or None)


def start(kind: str, document: dict, shape: dict) -> tuple[Translation, bool]:
    """The translation of a manifest of `shape`, its unknown fields named, and whether it can be read on: not when a
    field's value is not even of its kind (a string where a mapping goes), each such field then invalid."""
    meta = document.get("metadata")
    t = Translation(f"{kind}/{meta.get('name') if isinstance(meta, dict) else None}", {})
    t.unknown(unknown_fields(document, shape))
    wrong = wrong_types(document, shape)
    for path, why in wrong:
        t.invalid(path, why)
    return t, not wrong


def begin(document: dict, t: Translation) -> tuple[dict, str, dict]:
    """The Workload's metadata, the Kubernetes namespace the source lives in, and the source's annotations."""
    meta = document.get("metadata") if isinstance(document.get("metadata"), dict) else {}
    name = meta.get("name")
    if not isinstance(name, str) or not DNS1123_LABEL.match(name):
        t.invalid("metadata.name", f"a Workload is named by a DNS-1123 label (a-z, 0-9, '-', at most 63), got {name!r}")
    else:
        t.mapped("metadata.name", "metadata.name")
    for key in SERVER_OWNED:
        if key in meta:
            t.note(f"metadata.{key}", "set by the Kubernetes API server; ignored")
    workload_meta: dict = {"name": name}
    labels = meta.get("labels")
    if labels:
        workload_meta["labels"] = dict(labels)
        t.mapped("metadata.labels", "metadata.labels")
    annotations = dict(meta.get("annotations") or {})
    kept = {}
    for key, value in annotations.items():
        path = f"metadata.annotations[{key}]"
        if key == LAST_APPLIED:
            t.note(path, "kubectl's own record of the last apply; not carried over")
        elif key.startswith("ballast.io/"):
            if key not in READ_ANNOTATIONS:
                t.unknown([path + f" (Ballast reads {', '.join(READ_ANNOTATIONS)})"])
        elif not key.startswith("autoscaling.keda.sh/"):
            kept[key] = str(value)
            t.mapped(path, f"metadata.annotations[{key}]")
    original = {k: v for k, v in document.items() if k != "status"}
    original["metadata"] = {k: v for k, v in meta.items() if k not in SERVER_OWNED}
    if LAST_APPLIED in annotations:
        original["metadata"]["annotations"] = {k: v for k, v in annotations.items() if k != LAST_APPLIED}
    text = json.dumps(original, separators=(",", ":"), sort_keys=True)
    if len(text) <= MAX_ORIGINAL_CHARS:
        kept[ORIGINAL] = text
    else:
        t.note("metadata", f"the original ({len(text)} characters) is over an annotation's {MAX_ORIGINAL_CHARS}; not kept")
    workload_meta["annotations"] = kept
    if "status" in document:
        t.note("status", "the source controller's status; Ballast's controller writes its own")
    namespace = meta.get("namespace") or "default"
    if "namespace" in meta:
        t.mapped("metadata.namespace", "the namespace of the Deployment in spec.target (Ballast's is -n)")
    return workload_meta, namespace, annotations


def target(ref: object, annotations: dict, namespace: str, context: Context, t: Translation, path: str) -> dict | None:
    """scaleTargetRef → spec.target: a Deployment on an EKS cluster, or the ECS service an annotation names."""
    if not isinstance(ref, dict) or not ref.get("name"):
        t.invalid(path, "needs the name of the Deployment to scale")
        return None
    kind, api_version = ref.get("kind", "Deployment"), ref.get("apiVersion", "apps/v1")
    if kind != "Deployment" or api_version not in ("apps/v1", "extensions/v1beta1", "apps/v1beta2"):
        t.refuse(path, f"Ballast scales Deployments (EKS) and ECS services, not {api_version} {kind}")
        return None
    cluster = _cluster(annotations, context, t)
    ecs = annotations.get(ECS_SERVICE)
    if ecs:
        ecs_cluster, _, service = str(ecs).rpartition("/")
        cluster = ecs_cluster or cluster
        found = {"kind": "ECSService", "cluster": cluster, "service": service}
        t.mapped(f"metadata.annotations[{ECS_SERVICE}]", f"spec.target: ECS service {service} in cluster {cluster}")
        t.note(path, f"Deployment {ref['name']} stands for the ECS service {service}")
    else:
        found = {"kind": "Deployment", "cluster": cluster, "namespace": namespace, "name": ref["name"]}
        t.mapped(path, f"spec.target: Deployment {namespace}/{ref['name']} on EKS cluster {cluster}")
    launch = annotations.get(LAUNCH_TYPE)
    if launch:
        if not ecs:
            t.invalid(f"metadata.annotations[{LAUNCH_TYPE}]", f"applies to ECS services only (with {ECS_SERVICE})")
        elif launch not in ("FARGATE", "EC2"):
            t.invalid(f"metadata.annotations[{LAUNCH_TYPE}]", f"must be FARGATE or EC2, got {launch!r}")
        else:
            found["launchType"] = launch
            t.mapped(f"metadata.annotations[{LAUNCH_TYPE}]", "spec.target.launchType")
    if cluster is None:
        t.invalid(path, f"no cluster to find it in: pass --cluster, annotate {CLUSTER}, or set BALLAST_CLUSTER")
    return found


def _cluster(annotations: dict, context: Context, t: Translation) -> str | None:
    annotated = annotations.get(CLUSTER)
    if annotated and context.cluster and annotated != context.cluster:
        t.invalid(f"metadata.annotations[{CLUSTER}]", f"says {annotated!r} but --cluster says {context.cluster!r}")
    if annotated:
        t.mapped(f"metadata.annotations[{CLUSTER}]", "spec.target.cluster")
    return annotated or context.cluster or context.default_cluster


def node_pools(annotations: dict, t: Translation) -> list[str] | None:
    pools = annotations.get(NODE_POOLS)
    if not pools:
        return None
    t.mapped(f"metadata.annotations[{NODE_POOLS}]", "spec.nodePools")
    return [p.strip() for p in str(pools).split(",") if p.strip()]


def behavior(rules: object, t: Translation, path: str) -> dict | None:
    """HPA behavior, verbatim but for each direction's tolerance: a quantity ("50m", "0.05") there, a number here."""
    if rules is None:
        return None
    if not isinstance(rules, dict):
        t.invalid(path, "must be a mapping with scaleUp and/or scaleDown")
        return None
    kept = {}
    for direction in ("scaleUp", "scaleDown"):
        part = rules.get(direction)
        if part is None:
            continue
        if not isinstance(part, dict):
            t.invalid(f"{path}.{direction}", "must be a mapping")
            continue
        kept[direction] = {k: v for k, v in part.items() if k != "tolerance"}
        if "tolerance" in part:
            tolerance = _tolerance(part["tolerance"], t, f"{path}.{direction}.tolerance")
            if tolerance is not None:
                kept[direction]["tolerance"] = tolerance
                t.mapped(f"{path}.{direction}.tolerance", f"spec.behavior.{direction}.tolerance: {tolerance:g} "
                                                          f"(Kubernetes 1.33's HPAConfigurableTolerance)")
    t.mapped(path, "spec.behavior (verbatim)")
    return kept


def _tolerance(raw: object, t: Translation, path: str) -> float | None:
    try:
        value = quantity.parse(raw)
    except ValueError:
        t.invalid(path, f"must be a quantity like 0.05 or 50m, got {raw!r}")
        return None
    if value < 0:  # upstream validation: a tolerance below zero is refused
        t.invalid(path, f"must be at least 0, got {raw!r}")
        return None
    return round(value, 9)


def average_value(resource: str, raw: object, ecs_container: bool = False) -> tuple[float, str]:
    """A cpu or memory AverageValue quantity in the unit Ballast compares it in, and how to say it; ValueError if it is
    not a quantity. cpu in millicores, memory in MiB; an ECS container's cpu in ECS's CPU units (1024 a vCPU)."""
    if resource == "memory":
        value = quantity.mebibytes(raw)
        return value, f"{value:g} MiB"
    value = quantity.millicores(raw)
    if ecs_container:
        units = quantity.ecs_cpu_units(value)
        return units, f"{units:g} ECS CPU units ({value:g} millicores)"
    return value, f"{value:g} millicores"


def average_value_text(resource: str, value: float, ecs_container: bool = False) -> str:
    """The quantity a cpu or memory AverageValue is written as in a Kubernetes manifest: the way back of average_value."""
    if resource == "memory":
        return quantity.memory_text(value)
    return quantity.cpu_text(quantity.millicores_of_ecs_cpu_units(value) if ecs_container else value)


def replicas(value: object, t: Translation, path: str, to: str, default: int | None = None) -> int | None:
    if value is None:
        if default is not None:
            t.mapped(f"{path} (unset)", f"{to}: {default}, the source's default")
        return default
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        t.invalid(path, f"must be a whole number of replicas, got {value!r}")
        return None
    t.mapped(path, to)
    return value


def workload(metadata: dict, spec: dict) -> dict:
    return {"apiVersion": API_VERSION, "kind": "Workload", "metadata": metadata,
            "spec": {k: v for k, v in spec.items() if v is not None}}
