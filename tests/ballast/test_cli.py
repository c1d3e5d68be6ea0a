"""The `ballast` command line against the local runtime's API server (chalice local on moto), and its SigV4 signing."""
import http.server
import json
import threading
import time

import pytest

from ballast import cli, tables
from ballast.api_client import Api, ApiError

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


@pytest.fixture
def ballast(runtime, capsys):
    def run(*argv):
        code = cli.main(["--endpoint", runtime.api_url, *argv])
        out, err = capsys.readouterr()
        # The controller's tick runs in this process and prints its logs and EMF metrics, as Lambda prints to CloudWatch.
        out = "".join(line for line in out.splitlines(keepends=True) if not line.startswith('{"'))
        return code, out, err
    return run


def test_get_workloads_lists_the_photo_workloads_registered_through_the_api(ballast):
    code, out, _ = ballast("get", "workloads")
    assert code == 0
    assert out.splitlines()[0].split()[:3] == ["NAME", "REFERENCE", "TARGETS"]
    assert {f"photos-{op}" for op in PHOTO_OPS} <= {line.split()[0] for line in out.splitlines()[1:]}


def test_get_nodepools_shows_the_local_auto_scaling_group(ballast):
    code, out, _ = ballast("get", "nodepools")
    assert code == 0
    assert "AutoScalingGroup/ballast-dev-nodes" in out
    assert "1000m/2048Mi" in out


def test_get_with_output_json_gives_the_api_document(ballast):
    code, out, _ = ballast("get", "workload", "photos-thumbnail", "-o", "json")
    assert code == 0
    assert json.loads(out)["spec"]["queue"]["name"] == "ballast-dev-thumbnail"


def test_describe_workload_shows_spec_status_conditions_and_events(ballast):
    code, out, _ = ballast("describe", "workload", "photos-grayscale")
    assert code == 0
    for heading in ("Name:", "Reference:", "Queue:", "Metrics:", "Min replicas:", "Max replicas:", "Behavior scaleDown:",
                    "Replicas:", "Decision:", "Conditions:", "Events:"):
        assert heading in out
    assert "ECSService/ballast-dev-grayscale" in out


