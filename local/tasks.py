"""The nodes and tasks the node agent plays: what ECS and EC2 would hold, and which tasks ECS stops on a scale-in."""
from __future__ import annotations

import subprocess
import time
from dataclasses import dataclass, field

PENDING, RUNNING, STOPPING = "PENDING", "RUNNING", "STOPPING"


@dataclass
class Node:
    id: str
    cpu_millicores: int
    memory_mib: int
    ready_at: float  # monotonic: the simulated boot ends here

    def is_ready(self, now: float) -> bool:
        return now >= self.ready_at


@dataclass
class TaskDefinition:
    family: str
    cpu_millicores: int
    memory_mib: int
    command: list[str]
    environment: dict[str, str]
    stop_timeout_s: float


@dataclass
class Task:
    id: str
    service: str
    definition: TaskDefinition
    state: str = PENDING
    node: Node | None = None
    process: subprocess.Popen | None = None
    created: float = field(default_factory=time.monotonic)
    stop_deadline: float = 0.0
    record: dict | None = None
    protected_until: float = 0.0  # monotonic; set through the task-protection endpoint

    def is_protected(self, now: float) -> bool:
        return now < self.protected_until


def scale_in(live: list[Task], desired: int, now: float) -> list[Task]:
    """The tasks ECS stops when a service has more than desired: pending first, then the newest running ones, and
    never a protected one; protected tasks beyond desired keep running until released or expired, as ECS keeps them."""
    candidates = sorted((t for t in live if not t.is_protected(now)), key=lambda t: (t.state == RUNNING, -t.created))
    return candidates[: max(0, len(live) - desired)]


@dataclass(frozen=True)
class ServiceView:
    desired: int
    running: int
    pending: int
    stopping: int


@dataclass(frozen=True)
class Snapshot:
    """What the progress view shows: per service counts, and nodes ready / booting."""
    services: dict[str, ServiceView]
    nodes_ready: int
    nodes_booting: int
    nodes_desired: int
