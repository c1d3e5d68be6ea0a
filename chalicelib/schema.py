"""JSON Schemas of the objects users write (DESIGN.md "Objects in the store"): validation and OpenAPI share them."""

API_VERSION = "ballast.io/v1"

DNS1123_LABEL = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": "^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"}
# SQS queue names allow what AWS allows, nothing that could smuggle a path or URL.
QUEUE_NAME = {"type": "string", "minLength": 1, "maxLength": 80, "pattern": "^[A-Za-z0-9_-]+(\\.fifo)?$"}
AWS_NAME = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[A-Za-z0-9][A-Za-z0-9._:/-]*$"}
LABELS = {
    "type": "object",
    "maxProperties": 64,
    "propertyNames": {"maxLength": 63, "pattern": "^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$"},
    "additionalProperties": {"type": "string", "maxLength": 63, "pattern": "^([A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?)?$"},
}
# Kubernetes' annotations: free-form strings beside the object (a translated manifest's original is one), under the
# API's body limit as a whole rather than per value.
ANNOTATIONS = {
    "type": "object",
    "maxProperties": 64,
    "propertyNames": {"maxLength": 253, "pattern": "^[A-Za-z0-9]([-A-Za-z0-9_./]*[A-Za-z0-9])?$"},
    "additionalProperties": {"type": "string", "maxLength": 32768},
}
METADATA = {
    "type": "object",
    "required": ["name"],
    "properties": {
        "name": DNS1123_LABEL,
        "namespace": {**DNS1123_LABEL, "default": "default"},
        "labels": {**LABELS, "default": {}},
        "annotations": ANNOTATIONS,
        "resourceVersion": {"type": "string", "pattern": "^[0-9]+$"},
        # Read-only fields a client may echo back from a GET; the server owns them.
        "uid": {"type": "string"},
        "generation": {"type": "integer"},
        "creationTimestamp": {"type": "string"},
    },
    "additionalProperties": False,
}

SCALING_RULES = {
    "type": "object",
    "properties": {
        "stabilizationWindowSeconds": {"type": "integer", "minimum": 0, "maximum": 3600},
        "selectPolicy": {"enum": ["Max", "Min", "Disabled"]},
        "policies": {
            "type": "array",
            "minItems": 1,
            "maxItems": 10,
            "items": {
                "type": "object",
                "required": ["type", "value", "periodSeconds"],
                "properties": {
                    "type": {"enum": ["Pods", "Percent"]},
                    "value": {"type": "integer", "minimum": 1, "maximum": 100000},
                    "periodSeconds": {"type": "integer", "minimum": 1, "maximum": 1800},
                },
                "additionalProperties": False,
            },
        },
        # Kubernetes 1.33's per-direction tolerance (HPAConfigurableTolerance). Not filled in when unset: an HPA
        # written back (-o hpa) then names it only where the user did, as clusters before 1.33 refuse it.
        "tolerance": {"type": "number", "minimum": 0,
                      "description": "how far the usage ratio may stray from 1 in this direction before the count "
                                     "changes (Kubernetes 1.33's behavior tolerance); unset: 0.1, "
                                     "kube-controller-manager's default"},
    },
    "additionalProperties": False,
}

RESOURCE_TARGET = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["Utilization", "AverageValue"]},
        "averageUtilization": {"type": "integer", "minimum": 1, "maximum": 1000},
        "averageValue": {"type": "number", "exclusiveMinimum": 0},
    },
    "additionalProperties": False,
}

# A CloudWatch metric as an HPA metric source names it: the series, and the statistic its datapoints are read with.
CLOUDWATCH_METRIC = {
    "namespace": AWS_NAME,
    "name": AWS_NAME,
    "dimensions": {"type": "object", "maxProperties": 10, "additionalProperties": {"type": "string", "maxLength": 255}},
    "statistic": {"enum": ["Average", "Sum", "Maximum", "Minimum", "SampleCount"]},
}
VALUE_TARGET = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["Value", "AverageValue"]},
        "value": {"type": "number", "exclusiveMinimum": 0},
        "averageValue": {"type": "number", "exclusiveMinimum": 0},
    },
    "additionalProperties": False,
}

