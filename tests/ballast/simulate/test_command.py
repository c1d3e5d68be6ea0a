"""`python -m ballast.simulate`: a table, JSON and a plot; one-line errors with exit status 2, never a traceback."""
import json
import subprocess
import sys

import pytest
import yaml

from ballast.simulate.command import main
from tests.ballast.simulate import builders


@pytest.fixture
def tiny(tmp_path):
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(builders.data()))
    return path


def test_a_scenario_prints_a_row_per_policy_and_writes_json_and_a_plot(tiny, tmp_path, capsys):
    assert main([str(tiny), "--out", str(tmp_path / "out")]) == 0
    printed = capsys.readouterr().out
    for policy in ("ballast", "hpa-cpu", "keda", "target-tracking", "lower-bound"):
        assert f"│ {policy}" in printed
    result = json.loads((tmp_path / "out" / "tiny.json").read_text())
    assert [r["policy"] for r in result["runs"]] == ["ballast", "hpa-cpu", "keda", "target-tracking", "lower-bound"]
    assert (tmp_path / "out" / "tiny.png").read_bytes()[:4] == b"\x89PNG"


def test_policies_can_be_picked_and_the_numbers_repeat(tiny, tmp_path, capsys):
    runs = []
    for out in ("one", "two"):
        assert main([str(tiny), "--policy", "keda,ballast", "--out", str(tmp_path / out), "--no-plot"]) == 0
        result = json.loads((tmp_path / out / "tiny.json").read_text())
        runs.append([{k: v for k, v in r.items() if k != "elapsed_s"} for r in result["runs"]])
    assert [r["policy"] for r in runs[0]] == ["ballast", "keda"] and runs[0] == runs[1]


def test_a_trace_file_is_played(tmp_path, capsys):
    path = tmp_path / "night.json"
    path.write_text(json.dumps({"workloads": [builders.workload()], "nodePools": [builders.pool()], "stats": [
        {"workload": "photos", "minute": "2024-05-01T03:00:00Z", "arrived": 6, "done": 6, "busyMs": 9000},
        {"workload": "photos", "minute": "2024-05-01T03:02:00Z", "arrived": 2, "done": 2, "busyMs": 3000}]}))
    assert main(["--trace", str(path), "--policy", "ballast", "--out", str(tmp_path), "--no-plot"]) == 0
    printed = capsys.readouterr().out
    assert "trace gap: no stats for 2024-05-01T03:01Z (1 minute)" in printed
    assert json.loads((tmp_path / "night.json").read_text())["items"] == 8


def test_a_sweep_prints_the_trade_off(tiny, tmp_path, capsys):
    assert main([str(tiny), "--sweep", "spec.maxReplicas=1,4", "--out", str(tmp_path), "--no-plot"]) == 0
    printed = capsys.readouterr().out
    assert "sweep of spec.maxReplicas" in printed and "◆" in printed


@pytest.mark.parametrize("argv, says", [
    pytest.param(["no-such-scenario"], "no scenario named 'no-such-scenario'", id="unknown-scenario"),
    pytest.param(["seed-eks", "--policy", "karpenter"], "--policy: unknown policy 'karpenter'", id="unknown-policy"),
    pytest.param(["seed-eks", "--sweep", "spec.maxReplicas=0"], "--sweep: photos-grayscale: spec.maxReplicas=0",
                 id="invalid-sweep-value"),
    pytest.param(["seed-eks", "--colour"], "unrecognized arguments: --colour", id="unknown-flag"),
    pytest.param([], "name a scenario", id="nothing-to-play"),
])
def test_errors_are_one_line_with_status_two(argv, says, capsys):
    try:
        code = main(argv)
    except SystemExit as exit:  # argparse's own errors leave this way, through the parser's one-line error
        code = exit.code
    err = capsys.readouterr().err
    assert code == 2 and says in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_the_module_runs_as_a_program(tmp_path):
    done = subprocess.run([sys.executable, "-m", "ballast.simulate", "--list"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and "seed-eks:" in done.stdout and "night-trickle:" in done.stdout
