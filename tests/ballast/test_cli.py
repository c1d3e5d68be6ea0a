"""The `ballast` command run as a user runs it: a process of its own against the local runtime's API server."""
import json
import queue
import shutil
import signal
import subprocess
import sys
import threading
import time

import pytest
import yaml

from ballast import tables
from ballast.api_client import Api, ApiError
from tests.ballast.cli import ROOT, ballast as run_ballast, clean_env

FIXTURES = ROOT / "tests/ballast/fixtures"
PHOTO_OPS = ("grayscale", "watermark", "thumbnail")
# chalice local cannot check IAM signatures and warns on every request; API Gateway checks them in AWS.
pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    from chalicelib import wiring
    from local.runtime import Runtime

    from app import app

    served_as = app.__class__
    local = Runtime(tmp_path_factory.mktemp("runtime")).start()
    yield local
    local.stop()
    # chalice local rebased the app's class while serving; left so, the next local server in this process would fail.
    assert app.__class__ is served_as
    wiring.reset()  # the next test module's moto mock must not reach a stopped server through cached clients


@pytest.fixture(scope="module")
def env(runtime):
    # No AWS credentials at all: against a loopback endpoint the CLI signs with local ones.
    return clean_env(BALLAST_API_URL=runtime.api_url, BALLAST_CLUSTER="ballast-dev",
                     BALLAST_LOG_FILE=str(runtime.out_dir / "lambda.log"))


@pytest.fixture
def ballast(env):
    def run(*argv, stdin=None, **extra):
        return run_ballast(*argv, env={**env, **extra}, stdin=stdin)
    return run


def write(tmp_path, text, name="manifest.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


WORKLOAD = """
apiVersion: ballast.io/v1
kind: Workload
metadata: {name: cli-extra, labels: {app: cli}}
spec:
  target: {kind: ECSService, cluster: ballast-dev, service: cli-extra}
  queue: {name: ballast-dev-thumbnail}
  minReplicas: 0
  maxReplicas: MAX
"""


def test_get_workloads_shows_the_hpa_and_keda_columns_without_any_aws_credentials(ballast):
    ran = ballast("get", "workloads")
    assert ran.code == 0
    assert ran.lines[0].split() == ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "READY", "ACTIVE",
                                    "PAUSED", "TRIGGERS", "AGE"]
    rows = ran.rows()
    assert {f"photos-{op}" for op in PHOTO_OPS} <= set(rows)
    assert (rows["photos-thumbnail"]["TRIGGERS"], rows["photos-thumbnail"]["PAUSED"]) == ("aws-sqs-queue", "False")
    assert rows["photos-thumbnail"]["TARGETS"].endswith("/5 (backlog/replica)")


def test_global_flags_work_before_and_after_the_subcommand(ballast, runtime):
    before = ballast("--endpoint", runtime.api_url, "-n", "default", "get", "workloads", "-o", "name", BALLAST_API_URL="")
    after = ballast("get", "workloads", "-o", "name", "-n", "default", "--endpoint", runtime.api_url, BALLAST_API_URL="")
    assert before.code == after.code == 0 and before.out == after.out
    assert "workload.ballast.io/photos-thumbnail" in before.lines


def test_get_output_formats(ballast):
    one = json.loads(ballast("get", "workload", "photos-thumbnail", "-o", "json").out)
    assert one["spec"]["queue"]["name"] == "ballast-dev-thumbnail"
    listed = yaml.safe_load(ballast("get", "wl", "-l", "op=grayscale", "-o", "yaml").out)
    assert [i["metadata"]["name"] for i in listed["items"]] == ["photos-grayscale"]
    template = '{range .items[*]}{.metadata.name}={.spec.maxReplicas}{"\\n"}{end}'
    assert "photos-watermark=4" in ballast("get", "workloads", "-o", f"jsonpath={template}").lines
    wide = ballast("get", "workloads", "-o", "wide", "-l", "app=photos")
    assert wide.lines[0].split()[-4:] == ["DESIRED", "BACKLOG", "NODEPOOLS", "DECISION"] and len(wide.lines) == 4
    assert ballast("get", "workload/photos-grayscale", "-o", "name").out == "workload.ballast.io/photos-grayscale\n"


