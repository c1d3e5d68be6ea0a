import boto3
import pytest

from chalicelib.adapters.nodegroups import NodeGroups, NodeGroupState
from chalicelib.errors import NotFound, Unavailable
from chalicelib.model import InstanceShape, NodePool
from tests.adapters.conftest import REGION, count_calls, fail_with

SHAPE = InstanceShape(cpu_millicores=2000, memory_mib=4096)


@pytest.fixture
def autoscaling(aws):
    client = boto3.client("autoscaling", region_name=REGION)
    client.create_launch_configuration(LaunchConfigurationName="nodes", ImageId="ami-12c6146b", InstanceType="t3.medium")
    return client


@pytest.fixture
def eks(aws):
    client = boto3.client("eks", region_name=REGION)
    client.create_cluster(name="photos", roleArn="arn:aws:iam::123456789012:role/eks",
                          resourcesVpcConfig={"subnetIds": ["subnet-1"]})
    return client


def asg_pool(autoscaling, name: str, desired: int = 1, low: int = 0, high: int = 5) -> NodePool:
    autoscaling.create_auto_scaling_group(AutoScalingGroupName=name, LaunchConfigurationName="nodes", MinSize=low,
                                          MaxSize=high, DesiredCapacity=desired, AvailabilityZones=[f"{REGION}a"])
    return NodePool(name=f"pool-{name}", provider_kind="AutoScalingGroup", instance=SHAPE, max_nodes=high,
                    auto_scaling_group=name)


def eks_pool(eks, name: str, desired: int = 2, low: int = 1, high: int = 4) -> NodePool:
    eks.create_nodegroup(clusterName="photos", nodegroupName=name, nodeRole="arn:aws:iam::123456789012:role/node",
                         subnets=["subnet-1"], scalingConfig={"minSize": low, "maxSize": high, "desiredSize": desired})
    return NodePool(name=f"pool-{name}", provider_kind="EKSNodegroup", instance=SHAPE, max_nodes=high,
                    cluster="photos", nodegroup=name)


def test_observes_an_auto_scaling_group_with_its_in_service_instances(autoscaling, eks):
    pool = asg_pool(autoscaling, "workers", desired=2, low=1, high=5)

    assert NodeGroups(autoscaling, eks).observe([pool]) == {pool: NodeGroupState(desired=2, min=1, max=5, ready=2)}


def test_describes_auto_scaling_groups_fifty_names_per_call(autoscaling, eks):
    pools = [asg_pool(autoscaling, f"g{i}", desired=0) for i in range(120)]
    calls = count_calls(autoscaling)

    observed = NodeGroups(autoscaling, eks).observe(pools)

    assert calls["DescribeAutoScalingGroups"] == 3
    assert all(isinstance(state, NodeGroupState) for state in observed.values()) and len(observed) == 120


def test_missing_auto_scaling_group_is_not_found_for_that_pool_only(autoscaling, eks):
    kept = asg_pool(autoscaling, "workers")
    missing = NodePool(name="pool-gone", provider_kind="AutoScalingGroup", instance=SHAPE, max_nodes=3,
                       auto_scaling_group="gone")

    observed = NodeGroups(autoscaling, eks).observe([kept, missing])

    assert isinstance(observed[missing], NotFound) and isinstance(observed[kept], NodeGroupState)


def test_local_pools_are_left_to_the_local_runtime(autoscaling, eks):
    local = NodePool(name="laptop", provider_kind="Local", instance=SHAPE, max_nodes=1)
    calls = count_calls(autoscaling)

    assert NodeGroups(autoscaling, eks).observe([local]) == {}
    assert not calls


def test_sets_asg_desired_capacity_without_honouring_cooldown(autoscaling, eks):
    pool = asg_pool(autoscaling, "workers", desired=1, high=5)
    groups = NodeGroups(autoscaling, eks)
    requests = []
    autoscaling.meta.events.register("provide-client-params.autoscaling.SetDesiredCapacity",
                                     lambda params, **_: requests.append(dict(params)))

    assert groups.set_desired(pool, 3, groups.observe([pool])[pool]) == 3

    assert requests == [{"AutoScalingGroupName": "workers", "DesiredCapacity": 3, "HonorCooldown": False}]
    assert groups.observe([pool])[pool].desired == 3


