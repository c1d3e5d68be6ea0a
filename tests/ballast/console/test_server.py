"""The console's proxy: what it forwards is SigV4-signed as the CLI signs, what it refuses never reaches the API, and
its page is served whole; against a recording stand-in for the API, so each answer is the one a test chose."""
import copy
import http.client
import http.server
import json
import re
import threading
from pathlib import Path

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from ballast.api_client import Api
from ballast.console import guard, manifests
from ballast.console.server import MAX_BODY_BYTES, STATIC, Console

KEY, SECRET, TOKEN, REGION = "AKIDCONSOLETEST", "console-secret", "console-session-token", "eu-west-1"


class Recorder(http.server.BaseHTTPRequestHandler):
    """The API's stand-in: records each request whole and answers with the server's `answer` (code, JSON body)."""

    def _record(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.server.seen.append({"method": self.command, "path": self.path, "headers": dict(self.headers), "body": body})
        code, answer = self.server.answers.pop(0) if self.server.answers else self.server.answer
        raw = json.dumps(answer).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    do_GET = do_PUT = do_POST = do_PATCH = do_DELETE = _record

    def log_message(self, *args):
        return None


@pytest.fixture
def upstream():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    server.seen, server.answer, server.answers = [], (200, {"kind": "WorkloadList", "items": []}), []
    threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def console(upstream):
    session = boto3.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET, aws_session_token=TOKEN, region_name=REGION)
    served = Console(Api(f"http://127.0.0.1:{upstream.server_address[1]}", REGION, session=session), namespace="team").start()
    yield served
    served.stop()


def send(console, method, path, body=None, headers=None, session=True):
    """(status, headers, body) of one request to the console, as its own page in a browser would send it."""
    connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
    sent = {"Host": f"127.0.0.1:{console.port}", **(headers or {})}
    if session:
        sent["Cookie"] = f"{guard.cookie_name(console.port)}={console.token}"
    connection.request(method, path, body=body, headers={k: v for k, v in sent.items() if v is not None})
    response = connection.getresponse()
    answer = (response.status, dict(response.getheaders()), response.read())
    connection.close()
    return answer


def status_of(raw):
    body = json.loads(raw)
    assert body["kind"] == "Status"
    return body


# ---- signing ---------------------------------------------------------------------------------------------------------


def signature_is_valid(request) -> bool:
    """Recomputes the SigV4 signature over exactly what the API received, with the headers the signer says it signed."""
    authorization = request["headers"]["Authorization"]
    signed = re.search(r"SignedHeaders=([^,]+)", authorization)[1].split(";")
    headers = {name: value for name, value in request["headers"].items() if name.lower() in signed}
    host = request["headers"]["Host"]
    replayed = AWSRequest(method=request["method"], url=f"http://{host}{request['path']}", data=request["body"], headers=headers)
    replayed.context["timestamp"] = request["headers"]["X-Amz-Date"]
    signer = SigV4Auth(Credentials(KEY, SECRET, TOKEN), "execute-api", REGION)
    expected = signer.signature(signer.string_to_sign(replayed, signer.canonical_request(replayed)), replayed)
    return authorization.endswith(f"Signature={expected}")


def test_a_read_is_forwarded_with_its_query_signed_for_execute_api_with_the_users_credentials(console, upstream):
    code, headers, raw = send(console, "GET", "/api/workloads?namespace=team&limit=5")
    assert (code, json.loads(raw)) == (200, upstream.answer[1])
    [request] = upstream.seen
    assert (request["method"], request["path"]) == ("GET", "/workloads?limit=5&namespace=team")
    assert request["headers"]["Authorization"].startswith(f"AWS4-HMAC-SHA256 Credential={KEY}/")
    assert f"/{REGION}/execute-api/aws4_request" in request["headers"]["Authorization"]
    assert request["headers"]["X-Amz-Security-Token"] == TOKEN
    assert signature_is_valid(request)
    assert "Cookie" not in request["headers"]  # the browser's session with the console stays with the console
    assert headers["Cache-Control"] == "no-store"


