"""Every way `ballast` can be misused or let down ends in one line and an exit code: 2 for usage, 1 for failures."""
import http.server
import json
import re
import socket
import subprocess
import sys
import threading

import pytest

from ballast import cli, photos
from chalicelib import config
from tests.ballast.cli import ROOT, ballast, clean_env


class Answer(http.server.BaseHTTPRequestHandler):
    """A server that is not Ballast: the test sets what it answers; `asked` keeps the paths requested."""
    code, body, kind = 200, b"", "text/html"
    asked: list = []

    def do_GET(self):
        self.asked.append(self.path)
        self.send_response(self.code)
        self.send_header("Content-Type", self.kind)
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    do_POST = do_PUT = do_GET

    def log_message(self, *args):
        return None


@pytest.fixture
def server():
    made = []

    def start(code, body, kind="text/html"):
        handler = type("Handler", (Answer,), {"code": code, "body": body, "kind": kind, "asked": []})
        httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        made.append(httpd)
        start.asked = handler.asked
        return f"http://127.0.0.1:{httpd.server_address[1]}"
    yield start
    for httpd in made:
        httpd.shutdown()


@pytest.fixture
def silent():
    """A server that accepts connections and never answers."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield f"http://127.0.0.1:{listener.getsockname()[1]}"
    listener.close()


def closed_port() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def one_line_error(ran, code, *words):
    assert ran.code == code, (ran.out, ran.err)
    assert len(ran.err.strip().splitlines()) == 1 and ran.err.startswith("error: "), ran.err
    for word in words:
        assert word in ran.err, ran.err


def test_a_missing_file_for_f(tmp_path):
    one_line_error(ballast("apply", "-f", str(tmp_path / "nope.yaml"), "--dry-run=client"), 2, "nope.yaml", "no such file")


def test_an_endpoint_that_is_not_a_url():
    one_line_error(ballast("--endpoint", "not-a-url", "get", "workloads"), 2, "--endpoint", "not-a-url")


def test_an_unknown_aws_profile(server):
    url = server(200, b"{}", "application/json")
    one_line_error(ballast("get", "workloads", "--endpoint", url, env=clean_env(AWS_PROFILE="nobody")), 2, "nobody")


def test_profile_before_the_subcommand_is_a_flag_not_a_subcommand(server):
    url = server(200, b"{}", "application/json")
    one_line_error(ballast("--profile", "foo", "get", "workloads", "--endpoint", url), 2, "'foo'", "profile")


def test_no_credentials_for_a_deployed_api_says_how_to_give_them():
    # Nothing is sent: the request cannot be signed, which is found before any connection.
    ran = ballast("get", "workloads", "--endpoint", "https://abc123.execute-api.eu-west-1.amazonaws.com/api")
    one_line_error(ran, 2, "AWS_PROFILE", "credentials")


def test_output_piped_into_a_reader_that_stops_early():
    reader = subprocess.Popen([sys.executable, "-m", "ballast", "completion", "bash"], cwd=ROOT, env=clean_env(),
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    reader.stdout.close()  # as `| head` does once it has its lines
    err = reader.stderr.read().decode()
    assert reader.wait(30) == cli.BROKEN_PIPE_EXIT and "Traceback" not in err and err == ""


@pytest.mark.parametrize("code, body, words", [
    pytest.param(200, b"<html><title>Welcome to nginx!</title></html>", ("not JSON", "Ballast"), id="html-200"),
    pytest.param(404, b"<html><head><title>404 Not Found</title></head></html>", ("404 Not Found", "--endpoint"), id="html-404"),
    pytest.param(502, b"<html><head><title>502 Bad Gateway</title></head><body>\n<h1>oops</h1>\n</body></html>",
                 ("502 Bad Gateway",), id="5xx-html"),
])
def test_a_server_that_is_not_ballast(server, code, body, words):
    one_line_error(ballast("get", "workloads", "--endpoint", server(code, body)), 1, *words)


def test_the_api_down():
    one_line_error(ballast("get", "workloads", "--endpoint", closed_port()), 1, "cannot reach", "ballast up")


def test_the_api_timing_out(silent):
    one_line_error(ballast("get", "workloads", "--endpoint", silent, "--request-timeout", "1"), 1, "no answer within 1s")


@pytest.mark.parametrize("argv, words", [
    pytest.param(("get",), ("resource",), id="missing-argument"),
    pytest.param(("get", "widgets", "--endpoint", "http://127.0.0.1:9"), ("widgets", "workloads"), id="unknown-resource"),
    pytest.param(("frobnicate",), ("frobnicate",), id="unknown-command"),
    pytest.param(("get", "workloads", "--bogus"), ("--bogus",), id="unknown-flag"),
    pytest.param(("get", "workloads", "-o", "xml", "--endpoint", "http://127.0.0.1:9"), ("-o",), id="unknown-format"),
    pytest.param(("get", "workloads"), ("BALLAST_API_URL",), id="no-endpoint"),
    pytest.param(("upload", ".", "--op", "sepia", "--endpoint", "http://127.0.0.1:9"), ("--op", "grayscale"), id="bad-op"),
    pytest.param(("scale", "workload", "x", "--endpoint", "http://127.0.0.1:9"), ("--replicas",), id="scale-without-count"),
    pytest.param(("apply", "-f", "-", "--dry-run=sideways"), ("--dry-run",), id="bad-dry-run"),
])
def test_usage_mistakes_are_one_line_and_exit_2(argv, words):
    one_line_error(ballast(*argv, stdin=""), 2, *words)


def test_bad_op_is_refused_before_any_request(server, tmp_path):
    (tmp_path / "a.jpg").write_bytes(b"x")
    url = server(500, b"")
    ran = ballast("upload", str(tmp_path), "--op", "sepia", "--endpoint", url)
    one_line_error(ran, 2, "--op")
    assert server.asked == []


def test_every_subcommand_help_lists_its_flags_and_an_example():
    root = cli.parser()
    commands = next(a for a in root._actions if a.dest == "command").choices
    for name, sub in commands.items():
        text = sub.format_help()
        assert re.search(r"^\s+ballast \w", text, re.M) and "--endpoint" in text and "-n NAMESPACE" in text, name
    ran = ballast("get", "--help")
    assert ran.code == 0 and "workloads (wl)" in ran.out and "-o FORMAT" in ran.out and "examples:" in ran.out


@pytest.mark.parametrize("shell, marker", [("bash", "complete -o"), ("zsh", "#compdef ballast")])
def test_completion_scripts_know_the_subcommands(shell, marker):
    ran = ballast("completion", shell)
    assert ran.code == 0 and marker in ran.out and "describe" in ran.out and "upload" in ran.out


def test_the_clis_operations_are_the_pipelines():
    assert photos.OPERATIONS == tuple(sorted(config.OPERATIONS))


def test_apply_dry_run_client_needs_no_server(tmp_path):
    ran = ballast("apply", "-f", str(ROOT / "tests/ballast/fixtures/hpa/php-apache.yaml"), "--dry-run=client", "--cluster", "prod")
    assert ran.code == 0, ran.err
    assert "# HorizontalPodAutoscaler/php-apache → Workload/php-apache:" in ran.out and "kind: Workload" in ran.out
    import yaml

    (workload,) = [d for d in yaml.safe_load_all(ran.out) if d]
    assert workload["spec"]["target"] == {"kind": "Deployment", "cluster": "prod", "namespace": "default", "name": "php-apache"}


def test_a_refused_manifest_lists_every_problem_and_applies_nothing(tmp_path):
    full_spec = (ROOT / "tests/ballast/fixtures/scaledobject/full-spec.yaml").read_text()
    manifest = tmp_path / "full-spec.yaml"
    manifest.write_text(full_spec.replace("  pollingInterval: 30\n", "  pollingInterval: 30\n  initialCooldownPeriod: 120\n"))
    ran = ballast("apply", "-f", str(manifest), "--dry-run=client", "--cluster", "prod")
    assert ran.code == 2
    assert "refused: spec.fallback" in ran.err and "refused: spec.initialCooldownPeriod" in ran.err
    assert ran.err.strip().splitlines()[-1].startswith("error: nothing applied: 2 problems")


def test_a_manifest_without_a_name_is_a_local_error(tmp_path):
    manifest = tmp_path / "x.json"
    manifest.write_text(json.dumps({"kind": "Workload", "spec": {"maxReplicas": 1}}))
    ran = ballast("apply", "-f", str(manifest), "--endpoint", closed_port())
    assert ran.code == 2 and "metadata.name" in ran.err and "/workloads/None" not in ran.err