def test_get_nodepools_shows_desired_ready_booting_and_pending(ballast):
    ran = ballast("get", "nodepools")
    assert ran.code == 0 and ran.lines[0].split() == ["NAME", "PROVIDER", "INSTANCE", "MIN", "MAX", "DESIRED", "READY",
                                                      "BOOTING", "PENDING", "AGE"]
    assert "AutoScalingGroup/ballast-dev-nodes" in ran.out and "1000m/2048Mi" in ran.out


def test_all_namespaces_adds_the_namespace_column(ballast, tmp_path):
    assert ballast("apply", "-f", write(tmp_path, WORKLOAD.replace("MAX", "2")), "-n", "team-b").code == 0
    ran = ballast("get", "workloads", "-A")
    assert ran.lines[0].split()[0] == "NAMESPACE"
    assert {("team-b", "cli-extra"), ("default", "photos-thumbnail")} <= {tuple(line.split()[:2]) for line in ran.lines[1:]}
    assert "cli-extra" not in ballast("get", "workloads").out
    assert ballast("delete", "workload", "cli-extra", "-n", "team-b").code == 0


def test_apply_creates_then_reports_unchanged_then_configured(ballast, tmp_path):
    path = write(tmp_path, WORKLOAD.replace("MAX", "3"))
    assert (ballast("apply", "-f", path).out, ballast("apply", "-f", path).out) == (
        "workload.ballast.io/cli-extra created\n", "workload.ballast.io/cli-extra unchanged\n")
    path = write(tmp_path, WORKLOAD.replace("MAX", "5"))
    differs = ballast("diff", "-f", path)
    assert differs.code == 1 and "-  maxReplicas: 3" in differs.lines and "+  maxReplicas: 5" in differs.lines
    assert ballast("apply", "-f", path).out == "workload.ballast.io/cli-extra configured\n"
    same = ballast("diff", "-f", path)
    assert (same.code, same.out) == (0, "")
    assert ballast("delete", "workload", "cli-extra").out == "workload.ballast.io/cli-extra deleted\n"


def test_apply_names_every_unknown_field_and_broken_rule_and_sends_nothing(ballast, tmp_path):
    bad = WORKLOAD.replace("MAX", "0").replace("minReplicas: 0", "minReplicas: 0\n  maxReplica: 3\n  colldown: 5")
    ran = ballast("apply", "-f", write(tmp_path, bad))
    assert ran.code == 2
    for field in ("unknown field: spec.maxReplica", "unknown field: spec.colldown", "spec.maxReplicas"):
        assert field in ran.err
    assert ballast("get", "workload", "cli-extra").code == 1  # nothing was created


def test_apply_of_an_hpa_prints_the_translation_and_get_writes_it_back(ballast, tmp_path):
    ran = ballast("apply", "-f", str(FIXTURES / "hpa/behavior.yaml"))
    assert ran.code == 0, ran.err
    assert ran.lines[0] == "HorizontalPodAutoscaler/api → Workload/api:"
    assert "  spec.behavior → spec.behavior (verbatim)" in ran.lines and ran.lines[-1] == "workload.ballast.io/api created"
    stored = json.loads(ballast("get", "workload", "api", "-o", "json").out)
    assert stored["spec"]["target"] == {"kind": "Deployment", "cluster": "ballast-dev", "namespace": "shop", "name": "api",
                                        "launchType": "FARGATE"}
    assert json.loads(stored["metadata"]["annotations"]["ballast.io/original"])["kind"] == "HorizontalPodAutoscaler"
    back = yaml.safe_load(ballast("get", "workload", "api", "-o", "hpa").out)
    original = yaml.safe_load((FIXTURES / "hpa/behavior.yaml").read_text())
    assert back["spec"]["behavior"]["scaleDown"] == original["spec"]["behavior"]["scaleDown"]
    assert back["spec"]["metrics"] == original["spec"]["metrics"] and back["metadata"]["namespace"] == "shop"
    keda = ballast("get", "workload", "api", "-o", "scaledobject")
    assert keda.code == 0 and yaml.safe_load(keda.out)["spec"]["triggers"][0]["type"] == "memory"
    assert ballast("delete", "-f", str(FIXTURES / "hpa/behavior.yaml")).out == "workload.ballast.io/api deleted\n"