def test_a_write_is_forwarded_with_its_body_and_type_and_the_signature_covers_the_body(console, upstream):
    patch = b'{"spec": {"replicas": null}}'
    send(console, "PATCH", "/api/workloads/photos-thumbnail", patch, {"Content-Type": "application/merge-patch+json"})
    [request] = upstream.seen
    assert (request["method"], request["body"]) == ("PATCH", patch)
    assert request["headers"]["Content-Type"] == "application/merge-patch+json"
    assert signature_is_valid(request)
    request["body"] = b'{"spec": {"replicas": 0}}'
    assert not signature_is_valid(request)


# ---- what comes back -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("answer, reason, message", [
    pytest.param({"kind": "Status", "reason": "NotFound", "message": "workload x not found", "code": 404}, "NotFound",
                 "workload x not found", id="the-apis-own-status"),
    pytest.param({"message": "The security token included in the request is expired"}, "Error",
                 "The security token included in the request is expired", id="api-gateways-answer"),
])
def test_an_error_answer_reaches_the_page_as_a_status_with_its_code(console, upstream, answer, reason, message):
    upstream.answer = (answer.get("code", 403), answer)
    code, _, raw = send(console, "GET", "/api/workloads/x")
    body = status_of(raw)
    assert (code, body["code"], body["reason"], body["message"]) == (answer.get("code", 403), answer.get("code", 403), reason, message)


def test_an_api_that_does_not_answer_is_a_502_unreachable(upstream):
    console = Console(Api("http://127.0.0.1:9", REGION, session=boto3.Session(aws_access_key_id=KEY, aws_secret_access_key=SECRET))).start()
    try:
        code, _, raw = send(console, "GET", "/api/workloads")
    finally:
        console.stop()
    assert (code, status_of(raw)["reason"]) == (502, "Unreachable")


def test_without_credentials_the_page_is_told_401_no_credentials(upstream, monkeypatch):
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent")
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    console = Console(Api(f"http://127.0.0.1:{upstream.server_address[1]}", REGION, session=boto3.Session())).start()
    try:
        code, _, raw = send(console, "GET", "/api/workloads")
    finally:
        console.stop()
    assert (code, status_of(raw)["reason"]) == (401, "NoCredentials")
    assert upstream.seen == []


# ---- who may use it --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("headers, session, code, reason", [
    pytest.param({}, True, 200, None, id="the-consoles-own-page"),
    pytest.param({"Origin": "http://localhost:{port}", "Host": "localhost:{port}", "Sec-Fetch-Site": "same-origin"}, True, 200, None,
                 id="the-page-opened-as-localhost"),
    pytest.param({"Sec-Fetch-Site": "none"}, True, 200, None, id="typed-into-the-address-bar"),
    pytest.param({"Host": "rebound.example:{port}"}, True, 403, "Forbidden", id="dns-rebinding-host"),
    pytest.param({"Host": "127.0.0.1:1"}, True, 403, "Forbidden", id="another-port-as-host"),
    pytest.param({"Origin": "https://evil.example"}, True, 403, "Forbidden", id="another-sites-origin"),
    pytest.param({"Origin": "http://127.0.0.1:1"}, True, 403, "Forbidden", id="another-local-apps-origin"),
    pytest.param({"Origin": "null"}, True, 403, "Forbidden", id="a-sandboxed-frames-origin"),
    pytest.param({"Sec-Fetch-Site": "cross-site"}, True, 403, "Forbidden", id="a-cross-site-fetch-without-origin"),
    pytest.param({"Sec-Fetch-Site": "same-site"}, True, 403, "Forbidden", id="a-same-site-neighbour"),
    pytest.param({}, False, 401, "NoSession", id="no-session-cookie"),
    pytest.param({"Cookie": "ballast-console-{port}=guessed"}, False, 401, "NoSession", id="a-guessed-token"),
])
def test_only_the_consoles_own_page_with_its_session_reaches_the_api(console, upstream, headers, session, code, reason):
    filled = {k: v.format(port=console.port) for k, v in headers.items()}
    for method, body in (("GET", None), ("DELETE", None), ("POST", b"{}")):
        got, _, raw = send(console, method, "/api/workloads", body, {"Content-Type": "application/json", **filled}, session=session)
        assert got == code, raw
        if reason:
            assert status_of(raw)["reason"] == reason
    assert len(upstream.seen) == (3 if code == 200 else 0)


