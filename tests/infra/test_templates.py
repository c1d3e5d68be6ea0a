"""infra/ballast.yaml and infra/workers.yaml: they lint clean, create in moto, and what they create is what the code
expects (the store's TTL attribute, the workers' settings, the queues' dead letters, the workers' least privilege)."""
import ast
import dataclasses
import io
import json
from pathlib import Path

import boto3
import pytest
import requests
from cfnlint.api import ManualArgs, lint_file
from cfnlint.decode import decode_str
from PIL import Image

import infra
from chalicelib.adapters.table import TTL_ATTRIBUTE
from tests import iam
from workers import worker

OPS = ("grayscale", "watermark", "thumbnail")
BUCKET = "ballast-dev-photos"


def declared(template: Path) -> dict:
    body, errors = decode_str(template.read_text())
    assert not errors
    return body


def lint(template: Path) -> list[str]:
    """cfn-lint's errors (not warnings or informational notes) for the template, in every region it may be deployed to."""
    matches = lint_file(template, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    return [f"{m.rule.id} {m.message} (line {m.linenumber})" for m in matches if m.rule.severity == "error"]


@pytest.mark.parametrize("template", infra.TEMPLATES, ids=lambda t: t.name)
def test_the_template_lints_without_errors(template):
    assert lint(template) == []


def test_the_linter_finds_errors_when_there_are_some(tmp_path):
    broken = tmp_path / "broken.yaml"
    broken.write_text(infra.WORKERS_TEMPLATE.read_text().replace("LaunchType: !Ref LaunchType", "LaunchType: SPOTTY", 1))
    assert lint(broken)


# ---- the state --------------------------------------------------------------------------------------------------------


def test_work_queues_send_what_they_cannot_deliver_to_the_dead_letter_queue(stack):
    sqs = boto3.client("sqs")

    def attributes(name):
        return sqs.get_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName=name)["QueueUrl"],
                                        AttributeNames=["All"])["Attributes"]

    dead_letters = attributes("ballast-dev-dead-letters")["QueueArn"]
    for op in OPS:
        assert json.loads(attributes(f"ballast-dev-{op}")["RedrivePolicy"]) == {"deadLetterTargetArn": dead_letters,
                                                                                 "maxReceiveCount": 3}
    completions = json.loads(attributes("ballast-dev-completions")["RedrivePolicy"])
    assert completions["deadLetterTargetArn"] == attributes("ballast-dev-completions-dlq")["QueueArn"]


def test_the_table_expires_what_the_store_marks_and_keeps_point_in_time_recovery():
    # moto's CloudFormation ignores both settings, so they are read from the template itself.
    table = declared(infra.TEMPLATE)["Resources"]["Table"]["Properties"]
    assert table["TimeToLiveSpecification"] == {"AttributeName": TTL_ATTRIBUTE, "Enabled": True}
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


@pytest.mark.parametrize("origin, allowed", [
    pytest.param("http://127.0.0.1:8123", True, id="the-console-on-loopback"),
    pytest.param("http://localhost:8123", True, id="the-console-as-localhost"),
    pytest.param("https://photos.example.com", False, id="another-site"),
])
def test_the_bucket_lets_the_console_post_its_presigned_uploads_and_no_other_site(stack, origin, allowed):
    # moto's CloudFormation ignores CorsConfiguration: the template's rules are put as S3 would hold them.
    rules = declared(infra.TEMPLATE)["Resources"]["Bucket"]["Properties"]["CorsConfiguration"]["CorsRules"]
    boto3.client("s3").put_bucket_cors(Bucket=BUCKET, CORSConfiguration={"CORSRules": [
        {"AllowedOrigins": r["AllowedOrigins"], "AllowedMethods": r["AllowedMethods"], "AllowedHeaders": r["AllowedHeaders"],
         "MaxAgeSeconds": r["MaxAge"]} for r in rules]})
    preflight = requests.options(f"https://{BUCKET}.s3.amazonaws.com/", timeout=5, headers={
        "Origin": origin, "Access-Control-Request-Method": "POST"})
    assert (preflight.status_code == 200 and preflight.headers.get("Access-Control-Allow-Origin") == origin) == allowed
    assert "DELETE" not in preflight.headers.get("Access-Control-Allow-Methods", "")


# ---- the workers ------------------------------------------------------------------------------------------------------


def create_workers(**parameters) -> tuple[dict, dict]:
    cloudformation = boto3.client("cloudformation")
    outputs = infra.create_stack(cloudformation, infra.stage_environment("dev"), infra.WORKERS_TEMPLATE, **parameters)
    resources = cloudformation.list_stack_resources(StackName="ballast-dev-workers")["StackResourceSummaries"]
    return outputs, {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources}


@pytest.fixture
def workers(stack):
    # Given subnets, no network is made: moto's EC2 costs more to start than the rest of the stack together.
    return create_workers(Subnets="subnet-0a,subnet-0b", SecurityGroups="sg-0a")


def task_environment(op: str) -> tuple[dict, dict[str, str]]:
    ecs = boto3.client("ecs")
    [service] = ecs.describe_services(cluster="ballast-dev", services=[f"ballast-dev-{op}"])["services"]
    [container] = ecs.describe_task_definition(taskDefinition=service["taskDefinition"])["taskDefinition"]["containerDefinitions"]
    return service, {e["name"]: e["value"] for e in container["environment"]} | {"stopTimeout": str(container["stopTimeout"])}


