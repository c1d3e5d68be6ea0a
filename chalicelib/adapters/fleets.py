"""Container fleets (ECS services, Kubernetes Deployments): observed counts in, desired counts out."""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import TYPE_CHECKING

from chalicelib.adapters.aws import translated
from chalicelib.errors import BallastError, NotFound, Unavailable
from chalicelib.model import Target

if TYPE_CHECKING:
    from chalicelib.adapters.kubernetes import Kubernetes

DESCRIBE_SERVICES_LIMIT = 10  # ECS DescribeServices takes at most ten services per call
GONE = ("INACTIVE", "DRAINING")  # a deleted service stays describable for a while with one of these


@dataclass(frozen=True)
class FleetState:
    desired: int
    running: int
    pending: int


class Fleets:
    def __init__(self, ecs, kubernetes: Kubernetes | None = None):
        self._ecs = ecs
        self._kubernetes = kubernetes

    def observe(self, targets: list[Target]) -> dict[Target, FleetState | Exception]:
        """Counts per target; a target that failed holds its error, so one bad target never hides the others."""
        by_cluster: dict[str, list[Target]] = defaultdict(list)
        observed: dict[Target, FleetState | Exception] = {}
        for target in dict.fromkeys(targets):
            if target.kind == "ECSService":
                by_cluster[target.cluster].append(target)
            else:
                observed[target] = self._observe_deployment(target)
        for cluster, services in by_cluster.items():
            for start in range(0, len(services), DESCRIBE_SERVICES_LIMIT):
                observed.update(self._observe_services(cluster, services[start:start + DESCRIBE_SERVICES_LIMIT]))
        return observed

    def _observe_services(self, cluster: str, targets: list[Target]) -> dict[Target, FleetState | Exception]:
        try:
            with translated(f"ECS DescribeServices in cluster {cluster}", ("ClusterNotFoundException",)):
                response = self._ecs.describe_services(cluster=cluster, services=[t.service for t in targets])
        except BallastError as error:
            return dict.fromkeys(targets, error)
        # A service may be named by name or by ARN; index both so either spelling finds its description.
        found = {}
        for service in response.get("services", []):
            found[service["serviceName"]] = found[service["serviceArn"]] = service
        observed: dict[Target, FleetState | Exception] = {}
        for target in targets:
            service = found.get(target.service)
            if service is None:
                observed[target] = NotFound(f"ECS service {target.service} not found in cluster {cluster}")
            elif service["status"] in GONE:
                observed[target] = NotFound(f"ECS service {target.service} in cluster {cluster} is {service['status']}")
            else:
                observed[target] = FleetState(service["desiredCount"], service["runningCount"], service["pendingCount"])
        return observed

    def _observe_deployment(self, target: Target) -> FleetState | Exception:
        if self._kubernetes is None:
            return Unavailable(f"Deployment {target.namespace}/{target.name}: no Kubernetes adapter wired", "NoKubernetes")
        try:
            status = self._kubernetes.get_deployment(target.cluster, target.namespace, target.name)
        except BallastError as error:
            return error
        return FleetState(status.desired, status.ready, max(status.replicas - status.ready, 0))

    def set_desired(self, target: Target, replicas: int) -> None:
        if target.kind == "ECSService":
            with translated(f"ECS UpdateService {target.cluster}/{target.service}",
                            ("ServiceNotFoundException", "ServiceNotActiveException", "ClusterNotFoundException")):
                self._ecs.update_service(cluster=target.cluster, service=target.service, desiredCount=replicas)
            return
        if self._kubernetes is None:
            raise Unavailable(f"Deployment {target.namespace}/{target.name}: no Kubernetes adapter wired", "NoKubernetes")
        self._kubernetes.scale(target.cluster, target.namespace, target.name, replicas)
