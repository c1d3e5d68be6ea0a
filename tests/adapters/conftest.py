"""Fixtures for the adapter tests: moto with fake credentials in us-east-1, an API-call counter, the Kubernetes stub."""
from collections import Counter

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from tests.adapters.kube_stub import KubeStub

REGION = "us-east-1"


@pytest.fixture
def aws(monkeypatch):
    """moto for the test's duration; clients must be created inside it (moto intercepts only those)."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    monkeypatch.delenv("AWS_PROFILE", raising=False)
    with mock_aws():
        yield


def count_calls(client) -> Counter:
    """A live count of the API operations this client sends, by operation name."""
    calls = Counter()
    client.meta.events.register("before-call.*.*", lambda model, **_: calls.update([model.name]))
    return calls


def fail_with(client, operation: str, code: str, message: str = "injected") -> None:
    """Make every `operation` call on this client fail as AWS would with `code`, before anything is sent."""
    def raise_error(model, **_):
        if model.name == operation:
            raise ClientError({"Error": {"Code": code, "Message": message}}, operation)

    client.meta.events.register("before-call.*.*", raise_error)


@pytest.fixture
def kube_stub():
    stub = KubeStub(cluster="photos").start()
    yield stub
    stub.stop()


@pytest.fixture
def eks_at_stub(aws, kube_stub):
    """An EKS client whose cluster `photos` exists in moto and whose endpoint and CA are the stub's."""
    eks = boto3.client("eks", region_name=REGION)
    eks.create_cluster(name="photos", roleArn="arn:aws:iam::123456789012:role/eks",
                       resourcesVpcConfig={"subnetIds": ["subnet-1"]})

    def point_at_stub(parsed, **_):
        if "cluster" in parsed:  # not on errors
            parsed["cluster"]["endpoint"] = kube_stub.endpoint
            parsed["cluster"]["certificateAuthority"] = {"data": kube_stub.ca_data}

    eks.meta.events.register("after-call.eks.DescribeCluster", point_at_stub)
    # moto swaps in its own fake credentials; the stub checks signatures against whatever clients will sign with.
    kube_stub.secret_key = boto3.Session().get_credentials().secret_key
    return eks