def test_the_printed_address_gives_the_browser_a_strict_http_only_session_and_drops_the_token(console):
    code, headers, _ = send(console, "GET", f"/?token={console.token}", session=False)
    assert (code, headers["Location"]) == (303, "/")
    cookie = headers["Set-Cookie"]
    assert cookie.startswith(f"{guard.cookie_name(console.port)}={console.token};")
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie
    code, headers, _ = send(console, "GET", "/?token=wrong", session=False)
    assert code == 200 and "Set-Cookie" not in headers


def test_the_page_learns_which_api_and_namespace_it_shows(console, upstream):
    code, _, raw = send(console, "GET", "/console/info")
    assert (code, json.loads(raw)) == (200, {"endpoint": f"http://127.0.0.1:{upstream.server_address[1]}", "namespace": "team"})
    assert send(console, "GET", "/console/info", session=False)[0] == 401


@pytest.mark.parametrize("headers, code", [
    pytest.param({"Content-Length": str(MAX_BODY_BYTES + 1)}, 413, id="larger-than-the-limit"),
    pytest.param({"Transfer-Encoding": "chunked"}, 411, id="without-a-length"),
    pytest.param({"Content-Length": "lots"}, 400, id="a-length-that-is-not-a-number"),
])
def test_a_body_the_console_will_not_read_is_refused_before_the_api(console, upstream, headers, code):
    connection = http.client.HTTPConnection("127.0.0.1", console.port, timeout=10)
    connection.putrequest("POST", "/api/workloads", skip_host=True)
    for name, value in {"Host": f"127.0.0.1:{console.port}", "Cookie": f"{guard.cookie_name(console.port)}={console.token}", **headers}.items():
        connection.putheader(name, value)
    connection.endheaders()
    assert connection.getresponse().status == code
    assert upstream.seen == []


# ---- the page --------------------------------------------------------------------------------------------------------


def test_the_page_and_its_files_are_served_with_their_types_and_a_strict_policy(console):
    code, headers, raw = send(console, "GET", "/", session=False)
    assert code == 200 and headers["Content-Type"].startswith("text/html") and b'<script type="module" src="/static/app.js">' in raw
    assert "script-src 'self'" in headers["Content-Security-Policy"] and "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    code, headers, _ = send(console, "GET", "/static/app.js", session=False)
    assert (code, headers["Content-Type"], headers["X-Content-Type-Options"]) == (200, "text/javascript; charset=utf-8", "nosniff")


@pytest.mark.parametrize("path", ["/static/../server.py", "/static/%2e%2e/server.py", "/static/missing.js", "/server.py", "/static/"])
def test_nothing_outside_the_static_folder_is_served(console, path):
    assert send(console, "GET", path, session=False)[0] == 404


def test_the_consoles_files_are_only_read(console):
    assert send(console, "POST", "/", b"x", session=False)[0] == 405


def test_every_file_the_page_loads_is_in_the_package_and_nothing_comes_from_another_host():
    """index.html's links and each module's imports, followed: a missing module would break the page at load."""
    files = {p.name: p.read_text() for p in Path(str(STATIC)).iterdir()}
    wanted = set(re.findall(r'(?:src|href)="/static/([^"]+)"', files["index.html"]))
    for name, text in files.items():
        if name.endswith(".js"):
            wanted |= set(re.findall(r'from "\./([^"]+)"', text)) | set(re.findall(r'import\("\./([^"]+)"\)', text))
        assert not re.search(r"https?://(?!127\.0\.0\.1|localhost|www\.w3\.org/2000/svg)", text), name
    assert wanted <= set(files), wanted - set(files)


# ---- the spec editor's YAML ------------------------------------------------------------------------------------------

STORED = {"apiVersion": "ballast.io/v1", "kind": "Workload", "status": {"desiredReplicas": 3},
          "metadata": {"name": "w", "namespace": "team", "labels": {}, "resourceVersion": "4", "uid": "u-1", "generation": 2},
          "spec": {"minReplicas": 0, "maxReplicas": 4}}
