"""IAM as the tests need it: the action and resource ARN of each botocore call, recorded on live clients, and
whether a policy document allows them (Allow/Deny, Action and Resource with IAM's wildcards; Conditions unsupported)."""
from __future__ import annotations

from dataclasses import dataclass
from fnmatch import fnmatchcase

ACCOUNT = "123456789012"  # moto's
# Batch and head operations are authorised as the action they are made of; the rest are named as the operation.
ACTIONS = {("sqs", "SendMessageBatch"): "SendMessage", ("sqs", "DeleteMessageBatch"): "DeleteMessage",
           ("sqs", "ChangeMessageVisibilityBatch"): "ChangeMessageVisibility", ("s3", "HeadObject"): "GetObject",
           ("s3", "ListObjectsV2"): "ListBucket", ("s3", "HeadBucket"): "ListBucket"}
# Services whose Describe/List calls and metric reads have no resource-level permissions: IAM checks them against "*".
UNSCOPED = {("autoscaling", "DescribeAutoScalingGroups"), ("cloudwatch", "GetMetricData")}


@dataclass(frozen=True)
class Call:
    action: str
    resource: str

    def __str__(self) -> str:
        return f"{self.action} on {self.resource}"


# A DynamoDB transaction is authorised item by item, as the write each item is (there is no TransactWriteItems action).
TRANSACT_ACTIONS = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem", "ConditionCheck": "ConditionCheckItem"}


def calls_of(service: str, operation: str, params: dict, region: str) -> list[Call]:
    """What IAM checks for one API call: one Call per resource it names."""
    if (service, operation) == ("dynamodb", "TransactWriteItems"):
        return [Call(f"dynamodb:{TRANSACT_ACTIONS[kind]}", f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{op['TableName']}")
                for item in params["TransactItems"] for kind, op in item.items()]
    action = f"{service}:{ACTIONS.get((service, operation), operation)}"
    return [Call(action, resource) for resource in _resources(service, operation, params, region)]


def _resources(service: str, operation: str, params: dict, region: str) -> list[str]:
    if (service, operation) in UNSCOPED:
        return ["*"]
    if service == "dynamodb":
        tables = list(params.get("RequestItems", {})) or [params["TableName"]]
        return [f"arn:aws:dynamodb:{region}:{ACCOUNT}:table/{table}" for table in tables]
    if service == "sqs":
        name = params["QueueName"] if "QueueName" in params else params["QueueUrl"].rsplit("/", 1)[-1]
        return [f"arn:aws:sqs:{region}:{ACCOUNT}:{name}"]
    if service == "s3":
        return [f"arn:aws:s3:::{params['Bucket']}" + (f"/{params['Key']}" if "Key" in params else "")]
    if service == "ecs" and operation in ("DescribeServices", "UpdateService"):
        services = params["services"] if "services" in params else [params["service"]]
        return [f"arn:aws:ecs:{region}:{ACCOUNT}:service/{params.get('cluster', 'default')}/{name}" for name in services]
    if service == "autoscaling" and operation == "SetDesiredCapacity":
        # The group's ARN carries an id the caller never sees; policies match it with a wildcard.
        return [f"arn:aws:autoscaling:{region}:{ACCOUNT}:autoScalingGroup:0f1e2d3c-id:autoScalingGroupName/"
                f"{params['AutoScalingGroupName']}"]
    if service == "eks" and operation == "DescribeCluster":
        return [f"arn:aws:eks:{region}:{ACCOUNT}:cluster/{params['name']}"]
    if service == "eks" and operation in ("DescribeNodegroup", "UpdateNodegroupConfig"):
        return [f"arn:aws:eks:{region}:{ACCOUNT}:nodegroup/{params['clusterName']}/{params['nodegroupName']}/0f1e2d3c-id"]
    raise AssertionError(f"tests/iam.py does not know the resource of {service}:{operation}; add it")


class Recorder:
    """Registers on clients; every call made through them afterwards is kept as the Calls IAM would check."""

    def __init__(self) -> None:
        self.calls: list[Call] = []

    def watch(self, client) -> None:
        events = client.meta.events
        events.register("before-parameter-build", self._keep_params, unique_id=f"iam-params-{id(self)}")
        events.register("before-call", self._record, unique_id=f"iam-recorder-{id(self)}")

    @staticmethod
    def _keep_params(params, context, **_) -> None:
        # before-call sees the serialised request; the API's own parameters are only seen this early.
        context["iam_params"] = dict(params)

    def _record(self, model, context, **_) -> None:
        self.calls += calls_of(model.service_model.service_name, model.name, context["iam_params"], context["client_region"])

    def actions(self) -> set[str]:
        return {call.action for call in self.calls}


def _listed(value) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _matches(patterns, value: str, case_sensitive: bool) -> bool:
    if not case_sensitive:
        return any(fnmatchcase(value.lower(), pattern.lower()) for pattern in _listed(patterns))
    return any(fnmatchcase(value, pattern) for pattern in _listed(patterns))


def allows(document: dict, call: Call) -> bool:
    """IAM's rule for one identity policy: some Allow matches and no Deny does (actions ignore case, ARNs do not)."""
    verdicts = []
    for statement in document["Statement"]:
        if {"NotAction", "NotResource", "Condition"} & set(statement):
            raise AssertionError(f"tests/iam.py does not evaluate {sorted(statement)}: {statement}")
        if _matches(statement["Action"], call.action, False) and _matches(statement["Resource"], call.resource, True):
            verdicts.append(statement["Effect"])
    return "Allow" in verdicts and "Deny" not in verdicts


def actions_in(document: dict) -> list[str]:
    return [action for statement in document["Statement"] for action in _listed(statement["Action"])]
