"""A local HTTPS stand-in for an EKS API server: Deployments and their scale subresource, behind an STS-token check."""
from __future__ import annotations

import base64
import datetime
import hashlib
import hmac
import ipaddress
import json
import re
import ssl
import tempfile
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

PATH = re.compile(r"^/apis/apps/v1/namespaces/(?P<namespace>[^/]+)/deployments/(?P<name>[^/]+)(?P<scale>/scale)?$")
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()


def self_signed_pem() -> tuple[bytes, bytes]:
    """A certificate for 127.0.0.1 that is its own CA, and its key, as PEM."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "kube-stub")])
    now = datetime.datetime.now(datetime.timezone.utc)
    public = key.public_key()
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(public)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(public), critical=False)
        .sign(key, hashes.SHA256())
    )
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM), key_pem


def token_problem(authorization: str, cluster: str, region: str, secret_key: str) -> str | None:
    """Why the API server's authenticator would refuse this bearer token, or None when it is well formed and signed.

    The signature is recomputed the way STS would with the header the authenticator adds (x-k8s-aws-id: <cluster>),
    so a token presigned without that header, or for another cluster, fails here as it would on EKS.
    """
    if not authorization.startswith("Bearer k8s-aws-v1."):
        return "not a k8s-aws-v1 bearer token"
    encoded = authorization.removeprefix("Bearer k8s-aws-v1.")
    if "=" in encoded:
        return "padded base64"
    try:
        url = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()
    except ValueError:
        return "not base64url"
    parts = urlsplit(url)
    if (parts.scheme, parts.netloc, parts.path) != ("https", f"sts.{region}.amazonaws.com", "/"):
        return f"not a regional STS URL: {url}"
    params = dict(parse_qsl(parts.query, keep_blank_values=True))
    expected = {"Action": "GetCallerIdentity", "Version": "2011-06-15", "X-Amz-Algorithm": "AWS4-HMAC-SHA256",
                "X-Amz-Expires": "60"}
    for key, value in expected.items():
        if params.get(key) != value:
            return f"{key}={params.get(key)!r}, want {value!r}"
    if not parts.query.startswith("Action=GetCallerIdentity&Version=2011-06-15&X-Amz-"):
        return "query does not start with Action and Version"
    signed_headers = params.get("X-Amz-SignedHeaders", "").split(";")
    if "x-k8s-aws-id" not in signed_headers:
        return "x-k8s-aws-id is not a signed header"
    headers = {"host": parts.netloc, "x-k8s-aws-id": cluster}
    if set(signed_headers) != set(headers):
        return f"unexpected signed headers {signed_headers}"
    access_key, date, scope_region, service, terminator = params["X-Amz-Credential"].split("/")
    if (scope_region, service, terminator) != (region, "sts", "aws4_request"):
        return "credential scope is not sts in the region"
    canonical_query = "&".join(f"{quote(k, safe='-_.~')}={quote(v, safe='-_.~')}"
                               for k, v in sorted(params.items()) if k != "X-Amz-Signature")
    canonical_request = "\n".join(["GET", "/", canonical_query,
                                   "".join(f"{h}:{headers[h]}\n" for h in signed_headers),
                                   ";".join(signed_headers), EMPTY_SHA256])
    scope = f"{date}/{region}/sts/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", params["X-Amz-Date"], scope,
                         hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = f"AWS4{secret_key}".encode()
    for part in (date, region, "sts", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    if hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest() != params.get("X-Amz-Signature"):
        return f"signature does not match for cluster {cluster}"
    return None


@dataclass
class Deployment:
    replicas: int
    ready: int = 0


@dataclass
class KubeStub:
    """Serves one cluster's Deployments; `requests` records (method, path, content type, body) of every call."""

    cluster: str
    region: str = "us-east-1"
    secret_key: str = ""  # the signing secret STS would know; set to the test credentials
    deployments: dict[tuple[str, str], Deployment] = field(default_factory=dict)
    requests: list[tuple[str, str, str, dict | None]] = field(default_factory=list)
    status_override: int | None = None  # answer every request with this status (e.g. 403, 429, 503)

    def start(self) -> KubeStub:
        self.ca_pem, key_pem = self_signed_pem()
        self._dir = tempfile.TemporaryDirectory()
        cert_file, key_file = Path(self._dir.name, "cert.pem"), Path(self._dir.name, "key.pem")
        cert_file.write_bytes(self.ca_pem)
        key_file.write_bytes(key_pem)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(cert_file, key_file)
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._dir.cleanup()

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    @property
    def ca_data(self) -> str:
        """The CA as EKS DescribeCluster returns it: base64 of the PEM."""
        return base64.b64encode(self.ca_pem).decode()

    def answer(self, method: str, path: str, headers, body: bytes) -> tuple[int, dict]:
        content_type = headers.get("Content-Type", "")
        self.requests.append((method, path, content_type, json.loads(body) if body else None))
        problem = token_problem(headers.get("Authorization", ""), self.cluster, self.region, self.secret_key)
        if problem:
            return 401, _status(401, "Unauthorized", problem)
        if self.status_override:
            return self.status_override, _status(self.status_override, "Override", "status override")
        match = PATH.match(path)
        deployment = self.deployments.get((match["namespace"], match["name"])) if match else None
        if deployment is None:
            return 404, _status(404, "NotFound", f"path {path} not found")
        if method == "PATCH":
            if not match["scale"] or content_type != "application/merge-patch+json":
                return 415, _status(415, "UnsupportedMediaType", f"{content_type} on {path}")
            deployment.replicas = json.loads(body)["spec"]["replicas"]
        elif method != "GET":
            return 405, _status(405, "MethodNotAllowed", method)
        if match["scale"]:
            return 200, {"kind": "Scale", "apiVersion": "autoscaling/v1",
                         "spec": {"replicas": deployment.replicas}, "status": {"replicas": deployment.replicas}}
        status = {"replicas": deployment.replicas, "readyReplicas": deployment.ready, "availableReplicas": deployment.ready}
        return 200, {"kind": "Deployment", "apiVersion": "apps/v1", "spec": {"replicas": deployment.replicas},
                     "status": {k: v for k, v in status.items() if v}}  # the API server omits zero counts


def _status(code: int, reason: str, message: str) -> dict:
    return {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code}


def _handler(stub: KubeStub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def _serve(self):
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            code, payload = stub.answer(self.command, self.path, self.headers, body)
            data = json.dumps(payload).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_PATCH = do_PUT = do_POST = _serve

        def log_message(self, *args):
            pass

    return Handler