METRIC = {
    "type": "object",
    "required": ["type"],
    "properties": {
        "type": {"enum": ["Backlog", "Resource", "ContainerResource", "External", "Pods", "Object", "Deadline"]},
        # KEDA's aws-sqs-queue scaler: queueLength and activationQueueLength.
        "backlog": {
            "type": "object",
            "required": ["targetPerReplica"],
            "properties": {
                "targetPerReplica": {"type": "number", "exclusiveMinimum": 0, "maximum": 1000000},
                "activationThreshold": {"type": "number", "minimum": 0, "default": 0,
                                        "description": "KEDA's activationQueueLength: a backlog at or below it is "
                                                       "inactive (no scale from rest, the cooldown runs)"},
            },
            "additionalProperties": False,
        },
        # HPA Resource metric: cpu in millicores, memory in MiB for AverageValue.
        "resource": {
            "type": "object",
            "required": ["name", "target"],
            "properties": {"name": {"enum": ["cpu", "memory"]}, "target": RESOURCE_TARGET},
            "additionalProperties": False,
        },
        "containerResource": {
            "type": "object",
            "description": "the HPA's ContainerResource metric: the CPU or memory of one container of a "
                           "multi-container task against its own reservation, read from Container Insights "
                           "(ECS/ContainerInsights ContainerCpuUtilized over ContainerCpuReserved, and the memory "
                           "pair, by ContainerName; on EKS ContainerInsights container_cpu_utilization of the node "
                           "over container_cpu_request, and memory's)",
            "required": ["name", "container", "target"],
            "properties": {"name": {"enum": ["cpu", "memory"]},
                           "container": {**AWS_NAME, "description": "the container's name in the task definition "
                                                                    "or the pod spec"},
                           "target": RESOURCE_TARGET},
            "additionalProperties": False,
        },
        # HPA External metric, read from CloudWatch.
        "external": {
            "type": "object",
            "required": ["metric", "target"],
            "properties": {
                "metric": {
                    "type": "object",
                    "required": ["namespace", "name"],
                    "properties": {**CLOUDWATCH_METRIC,
                                   "statistic": {**CLOUDWATCH_METRIC["statistic"], "default": "Average"}},
                    "additionalProperties": False,
                },
                "target": VALUE_TARGET,
            },
            "additionalProperties": False,
        },
        "pods": {
            "type": "object",
            "description": "the HPA's Pods metric: a per-task CloudWatch metric averaged over the workload's tasks, "
                           "against an AverageValue target; without a namespace, Container Insights' for the target "
                           "(ECS/ContainerInsights by ClusterName and ServiceName; ContainerInsights by ClusterName, "
                           "Namespace and PodName), read in the tick's one GetMetricData call",
            "required": ["metric", "target"],
            "properties": {
                "metric": {"type": "object", "required": ["name"], "properties": CLOUDWATCH_METRIC,
                           "additionalProperties": False},
                "target": {
                    "type": "object",
                    "required": ["type", "averageValue"],
                    "properties": {"type": {"const": "AverageValue"},
                                   "averageValue": {"type": "number", "exclusiveMinimum": 0}},
                    "additionalProperties": False,
                },
            },
            "additionalProperties": False,
        },
        "object": {
            "type": "object",
            "description": "the HPA's Object metric: one CloudWatch value describing one object, which is a dimension "
                           "of the metric (describedObject.kind its name, e.g. LoadBalancer or TargetGroup, "
                           "describedObject.name its value); Value or AverageValue (per task) target",
            "required": ["describedObject", "metric", "target"],
            "properties": {
                "describedObject": {
                    "type": "object",
                    "required": ["kind", "name"],
                    "properties": {"kind": AWS_NAME, "name": {"type": "string", "minLength": 1, "maxLength": 255}},
                    "additionalProperties": False,
                },
                "metric": {"type": "object", "required": ["namespace", "name"], "properties": CLOUDWATCH_METRIC,
                           "additionalProperties": False},
                "target": VALUE_TARGET,
            },
            "additionalProperties": False,
        },
        # Ballast's own: finish the backlog within a deadline, learned from completions.
        "deadline": {
            "type": "object",
            "required": ["seconds"],
            "properties": {
                "seconds": {"type": "integer", "minimum": 10, "maximum": 86400},
                "priorItemsPerSecond": {"type": "number", "exclusiveMinimum": 0, "default": 1.0},
                "priorStartupSeconds": {"type": "number", "minimum": 0, "default": 30},
                "minSamples": {"type": "integer", "minimum": 1, "default": 1},
            },
            "additionalProperties": False,
        },
    },
    "additionalProperties": False,
}

