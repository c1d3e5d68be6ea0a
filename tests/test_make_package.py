"""`make package`: the stage's Lambdas as terraform with the partial-batch override beside them, and both templates."""
import json
import subprocess
from pathlib import Path

import infra

ROOT = Path(__file__).resolve().parent.parent


def test_make_package_writes_every_artefact_a_deploy_needs(tmp_path):
    # -o: the venv is this one; make must not reinstall it because a requirements file is newer than its stamp.
    result = subprocess.run(["make", "-o", ".venv/.installed", "package", "STAGE=prod", f"PACKAGE={tmp_path}"],
                            cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    lambdas = json.loads((tmp_path / "lambdas" / "chalice.tf.json").read_text())
    assert lambdas["resource"]["aws_lambda_function"]["tick"]["function_name"] == "ballast-prod-tick"
    assert (tmp_path / "lambdas" / "deployment.zip").stat().st_size > 0
    override = tmp_path / "lambdas" / "partial_batch_override.tf.json"
    assert set(json.loads(override.read_text())["resource"]["aws_lambda_event_source_mapping"]) <= set(
        lambdas["resource"]["aws_lambda_event_source_mapping"])
    for template in infra.TEMPLATES:
        assert (tmp_path / template.name).read_text() == template.read_text()
