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
    reason: str = ""


@dataclass
class Sample:
    t: float  # seconds since the timeline started
    ops: dict[str, OpSample]
    nodes_desired: int
    nodes_ready: int
    nodes_booting: int
    node_reason: str = ""


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
                      self._node_reason)

    def _refresh_reasons(self) -> None:
        """The newest event of each workload and of the node pool, through the API as `ballast events` shows them."""
        api = self.runtime.api
        for op, name in self.workloads.items():
            items = api.get("/events", involvedObject=f"Workload/{name}", limit="1").get("items", [])
            if items:
                self._reasons[op] = f"{items[0]['reason']}: {items[0]['message']}"
        items = api.get("/events", involvedObject="NodePool/local", limit="1").get("items", [])
        if items:
            self._node_reason = f"{items[0]['reason']}: {items[0]['message']}"