WORKLOAD_SPEC = {
    "type": "object",
    "required": ["target", "maxReplicas"],
    "properties": {
        "target": {
            "type": "object",
            "required": ["kind", "cluster"],
            "properties": {
                "kind": {"enum": ["ECSService", "Deployment"]},
                "cluster": AWS_NAME,
                "service": AWS_NAME,
                "namespace": DNS1123_LABEL,
                "name": DNS1123_LABEL,
                "launchType": {"enum": ["FARGATE", "EC2"], "default": "FARGATE"},
            },
            "additionalProperties": False,
        },
        "queue": {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": QUEUE_NAME,
                # KEDA's aws-sqs-queue scaleOnInFlight and scaleOnDelayed.
                "scaleOnInFlight": {"type": "boolean", "description": "KEDA's scaleOnInFlight: messages received and "
                                                                      "not yet deleted count as backlog; unset: true"},
                "scaleOnDelayed": {"type": "boolean", "description": "KEDA's scaleOnDelayed: delayed messages count "
                                                                     "as backlog; unset: false"},
                # No default filled in: filled, it would contradict a scaleOnDelayed of true given alone.
                "includeDelayed": {"type": "boolean", "deprecated": True,
                                   "description": "the former name of scaleOnDelayed (equal to it when both are "
                                                  "set); unset: false"},
            },
            "additionalProperties": False,
        },
        "resources": {
            "type": "object",
            "properties": {
                "cpuMillicores": {"type": "integer", "minimum": 0, "maximum": 192000, "default": 1000,
                                  "description": "the task's CPU request; 0: it requests none (ECS on EC2 without "
                                                 "a CPU size, a pod without requests.cpu), so a cpu Utilization "
                                                 "metric fails as the HPA's does (no request is assumed) and node "
                                                 "planning places it by memory and task slots"},
                "memoryMiB": {"type": "integer", "minimum": 1, "maximum": 1048576, "default": 2048},
            },
            "additionalProperties": False,
        },
        "minReplicas": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 1},
        "maxReplicas": {"type": "integer", "minimum": 1, "maximum": 10000},
        # Set through the scale subresource: holds this count and pauses autoscaling (KEDA's paused-replicas).
        "replicas": {"type": ["integer", "null"], "minimum": 0, "maximum": 10000},
        "idleReplicas": {"type": "integer", "minimum": 0, "maximum": 10000,
                         "description": "KEDA's idleReplicaCount: an inactive workload rests at this count, below "
                                        "minReplicas (so it must be less); active, it runs from minReplicas to "
                                        "maxReplicas; unset: it rests at minReplicas, or at 0 when that is 0"},
        "activation": {"enum": ["Sized", "Paced"],
                       "description": "how a workload at rest starts: Sized goes straight to the count the metrics "
                                      "ask for (Ballast's); Paced to max(minReplicas, 1), the scale-up policies "
                                      "pacing the rest, as KEDA's executor does; unset: Sized"},
        "pausedScaleIn": {"type": "boolean",
                          "description": "KEDA's autoscaling.keda.sh/paused-scale-in: the count never falls, it may "
                                         "rise; unset: false"},
        "pausedScaleOut": {"type": "boolean",
                           "description": "KEDA's autoscaling.keda.sh/paused-scale-out: the count never rises, it may "
                                          "fall; unset: false"},
        "cpuInitializationPeriodSeconds": {"type": "integer", "minimum": 0, "maximum": 3600,
                                           "description": "kube-controller-manager's CPU initialization period, per "
                                                          "workload: a task this young whose CPU was sampled before "
                                                          "it was ready is left out of a cpu metric; unset: 300"},
        "initialReadinessDelaySeconds": {"type": "integer", "minimum": 0, "maximum": 3600,
                                         "description": "kube-controller-manager's initial readiness delay, per "
                                                        "workload: a task unready and never ready within this long "
                                                        "of its start is left out of a cpu metric; unset: 30"},
        "metrics": {"type": "array", "maxItems": 10, "items": METRIC},
        "behavior": {
            "type": "object",
            "properties": {"scaleUp": SCALING_RULES, "scaleDown": SCALING_RULES},
            "additionalProperties": False,
        },
        # Unset, an idle workload keeps its replicas for the break-even time (core/idle.py), not a fixed cooldown.
        "cooldownSeconds": {"type": "integer", "minimum": 0, "maximum": 86400},
        # The longest an item may take from arrival to done: a trickle may wait at zero to be processed together.
        "latencyBoundSeconds": {"type": "integer", "minimum": 30, "maximum": 86400},
        "nodePools": {"type": "array", "maxItems": 10, "uniqueItems": True, "items": DNS1123_LABEL, "default": []},
        "dryRun": {"type": "boolean", "default": False},
    },
    "additionalProperties": False,
}

