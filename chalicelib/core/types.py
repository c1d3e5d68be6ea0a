"""The values that flow through DESIGN.md "The decision core": observations and history in, proposals and decisions out."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Mapping

from chalicelib.model import Condition, Event


def _time(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value) if value else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


# ---- what one metric module says --------------------------------------------------------------------


@dataclass(frozen=True)
class Proposal:
    """One metric's recommendation; `valid=False` means the metric could not be read and `replicas` is meaningless."""

    replicas: int
    metric: str  # "backlog:photos-thumbnail", "resource:cpu", ...
    reason: str  # a constant of the proposing module, e.g. backlog.ABOVE_TARGET or utilization.FAILED_GET_RESOURCE_METRIC
    message: str = ""  # one human line: "backlog 420 at 10 per replica"
    valid: bool = True


# ---- what the shell observed this tick --------------------------------------------------------------


@dataclass(frozen=True)
class PodSample:
    """One task or pod as the metrics API and the pod list see it (HPA's podList + PodMetricsInfo, joined by name)."""

    name: str
    value: float | None  # usage in the metric's unit (millicores, MiB, or a custom unit); None = no metric for this pod
    request: float | None = None  # the pod's request of the resource, needed for Utilization targets
    phase: str = "Running"  # "Pending" | "Running" | "Succeeded" | "Failed"
    ready: bool | None = True  # the Ready condition; None = the pod has no Ready condition yet
    started_at: datetime | None = None
    ready_changed_at: datetime | None = None  # lastTransitionTime of the Ready condition
    sampled_at: datetime | None = None  # end of the metric's window
    window_s: float = 60.0
    deleting: bool = False

    @classmethod
    def from_dict(cls, data: Mapping) -> PodSample:
        times = {"started_at", "ready_changed_at", "sampled_at"}
        return cls(**{k: (_time(v) if k in times else v) for k, v in data.items()})


@dataclass(frozen=True)
class ResourceUsage:
    """CPU or memory of a fleet (or of one container of its tasks): per-pod samples, or the fleet's averages."""

    pods: tuple[PodSample, ...] = ()
    average_utilization: float | None = None  # percent of the request, e.g. CloudWatch CPUUtilization of a service
    average_value: float | None = None  # usage per task (CPU units, MiB) where the source reports it

    @classmethod
    def from_dict(cls, data: Mapping) -> ResourceUsage:
        return cls(tuple(PodSample.from_dict(p) for p in data.get("pods", ())), data.get("average_utilization"),
                   data.get("average_value"))


@dataclass(frozen=True)
class QueueDepth:
    """SQS ApproximateNumberOfMessages{,NotVisible,Delayed} of the workload's queue."""

    visible: int
    in_flight: int = 0
    delayed: int = 0

    def backlog(self, include_delayed: bool, include_in_flight: bool = True) -> int:
        """KEDA's queue length: visible, plus in flight (scaleOnInFlight) and delayed (scaleOnDelayed) as configured."""
        return self.visible + (self.in_flight if include_in_flight else 0) + (self.delayed if include_delayed else 0)


@dataclass(frozen=True)
class ThroughputSample:
    """Work finished over an interval: `items` completed using `replica_seconds` of busy replica time."""

    items: float
    replica_seconds: float