def test_apply_of_a_scaledobject_against_the_runtimes_region(ballast):
    ran = ballast("apply", "-f", str(FIXTURES / "scaledobject/sqs-pod-identity.yaml"))
    assert ran.code == 0, ran.err
    assert "  note: spec.triggers[0].metadata.identityOwner: Ballast reads metrics with its own IAM role" in ran.lines
    spec = json.loads(ballast("get", "wl", "orders-consumer", "-o", "json").out)["spec"]
    assert spec["queue"] == {"name": "orders", "scaleOnDelayed": True} and spec["cooldownSeconds"] == 120
    # KEDA's example queue is in eu-west-1; this controller reads us-east-1: refused, not silently unreadable.
    refused = ballast("apply", "-f", str(FIXTURES / "scaledobject/sqs.yaml"))
    assert refused.code == 2 and "spec.triggers[0].metadata.awsRegion" in refused.err
    assert ballast("delete", "wl", "orders-consumer").code == 0


def test_apply_dry_run_server_validates_and_writes_nothing(ballast):
    ran = ballast("apply", "-f", str(FIXTURES / "hpa/php-apache.yaml"), "--dry-run=server")
    assert ran.code == 0 and ran.lines[-1] == "workload.ballast.io/php-apache created (server dry run)"
    assert ballast("get", "wl", "php-apache").code == 1


# Translations of the settings the decision core follows (tolerance, Pods/Object/ContainerResource metrics, idle count,
# pause annotations, in-flight messages left out), by the Workload each becomes.
SETTINGS = {"hpa/multiple-metrics-cloudwatch.yaml": "php-apache", "hpa/queue-age.yaml": "ingest",
            "hpa/container-resource-ecs.json": "api", "hpa/tolerance-blog.yaml": "my-app", "scaledobject/idle.yaml": "render",
            "scaledobject/cpu-container.yaml": "cpu-scaledobject", "scaledobject/paused-scale-in.yaml": "batch",
            "scaledobject/in-flight-off.yaml": "mailer"}


def test_apply_dry_run_server_takes_the_settings_the_decision_core_follows(ballast, tmp_path):
    for name in SETTINGS:
        shutil.copy(FIXTURES / name, tmp_path / name.replace("/", "-"))
    ran = ballast("apply", "-f", str(tmp_path), "--dry-run=server")
    assert ran.code == 0, ran.err
    assert sorted(line for line in ran.lines if line.startswith("workload.ballast.io/")) == \
        sorted(f"workload.ballast.io/{workload} created (server dry run)" for workload in SETTINGS.values())
    assert "  spec.behavior.scaleDown.tolerance → spec.behavior.scaleDown.tolerance: 0.05 (Kubernetes 1.33's " \
           "HPAConfigurableTolerance)" in ran.lines
    assert all(ballast("get", "wl", workload).code == 1 for workload in ("render", "batch"))  # nothing written


def test_patch_scale_and_describe(ballast, tmp_path):
    ballast("apply", "-f", write(tmp_path, WORKLOAD.replace("MAX", "4")))
    assert ballast("patch", "wl", "cli-extra", "-p", '{"spec": {"maxReplicas": 6}}').out == "workload.ballast.io/cli-extra patched\n"
    assert ballast("patch", "wl/cli-extra", "-p", '{"spec": {"maxReplicas": 6}}').out.endswith("patched (no change)\n")
    assert ballast("patch", "wl", "cli-extra", "-p", "[1]").code == 2
    assert "scaled to 2" in ballast("scale", "workload", "cli-extra", "--replicas", "2").out
    assert json.loads(ballast("get", "wl", "cli-extra", "-o", "json").out)["spec"]["replicas"] == 2
    assert ballast("get", "wl", "cli-extra").rows()["cli-extra"]["PAUSED"] == "True"
    described = ballast("describe", "workload", "cli-extra").out
    for heading in ("Name:", "Reference:", "Queue:", "Metrics:", "Max replicas:       6", "Paused at:          2",
                    "Behavior scaleDown:", "Decision:", "Conditions:", "Events:"):
        assert heading in described
    assert ballast("scale", "workload", "cli-extra", "--auto").code == 0
    assert json.loads(ballast("get", "wl", "cli-extra", "-o", "json").out)["spec"].get("replicas") is None
    ballast("delete", "workload", "cli-extra")