@pytest.mark.parametrize("op", OPS)
def test_each_operation_has_a_service_at_zero_whose_worker_finds_its_queue_and_the_bucket(workers, op):
    outputs, _ = workers
    service, environment = task_environment(op)
    assert (service["serviceName"], service["desiredCount"]) == (outputs[f"{op.capitalize()}ServiceName"], 0)
    settings = worker.Settings.from_env(environment)
    sqs = boto3.client("sqs")
    assert settings.op == op
    assert settings.work_queue_url == sqs.get_queue_url(QueueName=f"ballast-dev-{op}")["QueueUrl"]
    assert settings.completions_queue_url == sqs.get_queue_url(QueueName="ballast-dev-completions")["QueueUrl"]
    assert settings.bucket == BUCKET and boto3.client("s3").head_bucket(Bucket=BUCKET)
    assert settings.stop_timeout_s == float(environment["stopTimeout"])  # the drain fits in the time ECS gives


def test_fargate_is_the_default_and_ec2_an_option_with_a_node_group_at_zero(stack):
    parameters = declared(infra.WORKERS_TEMPLATE)["Parameters"]
    assert parameters["LaunchType"]["Default"] == "FARGATE"
    outputs = infra.create_stack(boto3.client("cloudformation"), infra.stage_environment("dev"), infra.WORKERS_TEMPLATE,
                                 LaunchType="EC2", NodesMax="5")
    [group] = boto3.client("autoscaling").describe_auto_scaling_groups(
        AutoScalingGroupNames=[outputs["NodeGroupName"]])["AutoScalingGroups"]
    assert (group["MinSize"], group["DesiredCapacity"], group["MaxSize"]) == (0, 0, 5)


def test_without_subnets_the_workers_get_a_network_of_their_own_with_no_way_in(stack):
    ec2 = boto3.client("ec2")
    _, resources = create_workers()
    subnets = ec2.describe_subnets(SubnetIds=[resources["SubnetA"], resources["SubnetB"]])["Subnets"]
    assert len({s["AvailabilityZone"] for s in subnets}) == 2
    [group] = ec2.describe_security_groups(GroupIds=[resources["WorkerSecurityGroup"]])["SecurityGroups"]
    assert group["IpPermissions"] == []
    assert not boto3.client("autoscaling").describe_auto_scaling_groups()["AutoScalingGroups"]


def test_given_subnets_no_network_is_made(workers):
    _, resources = workers
    assert "Vpc" not in resources and "WorkerSecurityGroup" not in resources


def task_policy(resources: dict, op: str) -> dict:
    role = resources[f"{op.capitalize()}TaskRole"].rsplit("/", 1)[-1]
    client = boto3.client("iam")
    [name] = client.list_role_policies(RoleName=role)["PolicyNames"]
    # moto keeps an inline policy from CloudFormation as the repr of the dict it parsed, not as JSON.
    return ast.literal_eval(client.get_role_policy(RoleName=role, PolicyName=name)["PolicyDocument"])


@pytest.mark.parametrize("op", OPS)
def test_each_worker_role_allows_exactly_its_own_operations_work(workers, op):
    _, resources = workers
    _, environment = task_environment(op)
    settings = dataclasses.replace(worker.Settings.from_env(environment), poll_wait_s=0)
    picture = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 80, 40)).save(picture, "JPEG")
    key = f"input/{op}/u-local/beach.jpg"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=picture.getvalue())
    boto3.client("sqs").send_message(QueueUrl=settings.work_queue_url, MessageBody=json.dumps({
        "jobId": "0" * 32, "bucket": BUCKET, "key": key, "op": op, "outputKey": key.replace("input/", "output/", 1),
        "enqueuedAt": "2026-11-25T06:00:00+00:00"}))
    recorder = iam.Recorder()
    sqs, s3 = worker.clients()
    recorder.watch(sqs)
    recorder.watch(s3)
    tally = worker.drain(settings, sqs=sqs, s3=s3)
    assert tally.done == 1
    document = task_policy(resources, op)
    assert [str(c) for c in recorder.calls if not iam.allows(document, c)] == []
    assert {"sqs:ReceiveMessage", "s3:GetObject", "s3:PutObject", "sqs:DeleteMessage", "sqs:SendMessage"} <= recorder.actions()
    assert iam.allows(document, iam.Call("sqs:ChangeMessageVisibility", f"arn:aws:sqs:us-east-1:123456789012:ballast-dev-{op}"))
    other = next(o for o in OPS if o != op)
    for call in (iam.Call("sqs:ReceiveMessage", f"arn:aws:sqs:us-east-1:123456789012:ballast-dev-{other}"),
                 iam.Call("s3:GetObject", f"arn:aws:s3:::{BUCKET}/input/{other}/u-local/beach.jpg"),
                 iam.Call("s3:PutObject", f"arn:aws:s3:::{BUCKET}/input/{op}/u-local/beach.jpg"),
                 iam.Call("s3:PutObject", f"arn:aws:s3:::{BUCKET}/output/{other}/u-local/beach.jpg"),
                 iam.Call("dynamodb:GetItem", "arn:aws:dynamodb:us-east-1:123456789012:table/ballast-dev")):
        assert not iam.allows(document, call), call
