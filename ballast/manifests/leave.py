"""Workloads written back as autoscaling/v2 HPAs or KEDA ScaledObjects (`ballast get -o hpa|scaledobject`), so a user
can leave: what the other side cannot say is returned as a line per loss, never dropped unsaid."""
from __future__ import annotations

from ballast.manifests import hpa, quantity, scaledobject
from ballast.manifests.kubernetes import (CLOUDWATCH_NAMESPACE, CLUSTER, ECS_SERVICE, LAUNCH_TYPE, NODE_POOLS, ORIGINAL,
                                          average_value_text)

BLOCKS = {"Resource": "resource", "ContainerResource": "containerResource", "External": "external", "Pods": "pods",
          "Object": "object"}
# KEDA pauses one direction of the HPA it makes by disabling that direction's policies: an HPA can say as much.
PAUSED_DIRECTIONS = (("pausedScaleIn", "scaleDown"), ("pausedScaleOut", "scaleUp"))


def to_hpa(workload: dict) -> tuple[dict, list[str]]:
    """An autoscaling/v2 HPA for the Workload, and a line for everything of it an HPA cannot say."""
    spec, meta = workload["spec"], workload["metadata"]
    losses: list[str] = []
    annotations, ref = _ref_and_annotations(workload, losses)
    ecs = spec["target"]["kind"] == "ECSService"
    metrics, namespaces, insights = [], set(), []
    for index, metric in enumerate(spec.get("metrics", [])):
        path, kind = f"spec.metrics[{index}]", metric["type"]
        if kind in ("Resource", "ContainerResource"):
            metrics.append({"type": kind, BLOCKS[kind]: _hpa_resource(metric[BLOCKS[kind]], ecs)})
        elif kind in ("External", "Pods", "Object"):
            metrics.append(_hpa_series(kind, metric[BLOCKS[kind]]))
            cloudwatch = metric[BLOCKS[kind]]["metric"]
            if "namespace" in cloudwatch:
                namespaces.add(cloudwatch["namespace"])
            elif cloudwatch.get("dimensions"):
                insights.append((path, metrics[-1]))  # Container Insights by its own dimensions: so only without the annotation
        elif kind == "Backlog":
            metrics.append(_hpa_backlog(metric["backlog"], spec["queue"], path, losses))
            namespaces.add("AWS/SQS")
        else:
            losses.append(f"{path}: a drain deadline has no HPA equivalent; dropped")
    if len(namespaces) == 1:
        annotations[CLOUDWATCH_NAMESPACE] = namespace = namespaces.pop()
        losses += [f"{path}: a Pods metric read from Container Insights by its own dimensions would be read in {namespace} "
                   f"(the annotation's); dropped" for path, _ in insights]
        metrics = [m for m in metrics if all(m is not dropped for _, dropped in insights)]
    elif namespaces:
        losses.append(f"CloudWatch metrics in several namespaces ({', '.join(sorted(namespaces))}): an HPA's annotation "
                      f"names one")
    hpa_spec = {"scaleTargetRef": ref, "minReplicas": spec.get("minReplicas", 1), "maxReplicas": spec["maxReplicas"],
                "metrics": metrics}
    behavior = _hpa_behavior(spec, losses)
    if behavior:
        hpa_spec["behavior"] = behavior
    return {"apiVersion": "autoscaling/v2", "kind": hpa.KIND,
            "metadata": _metadata(meta, spec, annotations), "spec": hpa_spec}, losses


def _hpa_backlog(backlog: dict, queue: dict, path: str, losses: list[str]) -> dict:
    """The backlog as SQS's visible messages, the External metric an external-metrics adapter would serve."""
    lost = [what for what, counted in (("in-flight messages", queue.get("scaleOnInFlight", True)),
                                       ("delayed messages", _scale_on_delayed(queue)),
                                       ("the activation threshold", backlog.get("activationThreshold"))) if counted]
    said = " and ".join(filter(None, (", ".join(lost[:-1]), lost[-1]))) if lost else ""
    losses.append(f"{path}: the backlog becomes SQS's visible messages through an external-metrics adapter"
                  + (f"; lost: {said} (-o scaledobject keeps them)" if lost else ""))
    return {"type": "External", "external": {
        "metric": {"name": "ApproximateNumberOfMessagesVisible", "selector": {"matchLabels": {"QueueName": queue["name"]}}},
        "target": {"type": "AverageValue", "averageValue": _text(backlog["targetPerReplica"])}}}


