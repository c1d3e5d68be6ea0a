"""Container fleets (ECS services, Kubernetes Deployments): observed counts in, desired counts out."""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

import botocore.config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from chalicelib.errors import BallastError, NotFound, Unavailable
from chalicelib.model import Target

if TYPE_CHECKING:
    from chalicelib.adapters.kubernetes import Kubernetes

# Adaptive mode adds client-side rate limiting to the retries, so a throttled tick slows down instead of hammering;
# the timeouts keep one stuck endpoint from eating the 15 s tick.
RETRY_CONFIG = botocore.config.Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=3, read_timeout=10)

THROTTLED = frozenset({"ThrottlingException", "Throttling", "TooManyRequestsException", "RequestLimitExceeded"})
DENIED = frozenset({"AccessDenied", "AccessDeniedException", "UnauthorizedOperation"})

DESCRIBE_SERVICES_LIMIT = 10  # ECS DescribeServices takes at most ten services per call
GONE = ("INACTIVE", "DRAINING")  # a deleted service stays describable for a while with one of these


def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def as_error(error: ClientError, what: str, not_found: Collection[str] = ()) -> BallastError:
    """The domain error for a botocore one: the caller's not-found codes → NotFound, anything else → Unavailable.

    Throttling and denial are named by code so the controller's condition can say which it was; other codes
    (validation, limits) are Unavailable too, because the loop retries next tick and must report, not crash.
    """
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    if code in not_found:
        return NotFound(f"{what}: {message}")
    return Unavailable(f"{what}: {message}", code)


@contextmanager
def translated(what: str, not_found: Collection[str] = ()) -> Iterator[None]:
    """Raise chalicelib.errors instead of botocore's, so nothing above the adapters imports botocore."""
    try:
        yield
    except ClientError as error:
        raise as_error(error, what, not_found) from None
    except (EndpointUnreachable, HTTPClientError) as error:
        raise Unavailable(f"{what}: {error}", "Unreachable") from None


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
