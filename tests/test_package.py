"""`chalice package` succeeds for the whole app and the package holds the API and every function app.py declares."""
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from app import app

ROOT = Path(__file__).resolve().parent.parent
CHALICE = Path(sys.executable).with_name("chalice")


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """Terraform, because CloudFormation packaging refuses @app.on_s3_event on a bucket the app does not create."""
    out = tmp_path_factory.mktemp("package")
    env = {**os.environ, "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1")}
    result = subprocess.run([str(CHALICE), "package", "--stage", "dev", "--pkg-format", "terraform", str(out)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    template = json.loads((out / "chalice.tf.json").read_text())
    return template, json.loads(template["locals"]["chalice_api_swagger"]), out


def test_the_package_holds_the_api_and_every_function_of_app_py(package):
    template, _, out = package
    functions = set(template["resource"]["aws_lambda_function"])
    declared = {source.name for source in app.event_sources} | {f.name for f in app.pure_lambda_functions}
    assert functions == declared | {"api_handler"}
    assert "rest_api" in template["resource"]["aws_api_gateway_rest_api"]
    assert (out / "deployment.zip").stat().st_size > 0


def test_the_packaged_api_has_every_route(package):
    _, swagger, _ = package
    packaged = {(path, method) for path, item in swagger["paths"].items() for method in item if method != "options"}
    assert packaged == {(path, method.lower()) for path, methods in app.routes.items() for method in methods}


def test_every_packaged_method_requires_aws_iam(package):
    _, swagger, _ = package
    assert swagger["securityDefinitions"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    for path, item in swagger["paths"].items():
        for method, operation in item.items():
            assert operation.get("security") == [{"sigv4": []}], (path, method)


def test_the_stage_environment_names_the_resources(package):
    template, _, _ = package
    variables = template["resource"]["aws_lambda_function"]["api_handler"]["environment"]["variables"]
    assert variables["BALLAST_TABLE"] == "ballast-dev" and variables["POWERTOOLS_SERVICE_NAME"] == "ballast"


def test_the_lambda_bundle_holds_the_control_plane_and_none_of_the_tools_the_workers_or_the_emulated_aws(package):
    _, _, out = package
    bundle = zipfile.ZipFile(out / "deployment.zip")
    names = bundle.namelist()
    tops = {name.split("/")[0] for name in names}
    assert {"app.py", "chalicelib"} <= tops
    assert not tops & {"ballast", "local", "workers", "bench", "tests", "infra"}
    ours = {name for name in names if name.startswith("chalicelib/") and name.endswith(".py")}
    assert ours == {path.relative_to(ROOT).as_posix() for path in (ROOT / "chalicelib").rglob("*.py")}
    assert (out / "deployment.zip").stat().st_size <= 5 * 2**20