@dataclass(frozen=True)
class Observation:
    """Everything the shell read about one workload this tick; None marks a source that could not be read."""

    replicas: int  # the fleet's current desired count (ECS desiredCount, Deployment spec.replicas)
    ready: int | None = None  # running and ready tasks; None = unknown, taken as `replicas`
    running: int = 0
    pending: int = 0
    resources: Mapping[str, ResourceUsage | None] = field(default_factory=dict)  # "cpu" | "memory"
    queue: QueueDepth | None = None
    # CloudWatch series by metric key (External, Pods, Object); resources also by ContainerResourceMetric.key.
    external: Mapping[str, float | None] = field(default_factory=dict)
    throughput: tuple[ThroughputSample, ...] = ()  # completions since the last tick
    startup_s: float | None = None  # measured seconds from desired to ready for new tasks
    arrival_per_s: float | None = None  # items arriving in the queue per second, recently
    # When ingest last sent work to the queue: a trickle drained between ticks still shows it was busy.
    last_arrival_at: datetime | None = None

    @property
    def ready_replicas(self) -> int:
        return self.replicas if self.ready is None else self.ready

    @classmethod
    def from_dict(cls, data: Mapping) -> Observation:
        queue = data.get("queue")
        return cls(
            replicas=data["replicas"],
            ready=data.get("ready"),
            running=data.get("running", 0),
            pending=data.get("pending", 0),
            resources={k: (ResourceUsage.from_dict(v) if v is not None else None)
                       for k, v in data.get("resources", {}).items()},
            queue=QueueDepth(**queue) if queue is not None else None,
            external=dict(data.get("external", {})),
            throughput=tuple(ThroughputSample(**s) for s in data.get("throughput", ())),
            startup_s=data.get("startup_s"),
            arrival_per_s=data.get("arrival_per_s"),
            last_arrival_at=_time(data.get("last_arrival_at")),
        )


# ---- what the core remembers between ticks (stored by record(), read back by observe()) -------------


@dataclass(frozen=True)
class Recommendation:
    replicas: int
    at: datetime


@dataclass(frozen=True)
class ScaleEvent:
    change: int  # pods added (scale-up list) or removed (scale-down list), always positive
    at: datetime


@dataclass(frozen=True)
class History:
    """A workload's memory: HPA's recommendations and scale events, KEDA's last-active time, learned throughput."""

    recommendations: tuple[Recommendation, ...] = ()
    scale_up_events: tuple[ScaleEvent, ...] = ()
    scale_down_events: tuple[ScaleEvent, ...] = ()
    queue_last_nonempty_at: datetime | None = None
    throughput_per_s: float | None = None  # smoothed items per second per replica
    throughput_samples: int = 0  # readings that held completions
    throughput_busy_s: float = 0.0  # replica-seconds of work behind the estimate, up to deadline.THROUGHPUT_MEMORY_S
    startup_s: float | None = None  # smoothed start-up latency
    startup_dev_s: float | None = None  # smoothed deviation of the start-ups from it
    last_scale_at: datetime | None = None
    last_scale_up_at: datetime | None = None  # when the newest tasks were asked for: billing runs from there
    waiting_since: datetime | None = None  # when work began waiting for the workload at zero (batching's clock)
    gap_s: float | None = None  # smoothed time from the queue draining to work coming back

    def evolve(self, **changes) -> History:
        """dataclasses.replace without its per-call field introspection: a tick builds thousands of these."""
        evolved = object.__new__(History)
        evolved.__dict__.update(self.__dict__, **changes)
        return evolved

    def to_dict(self) -> dict:
        return {
            "recommendations": [{"replicas": r.replicas, "at": r.at.isoformat()} for r in self.recommendations],
            "scale_up_events": [{"change": e.change, "at": e.at.isoformat()} for e in self.scale_up_events],
            "scale_down_events": [{"change": e.change, "at": e.at.isoformat()} for e in self.scale_down_events],
            "queue_last_nonempty_at": _iso(self.queue_last_nonempty_at),
            "throughput_per_s": self.throughput_per_s,
            "throughput_samples": self.throughput_samples,
            "throughput_busy_s": self.throughput_busy_s,
            "startup_s": self.startup_s,
            "startup_dev_s": self.startup_dev_s,
            "last_scale_at": _iso(self.last_scale_at),
            "last_scale_up_at": _iso(self.last_scale_up_at),
            "waiting_since": _iso(self.waiting_since),
            "gap_s": self.gap_s,
        }

    @classmethod
    def from_dict(cls, data: Mapping | None) -> History:
        data = data or {}
        return cls(
            recommendations=tuple(Recommendation(r["replicas"], _time(r["at"])) for r in data.get("recommendations", ())),
            scale_up_events=tuple(ScaleEvent(e["change"], _time(e["at"])) for e in data.get("scale_up_events", ())),
            scale_down_events=tuple(ScaleEvent(e["change"], _time(e["at"])) for e in data.get("scale_down_events", ())),
            queue_last_nonempty_at=_time(data.get("queue_last_nonempty_at")),
            throughput_per_s=data.get("throughput_per_s"),
            throughput_samples=data.get("throughput_samples", 0),
            throughput_busy_s=data.get("throughput_busy_s", 0.0),
            startup_s=data.get("startup_s"),
            startup_dev_s=data.get("startup_dev_s"),
            last_scale_at=_time(data.get("last_scale_at")),
            last_scale_up_at=_time(data.get("last_scale_up_at")),
            waiting_since=_time(data.get("waiting_since")),
            gap_s=data.get("gap_s"),
        )


