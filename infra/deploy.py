"""`make infra STAGE=prod`: creates or updates the stage's two stacks (state, then workers), waits, prints their outputs.

    python -m infra.deploy --stage prod [--parameter WorkerImageTag=1a2b3c ...]

Parameters apply to whichever template declares them; on an update, a parameter not given keeps its deployed value
(so a later run without Subnets=... does not move the workers onto a new network), except NodeImageId, which
follows its SSM path to the newest ECS-optimised AMI. `--stack workers` updates the workers alone (a new image tag). Exit status 1 with the failed
resources' reasons when a stack does not reach *_COMPLETE.
"""
from __future__ import annotations

import argparse
import json
import sys

import boto3
from botocore.exceptions import BotoCoreError, ClientError, WaiterError

import infra

NO_CHANGES = "No updates are to be performed"
WAIT = {"Delay": 10, "MaxAttempts": 180}  # half an hour: a first Fargate stack with its network takes a few minutes


STACKS = {template.stem: template for template in infra.TEMPLATES}  # ballast (the state), workers


class DeployError(Exception):
    pass


def deploy(cloudformation, stage: str, parameters: dict[str, str], templates=infra.TEMPLATES,
           wait: dict = WAIT) -> dict[str, str]:
    """The stage's stacks of `templates`, in order; their outputs merged."""
    env = infra.stage_environment(stage)
    outputs: dict[str, str] = {}
    for template in templates:
        name = infra.stack_name(env, template)
        _apply(cloudformation, name, template, infra.stack_parameters(env, template, **parameters), wait)
        outputs.update(infra.outputs_of(cloudformation, name))
    return outputs


def _apply(cloudformation, name: str, template, parameters: list[dict], wait: dict) -> None:
    current = _describe(cloudformation, name)
    request = {"StackName": name, "TemplateBody": template.read_text(), "Capabilities": infra.CAPABILITIES}
    if current is None:
        # The state stack holds the photos and the store: deleting it takes switching this off first, on purpose.
        cloudformation.create_stack(**request, Parameters=parameters, EnableTerminationProtection=template == infra.TEMPLATE)
        _wait(cloudformation, name, "stack_create_complete", wait)
        return
    if current["StackStatus"] == "ROLLBACK_COMPLETE":
        raise DeployError(f"{name} failed to create earlier and cannot be updated; delete it "
                          f"(aws cloudformation delete-stack --stack-name {name}) and run again")
    kept = kept_parameters(current.get("Parameters", []), parameters, infra.declared_parameters(template))
    try:
        cloudformation.update_stack(**request, Parameters=parameters + kept)
    except ClientError as error:
        if NO_CHANGES in str(error):
            return
        raise DeployError(f"{name}: {error}") from None
    _wait(cloudformation, name, "stack_update_complete", wait)


def kept_parameters(deployed: list[dict], given: list[dict], declared: dict[str, dict]) -> list[dict]:
    """UsePreviousValue for every deployed parameter the run does not give, as `aws cloudformation deploy` does.

    An SSM-typed parameter (the nodes' AMI) is left to its default path instead, so each update resolves the newest
    recommended AMI; a parameter the template no longer declares is dropped.
    """
    named = {p["ParameterKey"] for p in given}
    return [{"ParameterKey": p["ParameterKey"], "UsePreviousValue": True} for p in deployed
            if p["ParameterKey"] not in named and p["ParameterKey"] in declared
            and not declared[p["ParameterKey"]]["Type"].startswith("AWS::SSM::Parameter::")]


def _describe(cloudformation, name: str) -> dict | None:
    try:
        return cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    except ClientError as error:
        if "does not exist" in str(error):
            return None
        raise


def _wait(cloudformation, name: str, waiter: str, wait: dict) -> None:
    try:
        cloudformation.get_waiter(waiter).wait(StackName=name, WaiterConfig=wait)
    except WaiterError:
        failures = _failures(cloudformation, name) or ["  (no failed resource reported)"]
        raise DeployError(f"{name} is {_describe(cloudformation, name)['StackStatus']}:\n" + "\n".join(failures)) from None


def _failures(cloudformation, name: str) -> list[str]:
    """The failed resources of the latest operation, oldest first: the first is usually the cause, the rest its echo."""
    events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
    return [f"  {e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
            for e in reversed(events) if e["ResourceStatus"].endswith("_FAILED")]


def main(argv: list[str] | None = None, cloudformation=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.deploy", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, choices=sorted(_stages()))
    parser.add_argument("--stack", choices=("all", *STACKS), default="all", help="both stacks (default) or one of them")
    parser.add_argument("--parameter", action="append", default=[], metavar="KEY=VALUE",
                        help="a template parameter, e.g. WorkerImageTag=1a2b3c or LaunchType=EC2 (repeatable)")
    args = parser.parse_args(argv)
    parameters = dict(p.split("=", 1) for p in args.parameter if "=" in p)
    if len(parameters) != len(args.parameter):
        parser.error("--parameter takes KEY=VALUE")
    unknown = set(parameters) - set().union(*(infra.declared_parameters(t) for t in infra.TEMPLATES))
    if unknown:
        parser.error(f"no template declares {', '.join(sorted(unknown))}")
    try:
        templates = infra.TEMPLATES if args.stack == "all" else (STACKS[args.stack],)
        outputs = deploy(cloudformation or boto3.client("cloudformation"), args.stage, parameters, templates)
    except (DeployError, ClientError, BotoCoreError) as error:
        print(f"infra: {error}", file=sys.stderr)
        return 1
    width = max(map(len, outputs), default=0)
    for key, value in sorted(outputs.items()):
        print(f"{key:<{width}}  {value}")
    return 0


def _stages() -> set[str]:
    return set(json.loads((infra.ROOT / ".chalice" / "config.json").read_text())["stages"])


if __name__ == "__main__":
    sys.exit(main())
