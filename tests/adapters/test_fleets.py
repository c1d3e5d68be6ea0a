import boto3
import pytest

from chalicelib.adapters.aws import RETRY_CONFIG
from chalicelib.adapters.fleets import FleetState, Fleets
from chalicelib.adapters.kubernetes import Kubernetes
from chalicelib.errors import NotFound, Unavailable
from chalicelib.model import Target
from tests.adapters.conftest import REGION, count_calls, fail_with
from tests.adapters.kube_stub import Deployment


@pytest.fixture
def ecs(aws):
    client = boto3.client("ecs", region_name=REGION, config=RETRY_CONFIG)
    client.create_cluster(clusterName="photos")
    client.register_task_definition(
        family="worker", requiresCompatibilities=["FARGATE", "EC2"], networkMode="awsvpc", cpu="256", memory="512",
        containerDefinitions=[{"name": "worker", "image": "ballast/worker", "memory": 512}])
    return client


def service(ecs, name: str, desired: int = 1, launch_type: str = "FARGATE", cluster: str = "photos") -> Target:
    ecs.create_service(cluster=cluster, serviceName=name, taskDefinition="worker", desiredCount=desired,
                       launchType=launch_type)
    return Target("ECSService", cluster, service=name, launch_type=launch_type)


def test_observes_fargate_and_ec2_services(ecs):
    fargate = service(ecs, "thumbnail", desired=3)
    ec2 = service(ecs, "watermark", desired=2, launch_type="EC2")

    observed = Fleets(ecs).observe([fargate, ec2])

    assert observed[fargate].desired == 3 and observed[ec2].desired == 2
    assert all(isinstance(state, FleetState) for state in observed.values())


def test_describes_services_ten_per_call_per_cluster(ecs):
    ecs.create_cluster(clusterName="billing")
    targets = [service(ecs, f"s{i}") for i in range(25)] + [service(ecs, "invoices", cluster="billing")]
    calls = count_calls(ecs)

    observed = Fleets(ecs).observe(targets)

    assert calls["DescribeServices"] == 4  # 25 in photos → 10 + 10 + 5; 1 in billing
    assert set(observed) == set(targets)


def test_service_deleted_behind_our_back_is_not_found_for_that_target_only(ecs):
    kept, deleted = service(ecs, "thumbnail"), service(ecs, "grayscale")
    ecs.update_service(cluster="photos", service="grayscale", desiredCount=0)
    ecs.delete_service(cluster="photos", service="grayscale")

    observed = Fleets(ecs).observe([kept, deleted])

    assert isinstance(observed[deleted], NotFound)
    assert observed[kept] == FleetState(1, 0, 1)


def test_service_never_created_is_not_found(ecs):
    missing = Target("ECSService", "photos", service="nope")

    assert isinstance(Fleets(ecs).observe([missing])[missing], NotFound)


def test_missing_cluster_is_not_found_for_its_targets_only(ecs):
    kept, orphan = service(ecs, "thumbnail"), Target("ECSService", "gone", service="thumbnail")

    observed = Fleets(ecs).observe([kept, orphan])

    assert isinstance(observed[orphan], NotFound) and isinstance(observed[kept], FleetState)


def test_set_desired_updates_the_service_desired_count(ecs):
    target = service(ecs, "thumbnail", desired=1)
    calls = count_calls(ecs)

    Fleets(ecs).set_desired(target, 6)

    assert calls["UpdateService"] == 1
    assert Fleets(ecs).observe([target])[target].desired == 6


def test_set_desired_on_a_missing_service_is_not_found(ecs):
    with pytest.raises(NotFound):
        Fleets(ecs).set_desired(Target("ECSService", "photos", service="nope"), 2)


def test_set_desired_on_a_deleted_service_is_not_found(ecs):
    target = service(ecs, "thumbnail", desired=0)
    # ECS refuses updates of an INACTIVE service with this code; moto accepts them, so it is injected.
    fail_with(ecs, "UpdateService", "ServiceNotActiveException")

    with pytest.raises(NotFound):
        Fleets(ecs).set_desired(target, 2)


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException"])
def test_throttled_or_denied_describe_is_unavailable_with_its_code(ecs, code):
    target = service(ecs, "thumbnail")
    fail_with(ecs, "DescribeServices", code)

    state = Fleets(ecs).observe([target])[target]

    assert isinstance(state, Unavailable) and state.code == code


@pytest.mark.parametrize("code", ["ThrottlingException", "AccessDeniedException"])
def test_throttled_or_denied_update_raises_unavailable_with_its_code(ecs, code):
    target = service(ecs, "thumbnail")
    fail_with(ecs, "UpdateService", code)

    with pytest.raises(Unavailable) as raised:
        Fleets(ecs).set_desired(target, 2)

    assert raised.value.code == code


def test_deployments_are_observed_and_scaled_through_kubernetes(eks_at_stub, kube_stub, ecs):
    kube_stub.deployments[("images", "thumbnail")] = Deployment(replicas=3, ready=2)
    target = Target("Deployment", "photos", namespace="images", name="thumbnail")
    fleets = Fleets(ecs, Kubernetes(boto3.client("sts", region_name=REGION), eks_at_stub))

    assert fleets.observe([target])[target] == FleetState(desired=3, running=2, pending=1)
    fleets.set_desired(target, 5)
    assert kube_stub.deployments[("images", "thumbnail")].replicas == 5


def test_missing_deployment_is_not_found_for_that_target(eks_at_stub, kube_stub, ecs):
    target = Target("Deployment", "photos", namespace="images", name="nope")
    fleets = Fleets(ecs, Kubernetes(boto3.client("sts", region_name=REGION), eks_at_stub))

    assert isinstance(fleets.observe([target])[target], NotFound)


def test_deployment_without_a_kubernetes_adapter_is_unavailable(ecs):
    target = Target("Deployment", "photos", namespace="images", name="thumbnail")

    assert isinstance(Fleets(ecs).observe([target])[target], Unavailable)

