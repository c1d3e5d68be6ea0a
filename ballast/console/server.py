"""`ballast dashboard`'s web server on 127.0.0.1: the console's static page, and the page's API calls forwarded to
Ballast's API signed with the user's own AWS credentials, as `kubectl proxy` serves the Kubernetes Dashboard.

    /                 the page (with ?token=… from the printed address: sets the session cookie, then redirects to /)
    /static/…         its scripts and styles
    /api/<path>       forwarded to <endpoint>/<path>, SigV4-signed by ballast.api_client; errors become Status bodies
    /console/info     which endpoint and namespace the page is looking at

The page edits specs in YAML through the proxy (Content-Type application/yaml in, Accept application/yaml out), which
converts as kubectl does, so the browser needs no YAML library and a refused field can be pointed at by its line.
"""
from __future__ import annotations

import json
import re
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from urllib.parse import parse_qsl, urlsplit

from ballast.api_client import Api, ApiError, api_error
from ballast.console import guard, manifests
from ballast.errors import UsageError

STATIC = resources.files("ballast.console") / "static"
STATIC_NAME = re.compile(r"[A-Za-z0-9_-]+(\.[a-z]+)?")
CONTENT_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
                 ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}
API_PATH = re.compile(r"/[A-Za-z0-9._~%/-]*")
MAX_BODY_BYTES = 1 << 20  # far above the API's own limit, which answers the details itself
JSON = "application/json"
YAML = "application/yaml"
# Scripts and styles only from the console itself; pictures and uploads also from S3's presigned URLs (https in AWS,
# a loopback port for the local runtime's S3).
CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
       "frame-ancestors 'none'; img-src 'self' data: blob: https: http://127.0.0.1:* http://localhost:*; "
       "connect-src 'self' https: http://127.0.0.1:* http://localhost:*")
NO_SESSION = ("this page has no session with the console: open the address `ballast dashboard` printed "
              "(it carries the console's token)")


