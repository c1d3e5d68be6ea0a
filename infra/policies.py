"""Least-privilege IAM policies of Ballast's Lambdas: one per function and stage, naming only that stage's resources.

Chalice reads them from .chalice/ (`iam_policy_file` per function in config.json, `autogen_policy: false`); this module
is where they are written, so the twelve files never drift apart: `python -m infra.policies` rewrites them and
tests/test_policies.py fails when a file differs from what this module makes, or a handler calls what its policy
does not allow. Account and region are wildcards: Chalice copies the files verbatim into any account.
"""
import json
import sys

from infra import ROOT, stage_environment

CHALICE = ROOT / ".chalice"
APP = "ballast"
FUNCTIONS = ("api_handler", "on_upload", "on_completion", "on_dead_letter", "on_nudge", "tick")
TABLE_READ = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:BatchGetItem"]
TABLE_WRITE = ["dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:BatchWriteItem"]
# What Lambda's event source mapping does with the function's role to feed it a queue.
QUEUE_CONSUMER = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes", "sqs:ChangeMessageVisibility"]


def file_name(stage: str, function: str) -> str:
    return f"policy-{stage}-{function}.json"


def function_name(stage: str, function: str) -> str:
    """Chalice's: the API handler is named after the app and stage alone."""
    return f"{APP}-{stage}" if function == "api_handler" else f"{APP}-{stage}-{function}"


def _allow(actions, resources) -> dict:
    return {"Effect": "Allow", "Action": actions, "Resource": resources}


def policies(stage: str) -> dict[str, dict]:
    """{function: policy document} for the stage, from the names its environment gives the Lambdas."""
    env = stage_environment(stage)
    table = f"arn:aws:dynamodb:*:*:table/{env['BALLAST_TABLE']}"
    bucket = f"arn:aws:s3:::{env['BALLAST_BUCKET']}"

    def queue(name: str) -> str:
        return f"arn:aws:sqs:*:*:{name}"

    work_queues = [queue(env["BALLAST_QUEUE_PREFIX"] + op) for op in env["BALLAST_OPERATIONS"].split(",") if op]
    prefix = f"{APP}-{stage}"
    controller = [
        _allow(TABLE_READ + TABLE_WRITE, table),
        # A Workload may drain any queue of the stage, not only the photo pipeline's three.
        _allow(["sqs:GetQueueUrl", "sqs:GetQueueAttributes"], queue(env["BALLAST_QUEUE_PREFIX"] + "*")),
        # An invocation out of time with work going on hands off to the next through the nudge queue.
        _allow("sqs:SendMessage", queue(env["BALLAST_NUDGE_QUEUE"])),
        _allow(["ecs:DescribeServices", "ecs:UpdateService"], f"arn:aws:ecs:*:*:service/{env['BALLAST_CLUSTER']}/*"),
        # DescribeAutoScalingGroups and GetMetricData have no resource-level permissions: IAM requires "*".
        _allow(["autoscaling:DescribeAutoScalingGroups", "cloudwatch:GetMetricData"], "*"),
        _allow("autoscaling:SetDesiredCapacity", f"arn:aws:autoscaling:*:*:autoScalingGroup:*:autoScalingGroupName/{prefix}-*"),
        # EKS clusters the stage's workloads and node pools run on are named for it: ballast-<stage>, ballast-<stage>-*.
        _allow("eks:DescribeCluster", [f"arn:aws:eks:*:*:cluster/{prefix}", f"arn:aws:eks:*:*:cluster/{prefix}-*"]),
        _allow(["eks:DescribeNodegroup", "eks:UpdateNodegroupConfig"],
               [f"arn:aws:eks:*:*:nodegroup/{prefix}/*", f"arn:aws:eks:*:*:nodegroup/{prefix}-*/*"]),
    ]
    statements = {
        # The presigned URLs it hands out act with this role: PutObject (upload) and GetObject (download).
        # ListBucket makes S3 answer 404 rather than 403 for a missing key, so a deleted image is a NotFound.
        "api_handler": [_allow(TABLE_READ + TABLE_WRITE, table),
                        _allow(["s3:GetObject", "s3:PutObject", "s3:DeleteObject"], [f"{bucket}/input/*", f"{bucket}/output/*"]),
                        _allow("s3:ListBucket", bucket)],
        "on_upload": [_allow(TABLE_READ + TABLE_WRITE, table),
                      _allow(["sqs:GetQueueUrl", "sqs:SendMessage"], work_queues + [queue(env["BALLAST_NUDGE_QUEUE"])])],
        "on_completion": [_allow(TABLE_READ + TABLE_WRITE, table),
                          _allow(QUEUE_CONSUMER, queue(env["BALLAST_COMPLETIONS_QUEUE"]))],
        "on_dead_letter": [_allow(TABLE_READ + TABLE_WRITE, table),
                           _allow(QUEUE_CONSUMER, queue(env["BALLAST_DEAD_LETTER_QUEUE"]))],
        "on_nudge": controller + [_allow(QUEUE_CONSUMER, queue(env["BALLAST_NUDGE_QUEUE"]))],
        "tick": controller,
    }
    return {function: {"Version": "2012-10-17", "Statement": [_logs(stage, function)] + statements[function]}
            for function in FUNCTIONS}


def _logs(stage: str, function: str) -> dict:
    group = f"arn:aws:logs:*:*:log-group:/aws/lambda/{function_name(stage, function)}"
    return _allow(["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"], [group, f"{group}:*"])


def render(document: dict) -> str:
    return json.dumps(document, indent=2) + "\n"


def main(stages: list[str]) -> int:
    for stage in stages:
        for function, document in policies(stage).items():
            (CHALICE / file_name(stage, function)).write_text(render(document))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["dev", "prod"]))
