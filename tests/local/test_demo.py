"""A small `make demo` end to end: real pump, node agent and worker processes on moto, scaled from zero and back."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BAD_KINDS = ("truncated", "zero-bytes", "not-an-image", "bomb")
N = 40


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    # A process of its own, as `make demo` runs: the test sees its exit code, its files and that nothing outlives it.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BALLAST_"))}
    done = subprocess.run([sys.executable, "-m", "local.demo", "--n", str(N), "--seed", "3", "--sizes", "small,1080p",
                           "--bad-fraction", "0.1", "--out", str(out), "--quiet", "--timeout", "150",
                           "--scale-down-after", "5"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=240)
    report = json.loads((out / "report.json").read_text()) if (out / "report.json").exists() else None
    return done, out, report


def test_the_demo_exits_zero_and_prints_where_the_report_is(run):
    done, out, _ = run
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert str(out / "report.json") in done.stdout and str(out / "timeline.png") in done.stdout
    assert "console: http://127.0.0.1:" in done.stdout and "/?token=" in done.stdout  # the batch, watchable live


def test_every_good_image_is_done_and_every_bad_one_failed_with_a_reason(run):
    _, out, report = run
    photos = [p.name for p in (out / "photos").rglob("*") if p.is_file() and not p.name.startswith(".")]
    bad = {p for p in photos if any(f"-{kind}." in p for kind in BAD_KINDS)}
    assert len(photos) == N and bad
    assert report["images"] == N and report["unfinished"] == 0
    assert report["done"] == N - len(bad) and report["failed"] == len(bad)
    assert {f["key"].rsplit("/", 1)[-1] for f in report["failed_jobs"]} == bad
    assert all(f["reason"] for f in report["failed_jobs"])


def test_workloads_scaled_up_from_zero_and_back_to_zero(run):
    _, _, report = run
    for op, numbers in report["ops"].items():
        assert numbers["started_at_zero"] and numbers["ended_at_zero"], op
        assert numbers["peak_running"] >= 1, op
    assert report["peak_nodes"] >= 1
    assert report["timeline"][-1]["nodes"] == 0
    assert any(e["reason"] == "SuccessfulRescale" for e in report["scale_events"])


def test_report_holds_the_numbers_of_the_run(run):
    _, out, report = run
    last = report["timeline"][-1]["ops"]
    assert sum(o["done"] for o in last.values()) == report["done"]
    assert sum(o["failed"] for o in last.values()) == report["failed"]
    assert report["makespan_s"] > 0 and report["images_per_s"] == pytest.approx(N / report["makespan_s"], rel=0.01)
    assert 0 < report["latency_p50_s"] <= report["latency_p95_s"] <= report["makespan_s"]
    assert report["replica_seconds"] > 0
    assert report["invocations"]["on_upload"] >= N and report["invocations"]["on_completion"] >= 1
    assert report["runtime_errors"] == []


def test_the_timeline_plot_is_a_png(run):
    _, out, _ = run
    assert (out / "timeline.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_workers_drained_on_sigterm_and_none_outlives_the_demo(run):
    _, _, report = run
    assert report["tasks"]
    assert all(task["exitCode"] == 0 for task in report["tasks"]), report["tasks"]
    assert not [task["pid"] for task in report["tasks"] if Path(f"/proc/{task['pid']}").exists()]


def _worker_children(pid: int) -> list[int]:
    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            parent = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            if parent == pid and b"workers.worker" in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:  # exited while listed
            continue
    return found


def test_ctrl_c_mid_batch_stops_every_worker_and_exits_130(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BALLAST_"))}
    # A shell's background job ignores SIGINT; a terminal's foreground job, which Ctrl-C reaches, does not.
    demo = subprocess.Popen([sys.executable, "-m", "local.demo", "--n", "30", "--seed", "5", "--sizes", "1080p",
                             "--out", str(tmp_path), "--quiet"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        workers = []
        while not workers and time.monotonic() < deadline and demo.poll() is None:
            time.sleep(0.5)
            workers = _worker_children(demo.pid)
        assert workers, "no worker started"
        demo.send_signal(signal.SIGINT)
        output, _ = demo.communicate(timeout=60)
    finally:
        if demo.poll() is None:
            demo.kill()
    assert demo.returncode == 130, output[-2000:]
    assert "interrupted: everything is stopped" in output
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]


def test_the_handlers_lines_went_to_lambda_log_and_none_to_the_terminal(run):
    done, out, _ = run
    lines = (out / "lambda.log").read_text().splitlines()
    assert any('"service":"ballast"' in line and '"level"' in line for line in lines)  # Powertools' logger
    assert any(line.startswith('{"_aws"') for line in lines)  # the EMF metric documents
    assert not [line for line in done.stdout.splitlines() if line.startswith("{")]


def test_the_live_view_captures_no_output_and_emf_lines_go_to_the_file(tmp_path, monkeypatch):
    import io

    from aws_lambda_powertools.metrics import EphemeralMetrics, MetricUnit
    from rich.console import Console

    from local import demo

    screen = io.StringIO()
    console = Console(file=screen, force_terminal=True, width=100)  # a terminal: where Live would capture stdout
    monkeypatch.setattr(sys, "stdout", sys.stdout)  # restored after the test
    log = demo.route_handler_output(tmp_path / "lambda.log")
    try:
        for view in (demo.live_view("the table", console, quiet=False), demo.busy(console, "starting")):
            with view:
                metrics = EphemeralMetrics(namespace="Ballast")
                metrics.add_metric(name="ScaleActions", unit=MetricUnit.Count, value=1)
                metrics.flush_metrics()
    finally:
        log.close()
    assert '"ScaleActions"' in (tmp_path / "lambda.log").read_text()
    assert "ScaleActions" not in screen.getvalue() and "the table" in screen.getvalue()


def test_scale_events_are_marked_at_their_second_of_the_timeline():
    from datetime import datetime

    from local import report

    started = datetime.fromisoformat("2026-01-01T00:00:00+00:00").timestamp()
    events = [{"reason": "SuccessfulRescale", "time": "2026-01-01T00:00:12.500000+00:00",
               "involvedObject": {"kind": "Workload", "name": "photos-thumbnail"}},
              {"reason": "TriggeredScaleUp", "time": "2026-01-01T00:00:13+00:00", "involvedObject": {"kind": "NodePool", "name": "local"}},
              {"reason": "FailedGetScale", "time": "2026-01-01T00:00:14+00:00", "involvedObject": {"kind": "Workload", "name": "x"}}]
    assert report.scale_marks(events, started) == {"Workload/photos-thumbnail": [(12.5, "SuccessfulRescale")],
                                                   "NodePool/local": [(13.0, "TriggeredScaleUp")]}


def test_the_report_prices_the_batch_in_aws_under_ballast_and_keda(run):
    done, _, report = run
    # Every image that finished measured its service time, so each shape is priced under both policies.
    assert {(r["platform"], r["policy"]) for r in report["costs"]} == {
        (p, q) for p in ("Fargate", "EKS") for q in ("ballast", "keda")}
    assert all(r["cost"] > 0 and r["makespan_s"] > 0 for r in report["costs"])
    assert "this batch in AWS" in done.stdout and "KEDA + cluster-autoscaler" in done.stdout
