import base64
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from chalicelib.adapters.kubernetes import Kubernetes
from chalicelib.errors import NotFound, Unavailable
from tests.adapters.conftest import REGION, count_calls
from tests.adapters.kube_stub import Deployment, token_problem


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


@pytest.fixture
def clock():
    return Clock()


@pytest.fixture
def presigns():
    return []


@pytest.fixture
def kubernetes(eks_at_stub, clock, presigns):
    sts = boto3.client("sts", region_name=REGION)
    sts.meta.events.register("before-sign.sts.GetCallerIdentity", lambda **_: presigns.append(1))
    return Kubernetes(sts, eks_at_stub, clock=clock)


def decode(token: str) -> str:
    encoded = token.removeprefix("k8s-aws-v1.")
    return base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4)).decode()


def test_token_is_a_presigned_regional_get_caller_identity_url_bound_to_the_cluster(kubernetes, kube_stub):
    token = kubernetes.token("photos")

    assert token.startswith("k8s-aws-v1.") and not token.endswith("=")
    url = urlsplit(decode(token))
    query = parse_qs(url.query)
    assert (url.scheme, url.netloc) == ("https", f"sts.{REGION}.amazonaws.com")
    assert query["Action"] == ["GetCallerIdentity"] and query["X-Amz-Expires"] == ["60"]
    assert "x-k8s-aws-id" in query["X-Amz-SignedHeaders"][0].split(";")
    assert token_problem(f"Bearer {token}", "photos", REGION, kube_stub.secret_key) is None


def test_token_for_one_cluster_is_refused_by_another(kubernetes, kube_stub):
    token = kubernetes.token("photos")

    assert "signature does not match" in token_problem(f"Bearer {token}", "billing", REGION, kube_stub.secret_key)


def test_token_is_reused_until_shortly_before_it_expires(kubernetes, clock, presigns):
    kubernetes.token("photos")
    clock.now += 12 * 60
    kubernetes.token("photos")
    assert len(presigns) == 1

    clock.now += 60
    kubernetes.token("photos")
    assert len(presigns) == 2


def test_reads_deployment_status_over_https_with_the_cluster_ca(kubernetes, kube_stub):
    kube_stub.deployments[("images", "thumbnail")] = Deployment(replicas=4, ready=3)

    status = kubernetes.get_deployment("photos", "images", "thumbnail")

    assert (status.desired, status.replicas, status.ready, status.available) == (4, 4, 3, 3)


def test_scale_patches_the_scale_subresource_with_a_merge_patch(kubernetes, kube_stub):
    kube_stub.deployments[("images", "thumbnail")] = Deployment(replicas=1)

    scale = kubernetes.scale("photos", "images", "thumbnail", 7)

    assert kube_stub.requests[-1] == ("PATCH", "/apis/apps/v1/namespaces/images/deployments/thumbnail/scale",
                                      "application/merge-patch+json", {"spec": {"replicas": 7}})
    assert scale.spec_replicas == 7
    assert kubernetes.get_scale("photos", "images", "thumbnail").spec_replicas == 7


def test_cluster_endpoint_is_described_once(kubernetes, kube_stub, eks_at_stub):
    kube_stub.deployments[("images", "thumbnail")] = Deployment(replicas=1)
    calls = count_calls(eks_at_stub)

    for _ in range(3):
        kubernetes.get_scale("photos", "images", "thumbnail")

    assert calls["DescribeCluster"] == 1


def test_missing_deployment_is_not_found(kubernetes):
    with pytest.raises(NotFound):
        kubernetes.get_scale("photos", "images", "nope")


def test_missing_cluster_is_not_found(kubernetes):
    with pytest.raises(NotFound):
        kubernetes.get_scale("nope", "images", "thumbnail")


@pytest.mark.parametrize("status, code", [
    pytest.param(403, "Forbidden", id="rbac-forbids"),
    pytest.param(409, "Conflict", id="conflict"),
    pytest.param(429, "TooManyRequests", id="api-priority-and-fairness"),
    pytest.param(503, "ServerError", id="server-down"),
])
def test_refusals_become_unavailable_with_the_reason(kubernetes, kube_stub, status, code):
    kube_stub.deployments[("images", "thumbnail")] = Deployment(replicas=1)
    kube_stub.status_override = status

    with pytest.raises(Unavailable) as raised:
        kubernetes.scale("photos", "images", "thumbnail", 2)

    assert raised.value.code == code


def test_refused_token_is_unauthorized_and_presigned_afresh_next_time(kubernetes, kube_stub, presigns):
    kube_stub.deployments[("images", "thumbnail")] = Deployment(replicas=1)
    secret_key, kube_stub.secret_key = kube_stub.secret_key, "another-account"  # STS knows no such signer

    with pytest.raises(Unavailable) as raised:
        kubernetes.get_scale("photos", "images", "thumbnail")
    kube_stub.secret_key = secret_key

    assert raised.value.code == "Unauthorized"
    assert kubernetes.get_scale("photos", "images", "thumbnail").spec_replicas == 1
    assert len(presigns) == 2


def test_unreachable_api_server_is_unavailable_and_its_endpoint_described_again(kubernetes, kube_stub, eks_at_stub):
    kube_stub.deployments[("images", "thumbnail")] = Deployment(replicas=1)
    kubernetes.get_scale("photos", "images", "thumbnail")
    kube_stub.stop()
    calls = count_calls(eks_at_stub)

    with pytest.raises(Unavailable) as raised:
        kubernetes.get_scale("photos", "images", "thumbnail")
    kube_stub.start()  # a new port and CA, as a recreated cluster would have

    assert raised.value.code == "Unreachable"
    assert kubernetes.get_scale("photos", "images", "thumbnail").spec_replicas == 1
    assert calls["DescribeCluster"] == 1