class Console:
    """The server; `url` is the address to open, with the token that gives a browser its session."""

    def __init__(self, api: Api, namespace: str = "default", port: int = 0, token: str | None = None):
        self.api, self.namespace = api, namespace
        self.token = token or guard.new_token()
        self._httpd = _Server(("127.0.0.1", port), type("BoundHandler", (Handler,), {"console": self}))
        self.port = self._httpd.server_address[1]
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/?token={self.token}"

    def serve_forever(self) -> None:
        self._httpd.serve_forever()

    def start(self) -> "Console":
        """Serves from a thread of its own (the demo's, a test's); it looks for stop() ten times a second."""
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="console",
                                        daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Ends start()'s thread, or closes the socket after serve_forever() ended (shutdown() would wait for it)."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address) -> None:
        """A browser that closed its connection mid-answer (a reload, a closed tab) is not an error to print."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # the page polls: keep its connections open
    server_version, sys_version = "ballast-console", ""
    console: Console

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def do_PUT(self) -> None:
        self._serve("PUT")

    def do_PATCH(self) -> None:
        self._serve("PATCH")

    def do_DELETE(self) -> None:
        self._serve("DELETE")

    def log_message(self, format: str, *args) -> None:
        """Quiet: the terminal keeps the address; the page shows what each call answered."""

    def _serve(self, method: str) -> None:
        refused = guard.refusal(self.headers, self.console.port)
        if refused:
            return self._status(403, "Forbidden", refused)
        url = urlsplit(self.path)
        if url.path.startswith("/api/") or url.path == "/console/info":
            if not guard.has_session(self.headers, self.console.port, self.console.token):
                return self._status(401, "NoSession", NO_SESSION)
            if url.path == "/console/info":
                return self._json(200, {"endpoint": self.console.api.endpoint, "namespace": self.console.namespace})
            return self._forward(method, url)
        if method != "GET":
            return self._status(405, "MethodNotAllowed", f"{method} {url.path}: the console's files are only read")
        return self._static(url)

    # ---- the API, forwarded ------------------------------------------------------------------------------------

    def _forward(self, method: str, url) -> None:
        path = url.path.removeprefix("/api")
        if not API_PATH.fullmatch(path) or ".." in path.split("/"):
            return self._status(400, "BadRequest", f"not an API path: {path!r}")
        body = self._body()
        if body is False:
            return
        content_type = (self.headers.get("Content-Type") or JSON).split(";")[0].strip().lower()
        edit = None
        if content_type == YAML and body is not None:
            edit = body.decode("utf-8", errors="replace")
            try:
                body = manifests.to_json(edit)
            except manifests.YamlError as error:
                return self._status(400, "InvalidYAML", f"not valid YAML: {error}", field="body", line=error.line,
                                    column=error.column)
            content_type = "application/merge-patch+json" if method == "PATCH" else JSON
        query = dict(parse_qsl(url.query, keep_blank_values=True))
        loaded = self.headers.get("If-Match")
        try:
            if method == "PUT" and loaded and edit is not None:
                code, raw = self._replace_if_unchanged(path, query, body, loaded)
            else:
                code, raw = self.console.api.exchange(method, path, body, query, content_type)
        except ApiError as error:  # no answer at all: nothing at the endpoint
            return self._status(502 if error.reason == "Unreachable" else error.code, error.reason, error.message)
        except UsageError as error:  # nothing to sign with: no credentials, an unknown profile
            return self._status(401, "NoCredentials", str(error))
        if code >= 400:
            error = api_error(code, raw)
            line = manifests.line_of(edit, error.field) if edit and error.field else None
            return self._status(code, error.reason, error.message, field=error.field, line=line)
        if method == "GET" and YAML in (self.headers.get("Accept") or ""):
            current = json.loads(raw)
            return self._send(code, manifests.to_yaml(manifests.editable(current)).encode(), YAML,
                              {"ETag": manifests.fingerprint(current)})
        self._send(code, raw, JSON)

    def _replace_if_unchanged(self, path: str, query: dict, body: bytes, loaded: str) -> tuple[int, bytes]:
        """The editor's save: a PUT of the edit, only while the spec and labels are those it loaded (`loaded`, their
        ETag); conditional on the resourceVersion read with that check, and checked again if only status moved since."""
        manifest = json.loads(body)
        for _ in range(3):
            code, raw = self.console.api.exchange("GET", path, None, query)
            if code >= 400:
                return code, raw
            current = json.loads(raw)
            if manifests.fingerprint(current) != loaded:
                name = f"{current.get('kind')} {current['metadata']['name']}"
                return 409, json.dumps({"kind": "Status", "reason": "Conflict", "code": 409, "message":
                                        f"the spec or labels of {name} changed since you loaded it; nothing was written"}).encode()
            if isinstance(manifest.get("metadata"), dict):
                manifest["metadata"]["resourceVersion"] = current["metadata"]["resourceVersion"]
            code, raw = self.console.api.exchange("PUT", path, json.dumps(manifest).encode(), query, JSON)
            if code != 409:
                return code, raw
        return code, raw

    def _body(self) -> bytes | None | bool:
        """The request's body, None without one; False once a refusal has been answered."""
        if self.headers.get("Transfer-Encoding"):
            self.close_connection = True
            self._status(411, "LengthRequired", "send the body with a Content-Length")
            return False
        declared = self.headers.get("Content-Length") or "0"
        if not declared.isdigit():
            self.close_connection = True
            self._status(400, "BadRequest", f"Content-Length must be a number of bytes, got {declared!r}")
            return False
        length = int(declared)
        if length > MAX_BODY_BYTES:
            self.close_connection = True  # unread, the body would be taken for the next request
            self._status(413, "RequestEntityTooLarge", f"the body has {length} bytes; the console forwards at most {MAX_BODY_BYTES}")
            return False
        return self.rfile.read(length) if length else None

    # ---- the page ------------------------------------------------------------------------------------------------

    def _static(self, url) -> None:
        if url.path == "/":
            if guard.is_token(dict(parse_qsl(url.query)).get("token"), self.console.token):
                # The token leaves the address bar and the history at once; the session lives on in the cookie.
                cookie = guard.session_cookie(self.console.port, self.console.token)
                return self._send(303, b"", "text/plain", {"Location": "/", "Set-Cookie": cookie})
            parts = ["index.html"]
        elif url.path.startswith("/static/"):
            parts = url.path.removeprefix("/static/").split("/")
        else:
            parts = []
        file = STATIC.joinpath(*parts) if parts and all(STATIC_NAME.fullmatch(p) for p in parts) else None
        if file is None or not file.is_file():
            return self._status(404, "NotFound", f"no such page: {url.path}")
        suffix = "." + parts[-1].rsplit(".", 1)[-1]
        self._send(200, file.read_bytes(), CONTENT_TYPES.get(suffix, "application/octet-stream"), {"Cache-Control": "no-cache"})

    # ---- answers -------------------------------------------------------------------------------------------------

    def _status(self, code: int, reason: str, message: str, **details) -> None:
        self._json(code, {"apiVersion": "v1", "kind": "Status", "status": "Failure", "reason": reason, "message": message,
                          "code": code, "details": {k: v for k, v in details.items() if v is not None}})

    def _json(self, code: int, body: dict) -> None:
        self._send(code, json.dumps(body).encode(), JSON)

    def _send(self, code: int, body: bytes, content_type: str, headers: dict | None = None) -> None:
        self.send_response(code)
        merged = {"Content-Type": content_type, "Content-Length": str(len(body)), "Cache-Control": "no-store",
                  "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
                  "Content-Security-Policy": CSP, **(headers or {})}
        for name, value in merged.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
