"""Workloads written back as autoscaling/v2 HPAs or KEDA ScaledObjects (`ballast get -o hpa|scaledobject`), so a user
can leave: what the other side cannot say is returned as a line per loss, never dropped unsaid."""
from __future__ import annotations

from ballast.manifests import hpa, quantity, scaledobject
from ballast.manifests.kubernetes import CLOUDWATCH_NAMESPACE, CLUSTER, ECS_SERVICE, LAUNCH_TYPE, NODE_POOLS, ORIGINAL


def to_hpa(workload: dict) -> tuple[dict, list[str]]:
    """An autoscaling/v2 HPA for the Workload, and a line for everything of it an HPA cannot say."""
    spec, meta = workload["spec"], workload["metadata"]
    losses: list[str] = []
    annotations, ref = _ref_and_annotations(workload, losses)
    metrics, namespaces = [], set()
    for index, metric in enumerate(spec.get("metrics", [])):
        path = f"spec.metrics[{index}]"
        if metric["type"] == "Resource":
            metrics.append({"type": "Resource", "resource": {"name": metric["resource"]["name"],
                                                             "target": _hpa_target(metric["resource"])}})
        elif metric["type"] == "External":
            cloudwatch = metric["external"]["metric"]
            namespaces.add(cloudwatch["namespace"])
            labels = {**cloudwatch.get("dimensions", {}), **({hpa.STATISTIC: cloudwatch["statistic"]}
                                                             if cloudwatch.get("statistic", "Average") != "Average" else {})}
            identifier = {"name": cloudwatch["name"], **({"selector": {"matchLabels": labels}} if labels else {})}
            target = metric["external"]["target"]
            metrics.append({"type": "External", "external": {"metric": identifier, "target": target}})
        elif metric["type"] == "Backlog":
            queue = spec["queue"]["name"]
            namespaces.add("AWS/SQS")
            metrics.append({"type": "External", "external": {
                "metric": {"name": "ApproximateNumberOfMessagesVisible", "selector": {"matchLabels": {"QueueName": queue}}},
                "target": {"type": "AverageValue", "averageValue": _text(metric["backlog"]["targetPerReplica"])}}})
            losses.append(f"{path}: the backlog becomes SQS's visible messages through an external-metrics adapter; "
                          f"in-flight messages and the activation threshold are lost (-o scaledobject keeps them)")
        else:
            losses.append(f"{path}: a drain deadline has no HPA equivalent; dropped")
    if len(namespaces) == 1:
        annotations[CLOUDWATCH_NAMESPACE] = namespaces.pop()
    elif namespaces:
        losses.append(f"External metrics in several CloudWatch namespaces ({', '.join(sorted(namespaces))}): "
                      f"an HPA's annotation names one")
    if spec.get("replicas") is not None:
        losses.append(f"spec.replicas: held at {spec['replicas']}; an HPA cannot be paused (-o scaledobject can)")
    if spec.get("minReplicas", 1) == 0:
        losses.append("spec.minReplicas: 0 needs the HPAScaleToZero feature gate, and the HPA has no cooldown "
                      f"({spec.get('cooldownSeconds', 300)}s here)")
    hpa_spec = {"scaleTargetRef": ref, "minReplicas": spec.get("minReplicas", 1), "maxReplicas": spec["maxReplicas"],
                "metrics": metrics}
    if spec.get("behavior"):
        hpa_spec["behavior"] = spec["behavior"]
    return {"apiVersion": "autoscaling/v2", "kind": hpa.KIND,
            "metadata": _metadata(meta, spec, annotations), "spec": hpa_spec}, losses


def _hpa_target(resource: dict) -> dict:
    target = resource["target"]
    if target["type"] == "Utilization":
        return {"type": "Utilization", "averageUtilization": target["averageUtilization"]}
    text = quantity.cpu_text if resource["name"] == "cpu" else quantity.memory_text
    return {"type": "AverageValue", "averageValue": text(target["averageValue"])}


def _text(value: float) -> str:
    return f"{value:g}"