def test_asg_desired_is_clamped_to_the_group_max(autoscaling, eks):
    pool = asg_pool(autoscaling, "workers", desired=1, high=4)
    groups = NodeGroups(autoscaling, eks)

    assert groups.set_desired(pool, 9, groups.observe([pool])[pool]) == 4
    assert groups.observe([pool])[pool].desired == 4


def test_asg_desired_is_clamped_to_the_group_min(autoscaling, eks):
    pool = asg_pool(autoscaling, "workers", desired=3, low=2, high=4)
    groups = NodeGroups(autoscaling, eks)

    assert groups.set_desired(pool, 0, groups.observe([pool])[pool]) == 2


def test_no_call_when_the_clamped_count_is_already_desired(autoscaling, eks):
    pool = asg_pool(autoscaling, "workers", desired=4, high=4)
    groups = NodeGroups(autoscaling, eks)
    state = groups.observe([pool])[pool]
    calls = count_calls(autoscaling)

    assert groups.set_desired(pool, 10, state) == 4
    assert calls["SetDesiredCapacity"] == 0


def test_setting_a_deleted_asg_is_not_found(autoscaling, eks):
    pool = asg_pool(autoscaling, "workers", desired=1)
    groups = NodeGroups(autoscaling, eks)
    state = groups.observe([pool])[pool]
    # What EC2 Auto Scaling answers for a group deleted meanwhile; moto fails with a KeyError instead.
    fail_with(autoscaling, "SetDesiredCapacity", "ValidationError", "AutoScalingGroup name not found - workers")

    with pytest.raises(NotFound):
        groups.set_desired(pool, 2, state)


@pytest.mark.parametrize("code", ["Throttling", "AccessDenied"])
def test_throttled_or_denied_asg_is_unavailable_with_its_code(autoscaling, eks, code):
    pool = asg_pool(autoscaling, "workers")
    fail_with(autoscaling, "DescribeAutoScalingGroups", code)

    state = NodeGroups(autoscaling, eks).observe([pool])[pool]

    assert isinstance(state, Unavailable) and state.code == code


def test_observes_an_eks_nodegroup_one_describe_per_group(autoscaling, eks):
    pools = [eks_pool(eks, "general", desired=2, low=1, high=4), eks_pool(eks, "spot", desired=0, low=0, high=9)]
    calls = count_calls(eks)

    observed = NodeGroups(autoscaling, eks).observe(pools)

    assert calls["DescribeNodegroup"] == 2
    # moto creates no backing Auto Scaling group for a node group, so no node is counted ready.
    assert observed == {pools[0]: NodeGroupState(2, 1, 4, 0), pools[1]: NodeGroupState(0, 0, 9, 0)}


def test_eks_ready_nodes_are_the_backing_groups_in_service_instances(autoscaling, eks):
    pool = eks_pool(eks, "general", desired=2)
    backing = eks.describe_nodegroup(clusterName="photos", nodegroupName="general")["nodegroup"]["resources"]
    asg_pool(autoscaling, backing["autoScalingGroups"][0]["name"], desired=2)  # as EKS would have created it

    assert NodeGroups(autoscaling, eks).observe([pool])[pool].ready == 2


def test_updates_the_eks_nodegroup_scaling_config_within_its_bounds(autoscaling, eks):
    pool = eks_pool(eks, "general", desired=2, low=1, high=4)
    groups = NodeGroups(autoscaling, eks)

    assert groups.set_desired(pool, 7, groups.observe([pool])[pool]) == 4

    config = eks.describe_nodegroup(clusterName="photos", nodegroupName="general")["nodegroup"]["scalingConfig"]
    assert config == {"minSize": 1, "maxSize": 4, "desiredSize": 4}


def test_missing_eks_nodegroup_is_not_found(autoscaling, eks):
    pool = NodePool(name="pool-gone", provider_kind="EKSNodegroup", instance=SHAPE, max_nodes=3,
                    cluster="photos", nodegroup="gone")

    assert isinstance(NodeGroups(autoscaling, eks).observe([pool])[pool], NotFound)


def test_eks_update_in_progress_is_unavailable(autoscaling, eks):
    pool = eks_pool(eks, "general", desired=2)
    groups = NodeGroups(autoscaling, eks)
    state = groups.observe([pool])[pool]
    fail_with(eks, "UpdateNodegroupConfig", "ResourceInUseException")

    with pytest.raises(Unavailable) as raised:
        groups.set_desired(pool, 3, state)

    assert raised.value.code == "ResourceInUseException"