def _hpa_behavior(spec: dict, losses: list[str]) -> dict:
    """The behavior, and what of the counts an HPA has no field for: a held count, rest at zero, an idle count."""
    if spec.get("replicas") is not None:
        losses.append(f"spec.replicas: held at {spec['replicas']}; an HPA cannot be paused (-o scaledobject can)")
    if spec.get("minReplicas", 1) == 0:
        losses.append("spec.minReplicas: 0 needs the HPAScaleToZero feature gate, and the HPA has no cooldown "
                      f"({spec.get('cooldownSeconds', 300)}s here)")
    if spec.get("idleReplicas") is not None:
        losses.append(f"spec.idleReplicas: an HPA has no idle count ({spec['idleReplicas']} here); dropped "
                      f"(-o scaledobject keeps it)")
    behavior = _behavior(spec.get("behavior"))
    for field, direction in PAUSED_DIRECTIONS:
        if spec.get(field):
            behavior.setdefault(direction, {})["selectPolicy"] = "Disabled"
            losses.append(f"spec.{field}: becomes behavior.{direction}.selectPolicy: Disabled, as KEDA pauses its HPA")
    return behavior


def _hpa_resource(resource: dict, ecs: bool) -> dict:
    target, container = resource["target"], resource.get("container")
    if target["type"] == "Utilization":
        written = {"type": "Utilization", "averageUtilization": target["averageUtilization"]}
    else:
        written = {"type": "AverageValue", "averageValue": average_value_text(resource["name"], target["averageValue"],
                                                                             ecs and bool(container))}
    return {"name": resource["name"], **({"container": container} if container else {}), "target": written}


def _hpa_series(kind: str, block: dict) -> dict:
    """An External, Pods or Object metric: the CloudWatch series as a metric name and labels (ballast.io/statistic)."""
    cloudwatch = block["metric"]
    statistic = cloudwatch.get("statistic", "Average")
    labels = {**cloudwatch.get("dimensions", {}), **({hpa.STATISTIC: statistic} if statistic != "Average" else {})}
    identifier = {"name": cloudwatch["name"], **({"selector": {"matchLabels": labels}} if labels else {})}
    described = {"describedObject": dict(block["describedObject"])} if kind == "Object" else {}
    return {"type": kind, BLOCKS[kind]: {**described, "metric": identifier, "target": dict(block["target"])}}


def _behavior(behavior: dict | None) -> dict:
    """The behavior as Kubernetes writes it: each direction's tolerance a quantity ("50m"), not a number."""
    written = {direction: dict(rules) for direction, rules in (behavior or {}).items()}
    for rules in written.values():
        if "tolerance" in rules:
            rules["tolerance"] = quantity.decimal_text(rules["tolerance"])
    return written


def _text(value: float) -> str:
    return quantity.plain(value)


def _scale_on_delayed(queue: dict) -> bool:
    return bool(queue.get("scaleOnDelayed") or queue.get("includeDelayed"))  # includeDelayed: scaleOnDelayed's former name


def to_scaledobject(workload: dict, region: str | None) -> tuple[dict, list[str]]:
    """A KEDA ScaledObject for the Workload, and a line for everything of it a ScaledObject cannot say."""
    spec, meta = workload["spec"], workload["metadata"]
    losses: list[str] = []
    annotations, ref = _ref_and_annotations(workload, losses)
    triggers = [trigger for index, metric in enumerate(spec.get("metrics", []))
                if (trigger := _trigger(metric, spec, region, losses, index)) is not None]
    if spec.get("replicas") is not None:
        annotations[scaledobject.PAUSED_REPLICAS] = str(spec["replicas"])
    for field, key in (("pausedScaleIn", scaledobject.PAUSED_SCALE_IN), ("pausedScaleOut", scaledobject.PAUSED_SCALE_OUT)):
        if spec.get(field):
            annotations[key] = "true"
    so_spec = {"scaleTargetRef": {"name": ref["name"]}, "minReplicaCount": spec.get("minReplicas", 1),
               "maxReplicaCount": spec["maxReplicas"], "cooldownPeriod": spec.get("cooldownSeconds", scaledobject.DEFAULT_COOLDOWN_S),
               "triggers": triggers}
    if spec.get("idleReplicas") is not None:
        so_spec["idleReplicaCount"] = spec["idleReplicas"]
    resting = spec.get("idleReplicas") is not None or spec.get("minReplicas", 1) == 0
    if resting and spec.get("activation", "Sized") != scaledobject.ACTIVATION:
        losses.append("spec.activation: Sized (straight to the count the metrics ask) is lost: KEDA activates to "
                      "max(minReplicaCount, 1) and lets the HPA's policies pace the rest")
    if spec.get("behavior"):
        so_spec["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": _behavior(spec["behavior"])}}
    if any(t["type"].startswith("aws-") for t in triggers):
        losses.append("KEDA needs AWS credentials of its own for these triggers: add an authenticationRef (or "
                      "identityOwner: operator)")
    return {"apiVersion": scaledobject.VERSIONS[0], "kind": scaledobject.KIND, "metadata": _metadata(meta, spec, annotations),
            "spec": so_spec}, losses


