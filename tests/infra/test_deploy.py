"""`make infra` (infra/deploy.py) against moto: both stacks created in order, updated with the deployed parameters
kept, and a stack that fails reported with its reasons and exit status 1."""
import boto3
import pytest
from moto import mock_aws

import infra
from infra import deploy

STATE = ["--stack", "ballast"]


@pytest.fixture
def cloudformation():
    with mock_aws():
        client = boto3.client("cloudformation")
        sent = []
        client.meta.events.register("before-parameter-build.cloudformation.*",
                                    lambda params, model, **_: sent.append((model.name, dict(params))))
        client.sent = sent
        yield client


def visibility_timeout(queue: str = "ballast-prod-thumbnail") -> str:
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["VisibilityTimeout"])["Attributes"]["VisibilityTimeout"]


def test_creates_the_state_then_the_workers_and_prints_their_outputs(cloudformation, capsys):
    assert deploy.main(["--stage", "prod"], cloudformation) == 0
    printed = dict(line.split(None, 1) for line in capsys.readouterr().out.splitlines())
    assert printed["TableName"] == "ballast-prod" and printed["GrayscaleServiceName"] == "ballast-prod-grayscale"
    created = [params for operation, params in cloudformation.sent if operation == "CreateStack"]
    assert [c["StackName"] for c in created] == ["ballast-prod", "ballast-prod-workers"]
    assert all(c["Capabilities"] == ["CAPABILITY_IAM"] for c in created)
    # Only the state is protected from deletion: it holds the photos and the store.
    assert [c["EnableTerminationProtection"] for c in created] == [True, False]


def test_an_update_changes_what_is_given_and_keeps_what_was_deployed(cloudformation):
    # moto resolves UsePreviousValue only for parameters given at creation, so the first run gives all of them.
    assert deploy.main(["--stage", "prod", *STATE, "--parameter", "MaxReceives=3",
                        "--parameter", "WorkVisibilitySeconds=90"], cloudformation) == 0
    assert deploy.main(["--stage", "prod", *STATE, "--parameter", "MaxReceives=4"], cloudformation) == 0
    assert visibility_timeout() == "90"  # the template's default is 60
    [update] = [params for operation, params in cloudformation.sent if operation == "UpdateStack"]
    assert {"ParameterKey": "WorkVisibilitySeconds", "UsePreviousValue": True} in update["Parameters"]
    assert deploy.main(["--stage", "prod", *STATE, "--parameter", "WorkVisibilitySeconds=120"], cloudformation) == 0
    assert visibility_timeout() == "120"


def test_the_nodes_ami_follows_its_ssm_path_on_update_instead_of_the_deployed_value():
    declared = infra.declared_parameters(infra.WORKERS_TEMPLATE)
    deployed = [{"ParameterKey": "NodeImageId", "ParameterValue": "ami-old"}, {"ParameterKey": "Subnets", "ParameterValue": "a,b"},
                {"ParameterKey": "Retired", "ParameterValue": "x"}, {"ParameterKey": "WorkerImageTag", "ParameterValue": "v1"}]
    given = [{"ParameterKey": "WorkerImageTag", "ParameterValue": "v2"}]
    assert deploy.kept_parameters(deployed, given, declared) == [{"ParameterKey": "Subnets", "UsePreviousValue": True}]


def fail_on_aws_terms(client, status: str) -> None:
    """Make the workers' stack look as AWS reports a failed one: its status, and a failed resource with the reason."""
    def status_of(parsed, **_):
        for stack in parsed.get("Stacks", []):
            if stack["StackName"] == "ballast-prod-workers":
                stack["StackStatus"] = status

    def failed_event(parsed, **_):
        parsed["StackEvents"].insert(0, {"LogicalResourceId": "GrayscaleService", "ResourceType": "AWS::ECS::Service",
                                         "ResourceStatus": "CREATE_FAILED", "StackName": "ballast-prod-workers",
                                         "ResourceStatusReason": "subnet-0bad does not exist"})

    client.meta.events.register("after-call.cloudformation.DescribeStacks", status_of)
    client.meta.events.register("after-call.cloudformation.DescribeStackEvents", failed_event)


def test_a_stack_that_fails_is_reported_with_the_failed_resources_reason(cloudformation, capsys):
    fail_on_aws_terms(cloudformation, "CREATE_FAILED")
    code = deploy.main(["--stage", "prod"], cloudformation)
    error = capsys.readouterr().err
    assert code == 1
    assert "ballast-prod-workers is CREATE_FAILED" in error
    assert "GrayscaleService (AWS::ECS::Service): subnet-0bad does not exist" in error


def test_a_stack_that_failed_to_create_must_be_deleted_before_a_new_run(cloudformation, capsys):
    assert deploy.main(["--stage", "prod"], cloudformation) == 0
    fail_on_aws_terms(cloudformation, "ROLLBACK_COMPLETE")
    assert deploy.main(["--stage", "prod"], cloudformation) == 1
    assert "aws cloudformation delete-stack --stack-name ballast-prod-workers" in capsys.readouterr().err
    assert [p["StackName"] for operation, p in cloudformation.sent if operation == "UpdateStack"] == ["ballast-prod"]


@pytest.mark.parametrize("argv", [["--stage", "staging"], ["--stage", "prod", "--parameter", "Subnet=subnet-1"],
                                  ["--stage", "prod", "--parameter", "WorkerImageTag"]],
                         ids=["unknown-stage", "undeclared-parameter", "no-value"])
def test_mistakes_on_the_command_line_are_refused_before_anything_is_sent(cloudformation, argv):
    with pytest.raises(SystemExit) as exit_:
        deploy.main(argv, cloudformation)
    assert exit_.value.code == 2 and cloudformation.sent == []
