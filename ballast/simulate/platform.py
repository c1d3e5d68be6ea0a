"""The platform under a scenario: Fargate, ECS on EC2 Auto Scaling, or EKS managed node groups; latencies, placement and billing.

The constants are public price lists and documented limits, each cited where it is defined; a scenario overrides any.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

from ballast.simulate.units import Distribution, ScenarioError, distribution, seconds

KINDS = ("fargate", "ecs-ec2", "eks")

# AWS Fargate pricing, Linux/x86, us-east-1 (aws.amazon.com/fargate/pricing): per vCPU-hour and per GB-hour, billed per
# second from the start of the image download until the task terminates, with a one-minute minimum.
FARGATE_VCPU_HOUR = 0.04048
FARGATE_GB_HOUR = 0.004445
FARGATE_MINIMUM_S = 60
# EC2 On-Demand Linux, us-east-1 (aws.amazon.com/ec2/pricing/on-demand): billed per second with a 60-second minimum.
EC2_MINIMUM_S = 60
INSTANCE_HOUR = {"m5.large": 0.096, "m5.xlarge": 0.192, "m5.2xlarge": 0.384, "m6i.large": 0.096,
                 "m6i.xlarge": 0.192, "c5.large": 0.085, "c5.xlarge": 0.17, "t3.large": 0.0832, "t3.medium": 0.0416}
# EKS with the VPC CNI: pods per node = ENIs × (IPv4 per ENI − 1) + 2 (amazon-eks-ami, files/eni-max-pods.txt).
EKS_MAX_PODS = {"m5.large": 29, "m5.xlarge": 58, "m5.2xlarge": 58, "m6i.large": 29, "m6i.xlarge": 58,
                "c5.large": 29, "c5.xlarge": 58, "t3.large": 35, "t3.medium": 17}
# kubelet's own default --max-pods, for an instance type the table does not know.
KUBELET_MAX_PODS = 110
# Fargate's valid task sizes (Amazon ECS developer guide, "Task CPU and memory"): vCPU units → memory MiB choices.
FARGATE_SIZES = (
    (256, (512, 1024, 2048)),
    (512, tuple(range(1024, 4097, 1024))),
    (1024, tuple(range(2048, 8193, 1024))),
    (2048, tuple(range(4096, 16385, 1024))),
    (4096, tuple(range(8192, 30721, 1024))),
    (8192, tuple(range(16384, 61441, 4096))),
    (16384, tuple(range(32768, 122881, 8192))),
)

# Assumed latencies where AWS publishes none, each overridable in the scenario: a Fargate task provisions and pulls its
# image in about half a minute to a minute; a pod on a running node starts in seconds; an EC2 instance boots and its
# kubelet (or ECS agent) registers and reports Ready in about as long again.
DEFAULT_TASK_START = {"fargate": {"lognormal": {"mean": 40, "sd": 10}}, "ecs-ec2": {"uniform": [5, 15]},
                      "eks": {"uniform": [3, 10]}}
DEFAULT_NODE_BOOT = {"lognormal": {"mean": 50, "sd": 10}}
DEFAULT_NODE_JOIN = {"lognormal": {"mean": 40, "sd": 10}}


@dataclass(frozen=True)
class Prices:
    vcpu_hour: float = FARGATE_VCPU_HOUR
    gb_hour: float = FARGATE_GB_HOUR
    instance_hour: dict = field(default_factory=lambda: dict(INSTANCE_HOUR))
    minimum_s: float | None = None  # None: the provider's own minimum


@dataclass(frozen=True)
class Platform:
    kind: str
    task_start: Distribution  # placed → running: image pull and container start (on Fargate, also provisioning)
    node_boot: Distribution | None  # launch requested → instance up
    node_join: Distribution | None  # instance up → ready for tasks: kubelet Ready, or the ECS agent registered
    max_tasks_per_node: int | None  # None: only CPU and memory limit a node
    placement: str  # "spread" (kube-scheduler's LeastAllocated) or "binpack" (ECS's binpack strategy)
    prices: Prices

    @property
    def has_nodes(self) -> bool:
        return self.kind != "fargate"

    @property
    def minimum_billed_s(self) -> float:
        if self.prices.minimum_s is not None:
            return self.prices.minimum_s
        return FARGATE_MINIMUM_S if self.kind == "fargate" else EC2_MINIMUM_S

    def node_price(self, instance_type: str, price_per_hour: float, path: str = "nodePools") -> float:
        """A NodePool's own pricePerHour wins; else the price list's; a pool priced by neither cannot be costed."""
        if price_per_hour > 0:
            return price_per_hour
        if instance_type in self.prices.instance_hour:
            return self.prices.instance_hour[instance_type]
        raise ScenarioError(path, f"no price for instance type {instance_type!r}: set spec.instance.pricePerHour "
                                  f"or platform.prices.instanceHour")

    def max_pods(self, instance_type: str) -> int | None:
        if self.max_tasks_per_node is not None or self.kind != "eks":
            return self.max_tasks_per_node
        return EKS_MAX_PODS.get(instance_type, KUBELET_MAX_PODS)

    def task_price_per_s(self, cpu_millicores: int, memory_mib: int) -> float:
        """What one Fargate task of these requests costs per second, at the smallest valid size that holds them."""
        cpu, memory = fargate_size(cpu_millicores, memory_mib)
        return (cpu / 1024 * self.prices.vcpu_hour + memory / 1024 * self.prices.gb_hour) / 3600

    def billed(self, lifetime_s: float) -> float:
        """Seconds billed for a lifetime: per second, never less than the provider's minimum."""
        return max(lifetime_s, self.minimum_billed_s) if lifetime_s > 0 else 0.0


