"""Chalice sets no FunctionResponseTypes on SQS event source mappings: the terraform override must add it to each."""
import json
from pathlib import Path

import pytest
from chalice.cli.factory import CLIFactory
from chalice.awsclient import TypedAWSClient
from chalice.deploy.deployer import AppPolicyGenerator
from chalice.deploy.packager import LambdaDeploymentPackager
from chalice.package import PackageOptions, create_app_packager

ROOT = Path(__file__).resolve().parent.parent
OVERRIDE = ROOT / ".chalice" / "partial_batch_override.tf.json"


@pytest.fixture
def packaged(tmp_path, monkeypatch):
    """`chalice package --pkg-format terraform --stage dev`, minus the pip build of the zip and the policy analysis."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    zip_file = tmp_path / "deployment.zip"
    zip_file.write_bytes(b"")
    monkeypatch.setattr(LambdaDeploymentPackager, "create_deployment_package", lambda *args: str(zip_file))
    monkeypatch.setattr(AppPolicyGenerator, "generate_policy", lambda *args: {"Version": "2012-10-17", "Statement": []})
    factory = CLIFactory(project_dir=str(ROOT))
    config = factory.create_config_obj(chalice_stage_name="dev")
    options = PackageOptions(TypedAWSClient(factory.create_botocore_session()))
    create_app_packager(config, options, package_format="terraform").package_app(config, str(tmp_path / "out"), "dev")
    return json.loads((tmp_path / "out" / "chalice.tf.json").read_text())


def test_every_sqs_event_source_reports_batch_item_failures(packaged):
    mappings = packaged["resource"]["aws_lambda_event_source_mapping"]
    sqs = {name for name, mapping in mappings.items() if ":sqs:" in json.dumps(mapping)}
    override = json.loads(OVERRIDE.read_text())["resource"]["aws_lambda_event_source_mapping"]
    assert sqs and sqs == set(override)
    for name in sqs:
        merged = {**mappings[name], **override[name]}  # terraform's override rule: attributes replace, per block
        assert merged["function_response_types"] == ["ReportBatchItemFailures"]
        assert merged["function_name"] == mappings[name]["function_name"]
