"""The one definition of Ballast's resources outside the Lambdas and the stage settings that name them.

Two templates, two stacks per stage: infra/ballast.yaml holds the state (table, bucket, queues, cluster) and
infra/workers.yaml the workers (ECS services at zero, their roles, a network, optional EC2 nodes). Workers can be
replaced or torn down without touching a byte of data, and the tests that need no worker create only the state.
"""
import json
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("ballast.yaml")
WORKERS_TEMPLATE = Path(__file__).with_name("workers.yaml")
TEMPLATES = (TEMPLATE, WORKERS_TEMPLATE)  # in creation order: the workers name the state's queues and bucket
# The workers' template creates IAM roles (task, execution, EC2 node) with names CloudFormation generates.
CAPABILITIES = ["CAPABILITY_IAM"]


def stage_environment(stage: str = "dev") -> dict[str, str]:
    """The environment Chalice gives the Lambdas of `stage`: global variables, then the stage's own."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def stack_name(env: dict[str, str], template: Path = TEMPLATE) -> str:
    suffix = "" if template == TEMPLATE else f"-{template.stem}"
    return f"ballast-{env['BALLAST_STAGE']}{suffix}"


class _TemplateLoader(yaml.SafeLoader):
    """Reads a template's own keys; the values of CloudFormation's short-form functions (!Ref, !Sub, ...) are not needed."""


_TemplateLoader.add_multi_constructor("!", lambda loader, suffix, node: None)


def declared_parameters(template: Path) -> dict[str, dict]:
    """{name: declaration (Type, Default, ...)} of the template's parameters."""
    return yaml.load(template.read_text(), Loader=_TemplateLoader)["Parameters"]


def stack_parameters(env: dict[str, str], template: Path = TEMPLATE, **parameters: str) -> list[dict[str, str]]:
    """The stage's names (from its environment, so the Lambdas and the stacks agree), then the caller's parameters;
    each template gets those it declares, so one set of parameters serves both stacks."""
    values = {"Stage": env["BALLAST_STAGE"], "BucketName": env["BALLAST_BUCKET"], **parameters}
    declared = declared_parameters(template)
    return [{"ParameterKey": key, "ParameterValue": str(value)} for key, value in values.items() if key in declared]


def outputs_of(cloudformation, name: str) -> dict[str, str]:
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def create_stack(cloudformation, env: dict[str, str], template: Path = TEMPLATE, **parameters: str) -> dict[str, str]:
    """Creates the stage's stack of `template` and returns its outputs; `parameters` override the template's defaults."""
    name = stack_name(env, template)
    cloudformation.create_stack(StackName=name, TemplateBody=template.read_text(), Capabilities=CAPABILITIES,
                                Parameters=stack_parameters(env, template, **parameters))
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return outputs_of(cloudformation, name)


def create_stacks(cloudformation, env: dict[str, str], **parameters: str) -> dict[str, str]:
    """Both stacks of the stage, state first; their outputs merged."""
    outputs: dict[str, str] = {}
    for template in TEMPLATES:
        outputs.update(create_stack(cloudformation, env, template, **parameters))
    return outputs