def fargate_size(cpu_millicores: int, memory_mib: int) -> tuple[int, int]:
    """The smallest valid Fargate (CPU units, MiB) holding the requests; 1024 CPU units are one vCPU."""
    for cpu, memories in FARGATE_SIZES:
        if cpu >= cpu_millicores * 1.024 - 1e-9:
            for memory in memories:
                if memory >= memory_mib:
                    return cpu, memory
    raise ValueError(f"no Fargate size holds {cpu_millicores}m and {memory_mib} MiB")


def platform_from(section: object, path: str = "platform") -> Platform:
    if not isinstance(section, dict):
        raise ScenarioError(path, f"must be a mapping with at least kind ({', '.join(KINDS)}), got {section!r}")
    known = {"kind", "taskStart", "nodeBoot", "nodeJoin", "maxTasksPerNode", "placement", "prices"}
    _no_unknown(section, known, path)
    kind = section.get("kind")
    if kind not in KINDS:
        raise ScenarioError(f"{path}.kind", f"must be one of {', '.join(KINDS)}, got {kind!r}")
    task_start = distribution(section.get("taskStart", DEFAULT_TASK_START[kind]), f"{path}.taskStart")
    if kind == "fargate":
        extra = sorted({"nodeBoot", "nodeJoin", "maxTasksPerNode"} & set(section))
        if extra:
            raise ScenarioError(f"{path}.{extra[0]}", "must not be set for fargate, which has no nodes")
        node_boot = node_join = None
    else:
        node_boot = distribution(section.get("nodeBoot", DEFAULT_NODE_BOOT), f"{path}.nodeBoot")
        node_join = distribution(section.get("nodeJoin", DEFAULT_NODE_JOIN), f"{path}.nodeJoin")
    limit = section.get("maxTasksPerNode")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise ScenarioError(f"{path}.maxTasksPerNode", f"must be a whole number ≥ 1, got {limit!r}")
    placement = section.get("placement", "spread" if kind == "eks" else "binpack")
    if placement not in ("spread", "binpack"):
        raise ScenarioError(f"{path}.placement", f"must be spread or binpack, got {placement!r}")
    return Platform(kind, task_start, node_boot, node_join, limit, placement,
                    _prices(section.get("prices", {}), f"{path}.prices"))


def _prices(section: object, path: str) -> Prices:
    if not isinstance(section, dict):
        raise ScenarioError(path, f"must be a mapping, got {section!r}")
    _no_unknown(section, {"vcpuHour", "gbHour", "instanceHour", "minimumBilled"}, path)
    values = {}
    for key, name in (("vcpuHour", "vcpu_hour"), ("gbHour", "gb_hour")):
        if key in section:
            values[name] = _price(section[key], f"{path}.{key}")
    table = dict(INSTANCE_HOUR)
    instance_hour = section.get("instanceHour", {})
    if not isinstance(instance_hour, dict):
        raise ScenarioError(f"{path}.instanceHour", f"must map instance types to dollars per hour, got {instance_hour!r}")
    table.update({k: _price(v, f"{path}.instanceHour.{k}") for k, v in instance_hour.items()})
    minimum = seconds(section["minimumBilled"], f"{path}.minimumBilled") if "minimumBilled" in section else None
    return Prices(instance_hour=table, minimum_s=minimum, **values)


def _price(value: object, path: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or math.isnan(value):
        raise ScenarioError(path, f"must be dollars, a number ≥ 0, got {value!r}")
    return float(value)


def _no_unknown(section: dict, known: set[str], path: str) -> None:
    unknown = sorted(set(section) - known)
    if unknown:
        raise ScenarioError(f"{path}.{unknown[0]}", f"is not a known field ({', '.join(sorted(known))})")
