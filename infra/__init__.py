"""The one definition of Ballast's resources (infra/ballast.yaml) and the stage settings that name them."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("ballast.yaml")


def stage_environment(stage: str = "dev") -> dict[str, str]:
    """The environment Chalice gives the Lambdas of `stage`: global variables, then the stage's own."""
    config = json.loads((ROOT / ".chalice" / "config.json").read_text())
    return {**config.get("environment_variables", {}), **config["stages"][stage].get("environment_variables", {})}


def create_stack(cloudformation, env: dict[str, str]) -> dict[str, str]:
    """Creates the stack for the stage named in `env` and returns its outputs."""
    name = f"ballast-{env['BALLAST_STAGE']}"
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=TEMPLATE.read_text(),
        Parameters=[{"ParameterKey": "Stage", "ParameterValue": env["BALLAST_STAGE"]},
                    {"ParameterKey": "BucketName", "ParameterValue": env["BALLAST_BUCKET"]}],
    )
    cloudformation.get_waiter("stack_create_complete").wait(StackName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    stack = cloudformation.describe_stacks(StackName=name)["Stacks"][0]
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}