# ---- what the core decides ---------------------------------------------------------------------------


def _conditions_dict(conditions: tuple[Condition, ...]) -> list[dict]:
    return [{"type": c.type, "status": "True" if c.status else "False", "reason": c.reason, "message": c.message}
            for c in conditions]


@dataclass(frozen=True)
class Decision:
    """Replicas for one workload with the explanation: HPA conditions, events to record, the history to persist."""

    replicas: int
    conditions: tuple[Condition, ...]
    events: tuple[Event, ...]
    history: History
    reason: str  # the machine-readable why of `replicas`: a proposal's reason or a clamp's
    message: str  # one human line, also the message of the rescale event
    metric: str = ""  # the metric whose proposal won, "" when none did

    def to_dict(self) -> dict:
        return {"replicas": self.replicas, "reason": self.reason, "message": self.message, "metric": self.metric,
                "conditions": _conditions_dict(self.conditions), "events": [e.to_dict() for e in self.events],
                "history": self.history.to_dict()}


@dataclass(frozen=True)
class PoolObservation:
    """A node pool's current size (ASG desired capacity, EKS nodegroup desiredSize)."""

    nodes: int
    ready_nodes: int | None = None
    boot_s: float | None = None  # measured seconds from a scale-up to its nodes ready, when one completed this tick


@dataclass(frozen=True)
class PoolHistory:
    """When each surplus node became unneeded, oldest first (cluster-autoscaler's unneeded-since, by count)."""

    unneeded_since: tuple[datetime, ...] = ()
    boot_s: float | None = None  # smoothed boot-to-ready time of the pool's nodes

    def to_dict(self) -> dict:
        return {"unneeded_since": [t.isoformat() for t in self.unneeded_since], "boot_s": self.boot_s}

    @classmethod
    def from_dict(cls, data: Mapping | None) -> PoolHistory:
        data = data or {}
        return cls(tuple(_time(t) for t in data.get("unneeded_since", ())), data.get("boot_s"))


@dataclass(frozen=True)
class NodeDecision:
    nodes: int
    conditions: tuple[Condition, ...]
    events: tuple[Event, ...]
    history: PoolHistory
    reason: str
    message: str
    tasks: int = 0  # tasks planned onto the pool

    def to_dict(self) -> dict:
        return {"nodes": self.nodes, "reason": self.reason, "message": self.message, "tasks": self.tasks,
                "conditions": _conditions_dict(self.conditions),
                "events": [e.to_dict() for e in self.events], "history": self.history.to_dict()}


@dataclass(frozen=True)
class TickDecision:
    workloads: Mapping[str, Decision]  # by workload name
    pools: Mapping[str, NodeDecision]  # by pool name

    def to_dict(self) -> dict:
        return {"workloads": {k: d.to_dict() for k, d in self.workloads.items()},
                "pools": {k: d.to_dict() for k, d in self.pools.items()}}