def to_scaledobject(workload: dict, region: str | None) -> tuple[dict, list[str]]:
    """A KEDA ScaledObject for the Workload, and a line for everything of it a ScaledObject cannot say."""
    spec, meta = workload["spec"], workload["metadata"]
    losses: list[str] = []
    annotations, ref = _ref_and_annotations(workload, losses)
    triggers = []
    for index, metric in enumerate(spec.get("metrics", [])):
        if metric["type"] == "Backlog":
            sqs = {"queueURL": spec["queue"]["name"], "queueLength": _text(metric["backlog"]["targetPerReplica"]),
                   "activationQueueLength": _text(metric["backlog"].get("activationThreshold", 0)),
                   "scaleOnInFlight": "true", "scaleOnDelayed": str(bool(spec["queue"].get("includeDelayed"))).lower()}
            triggers.append({"type": "aws-sqs-queue", "metadata": _with_region(sqs, region, losses, index)})
        elif metric["type"] == "Resource":
            resource = metric["resource"]
            target = resource["target"]
            value = (str(target["averageUtilization"]) if target["type"] == "Utilization" else
                     (quantity.cpu_text if resource["name"] == "cpu" else quantity.memory_text)(target["averageValue"]))
            triggers.append({"type": resource["name"], "metricType": target["type"], "metadata": {"value": value}})
        elif metric["type"] == "External":
            cloudwatch, target = metric["external"]["metric"], metric["external"]["target"]
            found = {"namespace": cloudwatch["namespace"], "metricName": cloudwatch["name"],
                     "targetMetricValue": _text(target.get("averageValue", target.get("value"))),
                     "metricStat": cloudwatch.get("statistic", "Average")}
            if cloudwatch.get("dimensions"):
                found["dimensionName"] = ";".join(cloudwatch["dimensions"])
                found["dimensionValue"] = ";".join(cloudwatch["dimensions"].values())
            triggers.append({"type": "aws-cloudwatch", "metricType": target["type"],
                             "metadata": _with_region(found, region, losses, index)})
        else:
            losses.append(f"spec.metrics[{index}]: a drain deadline has no KEDA scaler; dropped")
    if spec.get("replicas") is not None:
        annotations[scaledobject.PAUSED_REPLICAS] = str(spec["replicas"])
    so_spec = {"scaleTargetRef": {"name": ref["name"]}, "minReplicaCount": spec.get("minReplicas", 1),
               "maxReplicaCount": spec["maxReplicas"], "cooldownPeriod": spec.get("cooldownSeconds", scaledobject.DEFAULT_COOLDOWN_S),
               "triggers": triggers}
    if spec.get("behavior"):
        so_spec["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": spec["behavior"]}}
    if any(t["type"].startswith("aws-") for t in triggers):
        losses.append("KEDA needs AWS credentials of its own for these triggers: add an authenticationRef (or "
                      "identityOwner: operator)")
    return {"apiVersion": scaledobject.VERSIONS[0], "kind": scaledobject.KIND, "metadata": _metadata(meta, spec, annotations),
            "spec": so_spec}, losses


def _with_region(metadata: dict, region: str | None, losses: list[str], index: int) -> dict:
    if region:
        return {**metadata, "awsRegion": region}
    losses.append(f"spec.metrics[{index}]: KEDA needs awsRegion; set --region")
    return metadata


def _ref_and_annotations(workload: dict, losses: list[str]) -> tuple[dict, dict]:
    """The annotations and scaleTargetRef a Workload becomes on its way back to an HPA or a ScaledObject."""
    spec, target = workload["spec"], workload["spec"]["target"]
    annotations = {k: v for k, v in (workload["metadata"].get("annotations") or {}).items() if k != ORIGINAL}
    if target["kind"] == "Deployment":
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": target["name"]}
        annotations[CLUSTER] = target["cluster"]
    else:
        ref = {"apiVersion": "apps/v1", "kind": "Deployment", "name": target["service"]}
        annotations[ECS_SERVICE] = f"{target['cluster']}/{target['service']}"
        if target.get("launchType", "FARGATE") != "FARGATE":
            annotations[LAUNCH_TYPE] = target["launchType"]
        losses.append(f"spec.target: ECS service {target['service']}; Kubernetes would look for a Deployment of that "
                      f"name (the {ECS_SERVICE} annotation keeps it for Ballast)")
    if spec.get("nodePools"):
        annotations[NODE_POOLS] = ",".join(spec["nodePools"])
        losses.append("spec.nodePools: on Kubernetes the cluster-autoscaler sizes the nodes (kept as an annotation)")
    if spec.get("dryRun"):
        losses.append("spec.dryRun: a Kubernetes autoscaler always acts")
    return annotations, ref


def _metadata(meta: dict, spec: dict, annotations: dict) -> dict:
    out = {"name": meta["name"]}
    if spec["target"]["kind"] == "Deployment":
        out["namespace"] = spec["target"]["namespace"]
    if meta.get("labels"):
        out["labels"] = meta["labels"]
    if annotations:
        out["annotations"] = annotations
    return out