EDIT = "apiVersion: ballast.io/v1\nkind: Workload\nmetadata:\n  name: w\nspec:\n  minReplicas: 5\n  maxReplicas: 4\n"
LOADED = manifests.fingerprint(STORED)


def moved(**changes):
    """STORED after someone else's write: {"status": ...}, {"spec": ...}, {"resourceVersion": ...}, {"labels": ...}."""
    current = copy.deepcopy(STORED)
    for key, value in changes.items():
        (current["metadata"] if key in ("resourceVersion", "labels") else current)[key] = value
    return current


def edit(console, text=EDIT, loaded=LOADED):
    return send(console, "PUT", "/api/workloads/w?namespace=team", text.encode(), {"Content-Type": "application/yaml", "If-Match": loaded})


def test_a_read_as_yaml_is_the_editable_manifest_with_the_etag_of_its_spec_and_labels(console, upstream):
    upstream.answer = (200, STORED)
    code, headers, raw = send(console, "GET", "/api/workloads/w?namespace=team", headers={"Accept": "application/yaml"})
    assert (code, headers["Content-Type"], headers["ETag"]) == (200, "application/yaml", LOADED)
    text = raw.decode()
    assert "maxReplicas: 4" in text and "name: w" in text
    for server_field in ("status", "uid", "generation", "resourceVersion"):
        assert server_field not in text


def test_an_edit_is_written_as_json_conditional_on_the_version_read_while_only_status_moved(console, upstream):
    upstream.answers = [(200, moved(status={"desiredReplicas": 1}, resourceVersion="9")), (200, moved(resourceVersion="10"))]
    code, _, _ = edit(console)
    assert code == 200
    get, put = upstream.seen
    assert (get["method"], put["method"], put["headers"]["Content-Type"]) == ("GET", "PUT", "application/json")
    assert json.loads(put["body"])["spec"] == {"minReplicas": 5, "maxReplicas": 4}
    assert json.loads(put["body"])["metadata"]["resourceVersion"] == "9"
    assert signature_is_valid(get) and signature_is_valid(put)


@pytest.mark.parametrize("changes", [pytest.param({"spec": {"minReplicas": 1, "maxReplicas": 4}}, id="its-spec"),
                                     pytest.param({"labels": {"team": "b"}}, id="its-labels")])
def test_an_edit_of_what_changed_since_it_was_loaded_is_a_conflict_and_writes_nothing(console, upstream, changes):
    upstream.answers = [(200, moved(resourceVersion="5", **changes))]
    code, _, raw = edit(console)
    assert (code, status_of(raw)["reason"]) == (409, "Conflict") and "changed since you loaded it" in status_of(raw)["message"]
    assert [r["method"] for r in upstream.seen] == ["GET"]


def test_a_write_that_loses_a_race_to_a_status_write_is_checked_again_and_made(console, upstream):
    conflict = {"kind": "Status", "reason": "Conflict", "code": 409, "message": "modified"}
    upstream.answers = [(200, STORED), (409, conflict), (200, moved(resourceVersion="5")), (200, moved(resourceVersion="6"))]
    assert edit(console)[0] == 200
    assert [r["method"] for r in upstream.seen] == ["GET", "PUT", "GET", "PUT"]
    assert json.loads(upstream.seen[3]["body"])["metadata"]["resourceVersion"] == "5"


def test_a_refused_field_comes_back_with_its_line_in_the_edit(console, upstream):
    upstream.answers = [(200, STORED), (400, {"kind": "Status", "reason": "Invalid", "code": 400, "details": {"field": "spec.maxReplicas"},
                                             "message": "spec.maxReplicas: must be >= spec.minReplicas (5), got 4"})]
    code, _, raw = edit(console)
    assert (code, status_of(raw)["details"]) == (400, {"field": "spec.maxReplicas", "line": 7})


def test_an_edit_that_is_not_yaml_is_refused_at_its_line_and_never_reaches_the_api(console, upstream):
    code, _, raw = edit(console, "spec:\n  maxReplicas: 4\n minReplicas: [\n")
    body = status_of(raw)
    assert (code, body["reason"], body["details"]["field"], body["details"]["line"]) == (400, "InvalidYAML", "body", 3)
    assert upstream.seen == []