def test_edit_replaces_what_the_editor_saved_and_refuses_a_stale_edit(ballast, tmp_path):
    ballast("apply", "-f", write(tmp_path, WORKLOAD.replace("MAX", "4")))
    editor = tmp_path / "editor.sh"
    editor.write_text("#!/bin/sh\nsed -i 's/maxReplicas: 4/maxReplicas: 9/' \"$1\"\n")
    editor.chmod(0o755)
    assert ballast("edit", "workload", "cli-extra", EDITOR=str(editor)).out == "workload.ballast.io/cli-extra edited\n"
    assert json.loads(ballast("get", "wl", "cli-extra", "-o", "json").out)["spec"]["maxReplicas"] == 9
    assert ballast("edit", "workload", "cli-extra", EDITOR="true").out == "Edit cancelled, no changes made.\n"
    # Someone else writes while the editor is open: the edit is refused, and kept.
    racing = tmp_path / "racing.sh"
    racing.write_text(f"#!/bin/sh\n{sys.executable} -m ballast patch wl cli-extra -p '{{\"spec\": {{\"maxReplicas\": 7}}}}' >/dev/null\n"
                      "sed -i 's/maxReplicas: 9/maxReplicas: 8/' \"$1\"\n")
    racing.chmod(0o755)
    ran = ballast("edit", "workload", "cli-extra", EDITOR=str(racing))
    assert ran.code == 1 and "changed since it was opened" in ran.err and "saved in" in ran.err
    assert json.loads(ballast("get", "wl", "cli-extra", "-o", "json").out)["spec"]["maxReplicas"] == 7
    ballast("delete", "workload", "cli-extra")


