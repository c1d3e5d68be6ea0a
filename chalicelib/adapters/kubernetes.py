"""The Kubernetes API of an EKS cluster over plain HTTPS with an IAM bearer token, as `aws eks get-token` makes it."""
from __future__ import annotations

import base64
import http.client
import json
import ssl
import time
from dataclasses import dataclass
from urllib.parse import quote, urlsplit

from chalicelib.adapters.aws import translated
from chalicelib.errors import NotFound, Unavailable

TOKEN_PREFIX = "k8s-aws-v1."
CLUSTER_HEADER = "x-k8s-aws-id"  # signed into the URL, so a token minted for one cluster is refused by another
PRESIGN_EXPIRES_S = 60
# The authenticator accepts a token for 15 minutes after its X-Amz-Date whatever X-Amz-Expires says;
# `aws eks get-token` reports 14 minutes, and one minute of margin covers clock skew and a slow tick.
TOKEN_LIFETIME_S = 14 * 60
TOKEN_REFRESH_MARGIN_S = 60
MERGE_PATCH = "application/merge-patch+json"
STATUS_CODES = {401: "Unauthorized", 403: "Forbidden", 409: "Conflict", 429: "TooManyRequests"}


@dataclass(frozen=True)
class Scale:
    spec_replicas: int
    status_replicas: int


@dataclass(frozen=True)
class DeploymentStatus:
    desired: int
    replicas: int
    ready: int
    available: int


@dataclass(frozen=True)
class _Endpoint:
    host: str
    port: int
    ssl_context: ssl.SSLContext


def _take_cluster_param(params, context, **_):
    # GetCallerIdentity has no such parameter: lift it out before validation and carry it to signing.
    if CLUSTER_HEADER in params:
        context[CLUSTER_HEADER] = params.pop(CLUSTER_HEADER)


def _sign_cluster_header(request, **_):
    if CLUSTER_HEADER in request.context:
        request.headers[CLUSTER_HEADER] = request.context[CLUSTER_HEADER]


class Kubernetes:
    """GET and PATCH of Deployments and their scale subresource; endpoint and CA come from EKS DescribeCluster.

    `sts` must be a regional STS client in the clusters' region: the API server's authenticator forwards the
    presigned request to the STS endpoint named in the token.
    """

    def __init__(self, sts, eks, clock=time.monotonic, timeout_s: float = 5.0):
        self._sts = sts
        self._eks = eks
        self._clock = clock
        self._timeout_s = timeout_s
        self._endpoints: dict[str, _Endpoint] = {}
        self._tokens: dict[str, tuple[str, float]] = {}
        events = sts.meta.events
        events.register("provide-client-params.sts.GetCallerIdentity", _take_cluster_param, unique_id="ballast-k8s-aws-id-param")
        events.register("before-sign.sts.GetCallerIdentity", _sign_cluster_header, unique_id="ballast-k8s-aws-id-header")

    def token(self, cluster: str) -> str:
        """A bearer token for `cluster`, reused until shortly before the authenticator would refuse it."""
        cached = self._tokens.get(cluster)
        if cached and self._clock() - cached[1] < TOKEN_LIFETIME_S - TOKEN_REFRESH_MARGIN_S:
            return cached[0]
        minted_at = self._clock()
        with translated(f"STS presign for cluster {cluster}"):
            url = self._sts.generate_presigned_url("get_caller_identity", Params={CLUSTER_HEADER: cluster},
                                                   ExpiresIn=PRESIGN_EXPIRES_S, HttpMethod="GET")
        token = TOKEN_PREFIX + base64.urlsafe_b64encode(url.encode()).decode().rstrip("=")
        self._tokens[cluster] = (token, minted_at)
        return token

    def get_scale(self, cluster: str, namespace: str, name: str) -> Scale:
        return _scale(self._request(cluster, "GET", _path(namespace, name) + "/scale"))

    def get_deployment(self, cluster: str, namespace: str, name: str) -> DeploymentStatus:
        body = self._request(cluster, "GET", _path(namespace, name))
        spec, status = body.get("spec", {}), body.get("status", {})
        return DeploymentStatus(desired=spec.get("replicas", 1), replicas=status.get("replicas", 0),
                                ready=status.get("readyReplicas", 0), available=status.get("availableReplicas", 0))

    def scale(self, cluster: str, namespace: str, name: str, replicas: int) -> Scale:
        body = json.dumps({"spec": {"replicas": replicas}}).encode()
        return _scale(self._request(cluster, "PATCH", _path(namespace, name) + "/scale", body))

    def _endpoint(self, cluster: str) -> _Endpoint:
        if cluster not in self._endpoints:
            with translated(f"EKS DescribeCluster {cluster}", ("ResourceNotFoundException",)):
                description = self._eks.describe_cluster(name=cluster)["cluster"]
            url, authority = description.get("endpoint"), description.get("certificateAuthority", {}).get("data")
            if not url or not authority:
                raise Unavailable(f"EKS cluster {cluster} has no endpoint yet (status {description.get('status')})", "NotReady")
            parts = urlsplit(url)
            context = ssl.create_default_context(cadata=base64.b64decode(authority).decode())
            self._endpoints[cluster] = _Endpoint(parts.hostname, parts.port or 443, context)
        return self._endpoints[cluster]

    def _request(self, cluster: str, method: str, path: str, body: bytes | None = None) -> dict:
        endpoint = self._endpoint(cluster)
        headers = {"Authorization": f"Bearer {self.token(cluster)}", "Accept": "application/json"}
        if body is not None:
            headers["Content-Type"] = MERGE_PATCH
        what = f"Kubernetes {method} {path} on cluster {cluster}"
        # http.client, not urllib: urllib would route through any HTTPS_PROXY in the environment.
        connection = http.client.HTTPSConnection(endpoint.host, endpoint.port, timeout=self._timeout_s,
                                                 context=endpoint.ssl_context)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            status, payload = response.status, response.read()
        except (OSError, http.client.HTTPException) as error:
            self._endpoints.pop(cluster, None)  # a recreated cluster has a new endpoint and CA: describe it again
            raise Unavailable(f"{what}: {error}", "Unreachable") from None
        finally:
            connection.close()
        if status < 300:
            return json.loads(payload)
        message = _status_message(payload) or http.client.responses.get(status, str(status))
        if status == 404:
            raise NotFound(f"{what}: {message}")
        if status == 401:
            self._tokens.pop(cluster, None)  # the next attempt presigns afresh instead of replaying a refused token
        raise Unavailable(f"{what}: {message}", STATUS_CODES.get(status, "ServerError" if status >= 500 else str(status)))


def _path(namespace: str, name: str) -> str:
    return f"/apis/apps/v1/namespaces/{quote(namespace, safe='')}/deployments/{quote(name, safe='')}"


def _scale(body: dict) -> Scale:
    return Scale(body.get("spec", {}).get("replicas", 0), body.get("status", {}).get("replicas", 0))


def _status_message(payload: bytes) -> str:
    """The message of a Kubernetes Status body, or nothing when the body is not one (a proxy's HTML page)."""
    try:
        body = json.loads(payload)
    except ValueError:
        return ""
    return body.get("message", "") if isinstance(body, dict) else ""