NODEPOOL_SPEC = {
    "type": "object",
    "required": ["provider", "instance", "maxNodes"],
    "properties": {
        "provider": {
            "type": "object",
            "required": ["kind"],
            "properties": {
                "kind": {"enum": ["AutoScalingGroup", "EKSNodegroup", "Local"]},
                "autoScalingGroupName": AWS_NAME,
                "cluster": AWS_NAME,
                "nodegroup": AWS_NAME,
            },
            "additionalProperties": False,
        },
        "instance": {
            "type": "object",
            "required": ["cpuMillicores", "memoryMiB"],
            "properties": {
                "type": {"type": "string", "maxLength": 64},
                "cpuMillicores": {"type": "integer", "minimum": 1, "maximum": 1000000},
                "memoryMiB": {"type": "integer", "minimum": 1, "maximum": 100000000},
                # What the kubelet / ECS agent keep for themselves (allocatable = capacity - reserved).
                "reservedCpuMillicores": {"type": "integer", "minimum": 0, "default": 0},
                "reservedMemoryMiB": {"type": "integer", "minimum": 0, "default": 0},
                "pricePerHour": {"type": "number", "minimum": 0, "default": 0},
                "maxTasks": {"type": "integer", "minimum": 1, "maximum": 10000,
                             "description": "tasks a node holds at most, whatever CPU and memory are left: EKS max "
                                            "pods (29 on an m5.large with the VPC CNI), awsvpc ENIs on ECS (2 on an "
                                            "m5.large without ENI trunking); unset: no limit but CPU and memory"},
            },
            "additionalProperties": False,
        },
        "minNodes": {"type": "integer", "minimum": 0, "maximum": 10000, "default": 0},
        "maxNodes": {"type": "integer", "minimum": 0, "maximum": 10000},
        # Unset, a node is removed after it stayed unneeded for as long as one takes to boot (core/idle.py).
        "scaleDownUnneededSeconds": {"type": "integer", "minimum": 0, "maximum": 86400},
        "dryRun": {"type": "boolean", "default": False},
    },
    "additionalProperties": False,
}

SPECS = {"Workload": WORKLOAD_SPEC, "NodePool": NODEPOOL_SPEC}


def object_schema(kind: str) -> dict:
    """The whole manifest of one kind, as a client sends it."""
    return {
        "type": "object",
        "required": ["metadata", "spec"],
        "properties": {
            "apiVersion": {"const": API_VERSION},
            "kind": {"const": kind},
            "metadata": METADATA,
            "spec": SPECS[kind],
            "status": {"type": "object"},
        },
        "additionalProperties": False,
    }


SCALE = {
    "type": "object",
    "required": ["spec"],
    "properties": {
        "apiVersion": {"type": "string"},
        "kind": {"const": "Scale"},
        "metadata": {"type": "object"},
        "spec": {
            "type": "object",
            "required": ["replicas"],
            "properties": {"replicas": {"type": "integer", "minimum": 0, "maximum": 10000}},
            "additionalProperties": False,
        },
        "status": {"type": "object"},
    },
    "additionalProperties": False,
}
