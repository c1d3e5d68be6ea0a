"""What the local runtime observes over time: per operation backlog, jobs and replicas, nodes, and the controller's reasons."""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field

log = logging.getLogger("local.timeline")

QUEUED, DONE, FAILED = "Queued", "Done", "Failed"


@dataclass
class OpSample:
    queued: int = 0  # visible in the work queue
    in_flight: int = 0  # received by a worker, not yet deleted
    done: int = 0
    failed: int = 0
    desired: int = 0
    running: int = 0
    pending: int = 0
    stopping: int = 0
    reason: str = ""  # the last tick's decision, from the workload's status


@dataclass(frozen=True)
class PoolSample:
    """A node pool as the controller's last tick left it in status."""
    desired: int
    ready: int
    booting: int
    decision: str


@dataclass
class Sample:
    t: float  # seconds since the timeline started
    ops: dict[str, OpSample]
    nodes_desired: int
    nodes_ready: int
    nodes_booting: int
    node_reason: str = ""
    pools: dict[str, PoolSample] = field(default_factory=dict)


@dataclass
class Timeline:
    """Samples every `period_s` from moto (queues), the agent (tasks, nodes), the store (jobs) and the API (events)."""
    runtime: object
    ops: tuple[str, ...]
    workloads: dict[str, str]  # op → Workload name
    period_s: float = 1.0
    jobs_period_s: float = 2.0
    samples: list[Sample] = field(default_factory=list)
    jobs: list[dict] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def __post_init__(self):
        import boto3

        from chalicelib import config, wiring

        self._sqs = boto3.client("sqs")
        self._store = wiring.store()
        self._queues = {op: self.runtime.queue_urls[config.work_queue(op)] for op in self.ops}
        self._services = self.runtime.services
        self._started = time.monotonic()
        self._started_epoch = time.time()
        self._jobs_at = 0.0
        self._reasons: dict[str, str] = {}
        self._node_reason = ""
        self._pools: dict[str, PoolSample] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="timeline", daemon=True)

    @property
    def started_epoch(self) -> float:
        return self._started_epoch

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)

    def latest(self) -> Sample | None:
        return self.samples[-1] if self.samples else None

    def refresh_jobs(self) -> list[dict]:
        self.jobs = self._store.list_all("Job", "default")
        self._jobs_at = time.monotonic()
        return self.jobs

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.samples.append(self._sample())
            except Exception as error:  # a slow moto answer loses one sample, not the run
                log.exception("sample failed")
                self.errors.append(f"{type(error).__name__}: {error}")
            self._stop.wait(self.period_s)

    def _sample(self) -> Sample:
        now = time.monotonic()
        if now - self._jobs_at >= self.jobs_period_s:
            self.refresh_jobs()
            self._refresh_reasons()
        snapshot = self.runtime.agent.snapshot()
        ops = {}
        for op in self.ops:
            attributes = self._sqs.get_queue_attributes(
                QueueUrl=self._queues[op], AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])["Attributes"]
            mine = [j["status"].get("phase") for j in self.jobs if j["spec"].get("op") == op]
            service = snapshot.services.get(self._services[op])
            ops[op] = OpSample(
                queued=int(attributes["ApproximateNumberOfMessages"]),
                in_flight=int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                done=mine.count(DONE), failed=mine.count(FAILED),
                desired=service.desired if service else 0, running=service.running if service else 0,
                pending=service.pending if service else 0, stopping=service.stopping if service else 0,
                reason=self._reasons.get(op, ""))
        return Sample(now - self._started, ops, snapshot.nodes_desired, snapshot.nodes_ready, snapshot.nodes_booting,
                      self._node_reason, dict(self._pools))

    def _refresh_reasons(self) -> None:
        """Each workload's and pool's decision of the last tick, from their status through the API as `ballast get
        -o wide` shows it (the last event may be minutes old: a tick that changes nothing writes none)."""
        from ballast import tables

        api = self.runtime.api
        pools = {p["metadata"]["name"]: p for p in api.all_items("/nodepools")}
        by_name = {w["metadata"]["name"]: w for w in api.all_items("/workloads")}
        for op, name in self.workloads.items():
            if name in by_name:
                self._reasons[op] = tables.decision(by_name[name], pools)
        self._pools = {name: PoolSample(int((p.get("status") or {}).get("desiredNodes") or 0),
                                        int((p.get("status") or {}).get("readyNodes") or 0), tables.pool_booting(p),
                                        tables.pool_decision(p)) for name, p in pools.items()}
        self._node_reason = "; ".join(f"{name}: {pool.decision}" for name, pool in self._pools.items())