def test_targets_show_what_each_metric_read_against_its_target():
    spec = {"metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 5}},
                        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}},
                        {"type": "External", "external": {"metric": {"namespace": "App", "name": "Lag"},
                                                          "target": {"type": "AverageValue", "averageValue": 100}}},
                        {"type": "Deadline", "deadline": {"seconds": 600}}]}
    status = {"currentMetrics": [
        {"type": "Backlog", "backlog": {"queue": "q", "current": {"value": 30, "averageValue": 7.5}}},
        {"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 64, "averageValue": 640}}},
        {"type": "External", "external": {"metric": {"name": "Lag"}, "current": {}}},
        {"type": "Deadline", "deadline": {"current": {"value": 30}}}]}
    assert tables.metric_summaries(spec, status) == ["7.5/5 (backlog/replica)", "cpu: 64%/70%", "Lag: <unknown>/100 (avg)",
                                                   "30 queued/drain within 600s"]
    # Metrics written for an older spec do not line up with the current one: nothing is shown rather than a wrong value.
    assert tables.metric_summaries(spec, {"currentMetrics": status["currentMetrics"][:1]})[0] == "<unknown>/5 (backlog/replica)"


def test_describe_of_a_missing_workload_is_a_404_with_the_servers_message(ballast):
    code, _, err = ballast("describe", "workload", "nope")
    assert code == 1
    assert "404" in err and "nope" in err


def write(tmp_path, text, name="manifest.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


WORKLOAD = """
apiVersion: ballast.io/v1
kind: Workload
metadata: {name: cli-extra}
spec:
  target: {kind: ECSService, cluster: ballast-dev, service: cli-extra}
  queue: {name: ballast-dev-thumbnail}
  minReplicas: 0
  maxReplicas: MAX
"""


def test_apply_creates_then_reports_unchanged_then_configured(ballast, tmp_path):
    path = write(tmp_path, WORKLOAD.replace("MAX", "3"))
    assert ballast("apply", "-f", path)[:2] == (0, "workload.ballast.io/cli-extra created\n")
    assert ballast("apply", "-f", path)[:2] == (0, "workload.ballast.io/cli-extra unchanged\n")
    path = write(tmp_path, WORKLOAD.replace("MAX", "5"))
    assert ballast("apply", "-f", path)[:2] == (0, "workload.ballast.io/cli-extra configured\n")
    assert json.loads(ballast("get", "workload", "cli-extra", "-o", "json")[1])["spec"]["maxReplicas"] == 5
    assert ballast("delete", "workload", "cli-extra")[:2] == (0, "workload.ballast.io/cli-extra deleted\n")


def test_apply_of_an_invalid_spec_names_the_field_from_the_api_400(ballast, tmp_path):
    code, _, err = ballast("apply", "-f", write(tmp_path, WORKLOAD.replace("MAX", "0")))
    assert code == 1
    assert "spec.maxReplicas" in err and "400" in err


def test_apply_reads_json_and_multi_document_yaml(ballast, tmp_path):
    manifest = {"kind": "NodePool", "metadata": {"name": "cli-pool"},
                "spec": {"provider": {"kind": "Local"}, "instance": {"cpuMillicores": 2000, "memoryMiB": 4096}, "maxNodes": 1}}
    code, out, _ = ballast("apply", "-f", write(tmp_path, json.dumps(manifest), "pool.json"))
    assert (code, out) == (0, "nodepool.ballast.io/cli-pool created\n")
    both = "---\n".join([WORKLOAD.replace("MAX", "2"), json.dumps(manifest)])
    code, out, _ = ballast("apply", "-f", write(tmp_path, both))
    assert code == 0 and out.splitlines() == ["workload.ballast.io/cli-extra created", "nodepool.ballast.io/cli-pool unchanged"]
    assert ballast("delete", "-f", write(tmp_path, both))[0] == 0


def test_apply_of_malformed_yaml_says_where(ballast, tmp_path):
    code, _, err = ballast("apply", "-f", write(tmp_path, "kind: Workload\nmetadata: {name: [x\n"))
    assert code == 2
    assert "line" in err and "not valid YAML" in err


def test_scale_pauses_autoscaling_at_the_count_and_auto_resumes_it(ballast, tmp_path):
    ballast("apply", "-f", write(tmp_path, WORKLOAD.replace("MAX", "4")))
    code, out, _ = ballast("scale", "workload", "cli-extra", "--replicas", "2")
    assert code == 0 and "scaled to 2" in out
    assert json.loads(ballast("get", "workload", "cli-extra", "-o", "json")[1])["spec"]["replicas"] == 2
    assert ballast("scale", "workload", "cli-extra", "--auto")[0] == 0
    assert json.loads(ballast("get", "workload", "cli-extra", "-o", "json")[1])["spec"].get("replicas") is None
    ballast("delete", "workload", "cli-extra")


def test_scale_needs_exactly_one_of_replicas_and_auto(ballast):
    assert ballast("scale", "workload", "photos-grayscale")[0] == 2


def test_events_without_any_is_a_plain_message(ballast):
    code, out, _ = ballast("events", "--for", "Workload/never-existed")
    assert (code, out) == (0, "No events.\n")


def test_upload_get_jobs_download_and_rm(ballast, tmp_path):
    from PIL import Image

    photos = tmp_path / "photos"
    photos.mkdir()
    for index in range(3):
        Image.new("RGB", (64, 48), (index * 80, 10, 10)).save(photos / f"p{index}.jpg")
    code, out, _ = ballast("upload", str(photos), "--op", "thumbnail", "--quiet")
    assert (code, out) == (0, "uploaded 3 of 3 images to thumbnail\n")
    deadline = time.monotonic() + 15  # the S3 notification reaches ingest through the pump, a moment later
    while not {"p0.jpg", "p1.jpg", "p2.jpg"} <= set(ballast("get", "jobs")[1].split()) and time.monotonic() < deadline:
        time.sleep(0.2)
    code, out, _ = ballast("get", "jobs")
    assert code == 0 and {"p0.jpg", "p1.jpg", "p2.jpg"} <= set(out.split())
    code, out, _ = ballast("download", "thumbnail/p1.jpg", "--original", "-d", str(tmp_path / "dl"))
    assert code == 0
    assert (tmp_path / "dl" / "input" / "thumbnail" / "p1.jpg").read_bytes() == (photos / "p1.jpg").read_bytes()
    code, out, _ = ballast("rm", "thumbnail/p0.jpg", "thumbnail/p1.jpg", "thumbnail/p2.jpg")
    assert code == 0 and out.count("deleted") == 3
    assert "p1.jpg" not in ballast("get", "jobs")[1]


def test_without_an_endpoint_the_cli_says_how_to_get_one(monkeypatch, capsys):
    monkeypatch.delenv("BALLAST_API_URL", raising=False)
    assert cli.main(["get", "workloads"]) == 2
    assert "BALLAST_API_URL" in capsys.readouterr().err


def test_requests_are_sigv4_signed_for_execute_api():
    seen = {}

    class Recorder(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            seen.update(self.headers)
            body = json.dumps({"kind": "Status", "reason": "Forbidden", "message": "denied", "code": 403}).encode()
            self.send_response(403)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):
            return None

    server = http.server.HTTPServer(("127.0.0.1", 0), Recorder)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with pytest.raises(ApiError) as raised:
            Api(f"http://127.0.0.1:{server.server_address[1]}", "eu-west-1").get("/workloads")
    finally:
        server.shutdown()
    assert raised.value.code == 403 and raised.value.reason == "Forbidden"
    assert seen["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=")
    assert "/eu-west-1/execute-api/aws4_request" in seen["Authorization"]
    assert "X-Amz-Date" in seen
