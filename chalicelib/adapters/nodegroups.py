"""Node counts of EC2 Auto Scaling groups and EKS managed node groups: observed sizes in, desired sizes out."""
from __future__ import annotations

from dataclasses import dataclass

from botocore.exceptions import ClientError

from chalicelib.adapters.aws import translated
from chalicelib.errors import BallastError, NotFound
from chalicelib.model import NodePool

# DescribeAutoScalingGroups takes up to 50 names by default (more only with a larger MaxRecords) and
# returns at most 100 groups a page; 50 names with MaxRecords=100 is one page unless AWS changes its mind.
NAMES_PER_CALL = 50
MAX_RECORDS = 100


@dataclass(frozen=True)
class NodeGroupState:
    desired: int
    min: int
    max: int
    ready: int


class NodeGroups:
    def __init__(self, autoscaling, eks):
        self._autoscaling = autoscaling
        self._eks = eks

    def observe(self, pools: list[NodePool]) -> dict[NodePool, NodeGroupState | Exception]:
        """State per pool (pools of different namespaces may share a name); Local pools are the local runtime's and
        absent here; a failed pool holds its error.

        EKS has no batch describe for node groups, so that is one DescribeNodegroup per group; their ready nodes
        are the InService instances of the backing Auto Scaling groups, read in the same batched call as ASG pools.
        """
        observed: dict[NodePool, NodeGroupState | Exception] = {}
        nodegroups: dict[NodePool, tuple[dict, list[str]]] = {}
        for pool in pools:
            if pool.provider_kind != "EKSNodegroup":
                continue
            try:
                with translated(f"EKS DescribeNodegroup {pool.cluster}/{pool.nodegroup}", ("ResourceNotFoundException",)):
                    nodegroup = self._eks.describe_nodegroup(clusterName=pool.cluster, nodegroupName=pool.nodegroup)["nodegroup"]
            except BallastError as error:
                observed[pool] = error
                continue
            backing = [g["name"] for g in nodegroup.get("resources", {}).get("autoScalingGroups", [])]
            nodegroups[pool] = (nodegroup["scalingConfig"], backing)

        asg_pools = [p for p in pools if p.provider_kind == "AutoScalingGroup"]
        groups = self._describe_groups([p.auto_scaling_group for p in asg_pools] +
                                       [name for _, backing in nodegroups.values() for name in backing])
        for pool in asg_pools:
            group = groups.get(pool.auto_scaling_group)
            if group is None:
                observed[pool] = NotFound(f"Auto Scaling group {pool.auto_scaling_group} not found")
            elif isinstance(group, Exception):
                observed[pool] = group
            else:
                observed[pool] = NodeGroupState(group.desired, group.min, group.max, group.ready)
        for pool, (scaling, backing) in nodegroups.items():
            errors = [groups[g] for g in backing if isinstance(groups.get(g), Exception)]
            if errors:
                observed[pool] = errors[0]
                continue
            # A backing group not (yet) describable has no instances that could be ready.
            ready = sum(groups[g].ready for g in backing if g in groups)
            observed[pool] = NodeGroupState(scaling["desiredSize"], scaling["minSize"], scaling["maxSize"], ready)
        return observed

    def _describe_groups(self, names: list[str]) -> dict[str, NodeGroupState | Exception]:
        names = list(dict.fromkeys(names))
        groups: dict[str, NodeGroupState | Exception] = {}
        for start in range(0, len(names), NAMES_PER_CALL):
            chunk = names[start:start + NAMES_PER_CALL]
            request = {"AutoScalingGroupNames": chunk, "MaxRecords": MAX_RECORDS}
            try:
                while True:
                    with translated("EC2 Auto Scaling DescribeAutoScalingGroups"):
                        response = self._autoscaling.describe_auto_scaling_groups(**request)
                    for group in response["AutoScalingGroups"]:
                        ready = sum(1 for i in group.get("Instances", [])
                                    if i["LifecycleState"] == "InService" and i["HealthStatus"] == "Healthy")
                        groups[group["AutoScalingGroupName"]] = NodeGroupState(group["DesiredCapacity"], group["MinSize"],
                                                                       group["MaxSize"], ready)
                    if not response.get("NextToken"):
                        break
                    request["NextToken"] = response["NextToken"]
            except BallastError as error:
                groups.update(dict.fromkeys(chunk, error))
        return groups

    def set_desired(self, pool: NodePool, nodes: int, state: NodeGroupState) -> int:
        """Ask for `nodes` clamped to the group's own min/max (EC2 Auto Scaling would refuse more; moto would not).

        Returns the count requested; no call is made when that equals what the group already wants.
        """
        requested = max(state.min, min(nodes, state.max))
        if requested == state.desired:
            return requested
        if pool.provider_kind == "AutoScalingGroup":
            with translated(f"EC2 Auto Scaling SetDesiredCapacity {pool.auto_scaling_group}"):
                try:
                    self._autoscaling.set_desired_capacity(AutoScalingGroupName=pool.auto_scaling_group,
                                                           DesiredCapacity=requested, HonorCooldown=False)
                except ClientError as error:
                    # A missing group is a generic ValidationError; only its message tells it apart.
                    message = error.response.get("Error", {}).get("Message", "")
                    if "not found" in message.lower():
                        raise NotFound(f"Auto Scaling group {pool.auto_scaling_group}: {message}") from None
                    raise
        else:
            with translated(f"EKS UpdateNodegroupConfig {pool.cluster}/{pool.nodegroup}", ("ResourceNotFoundException",)):
                self._eks.update_nodegroup_config(
                    clusterName=pool.cluster, nodegroupName=pool.nodegroup,
                    scalingConfig={"minSize": state.min, "maxSize": state.max, "desiredSize": requested})
        return requested