def test_watch_prints_a_row_on_each_change_until_ctrl_c(env, tmp_path):
    errors = tmp_path / "watch.err"  # a file, not a pipe: nothing the watcher says can fill a buffer and block it
    watcher = subprocess.Popen([sys.executable, "-m", "ballast", "get", "workload", "photos-grayscale", "-w", "-o", "wide",
                                "--watch-interval", "0.3"], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                               stderr=errors.open("w"), text=True,
                               # A shell's background job ignores SIGINT; a terminal's foreground job does not.
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        header, first = _line(watcher, 60), _line(watcher, 60)  # generous: a loaded machine starts processes slowly
        assert header.split()[0] == "NAME" and first.split()[0] == "photos-grayscale"
        # Paused at its current 0: the next tick's decision (ScalingDisabled) is a change of the row.
        run_ballast("scale", "workload", "photos-grayscale", "--replicas", "0", env=env)
        _nudge("photos-grayscale")  # that tick now, as an upload would make it, rather than within the minute
        deadline = time.monotonic() + 60  # the nudged tick, else the scheduled one within the minute
        changed = _line(watcher, 60)
        while "autoscaling is paused" not in changed and time.monotonic() < deadline:  # the runtime's first tick may come first
            changed = _line(watcher, deadline - time.monotonic())
        assert changed.split()[0] == "photos-grayscale" and "autoscaling is paused" in changed
    finally:
        run_ballast("scale", "workload", "photos-grayscale", "--auto", env=env)
        watcher.send_signal(signal.SIGINT)
        try:
            watcher.wait(timeout=30)  # generous for a loaded machine; a hang is still a failure
        finally:
            if watcher.poll() is None:
                watcher.kill()  # a failed test leaves no watcher polling behind it
    err = errors.read_text()
    assert watcher.returncode == 0 and "Traceback" not in err, err


def _line(process, timeout_s):
    """The next line the process prints, read by a thread of its own: select() would not see lines already buffered."""
    if process.pid not in _LINES:  # one reader per process: a second would take lines from the first's queue
        _LINES[process.pid] = _reader(process)
    lines = _LINES[process.pid]
    try:
        return lines.get(timeout=max(timeout_s, 0.1))
    except queue.Empty:
        raise AssertionError(f"no line within {timeout_s:.0f}s (exit {process.poll()})") from None


_LINES: dict = {}


def _reader(process):
    lines = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    return lines


def _nudge(name):
    """What ingest sends when work lands for a workload at zero: the controller ticks at once."""
    from datetime import datetime, timezone

    from chalicelib import config, wiring

    wiring.queues().send(config.NUDGE_QUEUE, {"workload": name, "namespace": "default",
                                              "at": datetime.now(timezone.utc).isoformat(), "reason": "test"})


def test_events_and_top(ballast):
    events = ballast("get", "events")
    assert events.code == 0 and (events.out == "No events.\n" or events.lines[0].split()[:3] == ["LAST", "SEEN", "TYPE"])
    assert ballast("events", "--for", "Workload/never-existed").out == "No events.\n"
    top = ballast("top", "workloads")
    assert top.code == 0 and top.lines[0].split()[:2] == ["NAME", "READY/REPLICAS"] and "photos-thumbnail" in top.out
    assert ballast("logs", "workload", "photos-thumbnail", "--since", "bad").code == 2
    assert ballast("logs", "workload", "photos-thumbnail", "--file", "/nonexistent/lambda.log").code == 2


def test_upload_counts_honestly_and_download_takes_any_name_the_api_does(ballast, runtime, tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    names = ["plain.jpg", "with space.png", "plus+sign.gif", "ünïcode.webp", "what?.tiff", "hash#tag.bmp", "100%.jpeg"]
    for index, name in enumerate(names):
        Image.new("RGB", (32, 24), (index * 30, 10, 10)).save(photos / name)
    (photos / "notes.txt").write_text("not a photo")
    (photos / "empty.jpg").write_bytes(b"")
    ran = ballast("upload", str(photos), "--op", "thumbnail", "--quiet")
    assert ran.code == 1, ran.out + ran.err
    assert ran.lines[0] == f"uploaded {len(names)} of {len(names) + 1} photos to thumbnail; skipped 1 other files"
    assert any("skipped" in line and "notes.txt" in line for line in ran.lines)
    assert any("failed" in line and "empty.jpg" in line and "empty file" in line for line in ran.lines)
    assert "1 of 8 uploads failed" in ran.err
    deadline = time.monotonic() + 20  # the S3 notification reaches ingest through the pump, a moment later
    while not set(names) <= {j["name"] for j in runtime.api.all_items("/images")} and time.monotonic() < deadline:
        time.sleep(0.2)
    out = tmp_path / "dl"
    ran = ballast("download", *[f"thumbnail/{n}" for n in names], "--original", "-d", str(out))
    assert ran.code == 0, ran.err
    for name in names:
        assert (out / "input" / "thumbnail" / name).read_bytes() == (photos / name).read_bytes()
    # A job the workers failed: its download says so and exits 1.
    _fail_job(runtime, "thumbnail", "plain.jpg", "not a supported image")
    failed = ballast("download", "thumbnail/plain.jpg", "-d", str(out))
    assert failed.code == 1 and "the job failed (not a supported image)" in failed.err
    assert ballast("rm", *[f"thumbnail/{n}" for n in names]).out.count("deleted") == len(names)
    # The uploads woke photos-thumbnail: the controller's lines about it are in the runtime's lambda.log.
    deadline, logs = time.monotonic() + 45, None
    while time.monotonic() < deadline and (logs is None or " scaled " not in logs.out):
        time.sleep(1)
        logs = ballast("logs", "workload", "photos-thumbnail", "--since", "10m")
    assert logs.code == 0 and " scaled " in logs.out and "to=" in logs.out, logs.out


def _fail_job(runtime, op, name, reason):
    from chalicelib import wiring

    store = wiring.store()
    image = next(i for i in runtime.api.all_items("/images") if i["name"] == name and i["op"] == op)
    job = store.get("Job", "u-local", image["jobId"])
    store.update_status("Job", "u-local", image["jobId"], {**job["status"], "phase": "Failed", "reason": reason})


def test_the_decision_names_an_unreadable_target_and_capacity_holds():
    item = {"spec": {"nodePools": ["local"]}, "status": {"conditions": [
        {"type": "AbleToScale", "status": "False", "reason": "FailedGetScale", "message": "EKS DescribeCluster x: no cluster"}]}}
    assert tables.decision(item, {}) == "FailedGetScale: EKS DescribeCluster x: no cluster"
    held = {"spec": {"nodePools": ["local"]}, "status": {"reason": "MaxNodesReached", "desiredReplicas": 3, "pendingReplicas": 1}}
    assert tables.decision(held, {}) == "held at 3 by pool capacity"
    booting = {"spec": {"nodePools": ["local"]}, "status": {"reason": "BacklogAboveTarget", "message": "m", "pendingReplicas": 2}}
    pools = {"local": {"status": {"currentNodes": 3, "readyNodes": 1}}}
    assert tables.decision(booting, pools) == "2 pending: waiting for 2 nodes to boot"
    twice = {"spec": {}, "status": {"reason": "ScalerNotActive", "message": "ScalerNotActive: backlog 0"}}
    assert tables.decision(twice, {}) == "ScalerNotActive: backlog 0"