def _trigger(metric: dict, spec: dict, region: str | None, losses: list[str], index: int) -> dict | None:
    kind, path = metric["type"], f"spec.metrics[{index}]"
    if kind == "Backlog":
        queue, backlog = spec["queue"], metric["backlog"]
        sqs = {"queueURL": queue["name"], "queueLength": _text(backlog["targetPerReplica"]),
               "activationQueueLength": _text(backlog.get("activationThreshold", 0)),
               "scaleOnInFlight": str(queue.get("scaleOnInFlight", True)).lower(),
               "scaleOnDelayed": str(_scale_on_delayed(queue)).lower()}
        return {"type": "aws-sqs-queue", "metadata": _with_region(sqs, region, losses, index)}
    if kind in ("Resource", "ContainerResource"):
        resource = metric[BLOCKS[kind]]
        target, container = resource["target"], resource.get("container")
        ecs_container = spec["target"]["kind"] == "ECSService" and bool(container)
        value = (str(target["averageUtilization"]) if target["type"] == "Utilization" else
                 average_value_text(resource["name"], target["averageValue"], ecs_container))
        return {"type": resource["name"], "metricType": target["type"],
                "metadata": {"value": value, **({"containerName": container} if container else {})}}
    if kind in ("External", "Pods", "Object"):
        if kind != "External":
            how = " (a Value: its ratio times the ready replicas, as a Pods metric's)" if kind == "Pods" else ""
            losses.append(f"{path}: the {kind} metric becomes an aws-cloudwatch trigger on the same series and "
                          f"arithmetic{how}")
        return _cloudwatch_trigger(kind, metric[BLOCKS[kind]], spec["target"], region, losses, index)
    losses.append(f"{path}: a drain deadline has no KEDA scaler; dropped")
    return None


def _cloudwatch_trigger(kind: str, block: dict, target: dict, region: str | None, losses: list[str], index: int) -> dict:
    """An External, Pods or Object metric as KEDA's aws-cloudwatch trigger: the same series, dimensions and statistic.

    A Pods metric's per-task average is the HPA's Value arithmetic (ratio times the ready tasks); an Object's described
    object is one more dimension.
    """
    cloudwatch, goal = block["metric"], block["target"]
    namespace, dimensions = cloudwatch.get("namespace"), dict(cloudwatch.get("dimensions", {}))
    if kind == "Pods" and not dimensions:
        namespace, dimensions = _insights(target)
    elif kind == "Pods" and namespace is None:
        namespace = _insights(target)[0]
    if kind == "Object":
        dimensions = {block["describedObject"]["kind"]: block["describedObject"]["name"], **dimensions}
    metric_type = "Value" if kind == "Pods" else goal["type"]
    found = {"namespace": namespace, "metricName": cloudwatch["name"],
             "targetMetricValue": _text(goal.get("averageValue", goal.get("value"))),
             "metricStat": cloudwatch.get("statistic", "Average")}
    if dimensions:
        found["dimensionName"] = ";".join(dimensions)
        found["dimensionValue"] = ";".join(dimensions.values())
    return {"type": "aws-cloudwatch", "metricType": metric_type, "metadata": _with_region(found, region, losses, index)}


def _insights(target: dict) -> tuple[str, dict]:
    """Where Container Insights publishes a target's task metrics (the server's model.insights_dimensions)."""
    if target["kind"] == "ECSService":
        return "ECS/ContainerInsights", {"ClusterName": target["cluster"], "ServiceName": target["service"]}
    return "ContainerInsights", {"ClusterName": target["cluster"], "Namespace": target["namespace"], "PodName": target["name"]}


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
    for field, flag in (("cpuInitializationPeriodSeconds", "cpu-initialization-period"),
                        ("initialReadinessDelaySeconds", "initial-readiness-delay")):
        if field in spec:
            losses.append(f"spec.{field}: kube-controller-manager's --horizontal-pod-autoscaler-{flag} sets it for "
                          f"the whole cluster ({spec[field]}s here); dropped")
    if "latencyBoundSeconds" in spec:
        losses.append(f"spec.latencyBoundSeconds: a Kubernetes autoscaler has no latency bound "
                      f"({spec['latencyBoundSeconds']}s here); dropped")
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
