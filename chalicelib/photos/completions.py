"""Completions of DESIGN.md "How data flows": a worker's report (or a dead letter) ends its Job and feeds the throughput stats.

A worker also reports the jobs of each receive as started: they show Processing until their own completion ends them.

A Batch's record handlers serve Powertools' BatchProcessor: they raise on failure, so that record alone is reported in
batchItemFailures and comes back (a poison completion reaches the completions dead-letter queue after 5 receives).
The job's status is written first and counted only on that transition: a repeated completion counts once. The
batch's counts reach the stats in one write per workload when the batch ends; a stats write that fails is lost
rather than counted twice.
"""
from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import datetime, timezone

from aws_lambda_powertools import Logger
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from chalicelib import wiring
from chalicelib.core import tracking
from chalicelib.photos import job
from chalicelib.errors import BallastError, NotFound, Unavailable
from chalicelib.telemetry import metrics

logger = Logger(child=True)
# Names change when someone edits a Workload, rarely; one list per warm minute spares a query per record.
_workloads = job.WorkloadCache(ttl_s=60)


class PoisonCompletion(BallastError):
    """A message that will never mark a job: reported alone so it retries, then rests in the dead-letter queue."""

    reason = "PoisonCompletion"


class Batch:
    """One invocation's records: each ends its job at once; their counts are written together by flush()."""

    def __init__(self):
        self._counts: dict[tuple[str, str], Counter] = defaultdict(Counter)  # by (namespace, workload)

    def complete(self, record: SQSRecord) -> None:
        """A worker's message: its receive's jobs become Processing ("started"), or one job becomes Done with its
        output or Failed with the worker's reason."""
        body = _json(record.body)
        if body.get("status") == "started":
            self._start(record.message_id, body)
            return
        message = _parse(body)
        status = message.get("status")
        if status not in ("done", "failed"):
            raise PoisonCompletion(f"completion {record.message_id}: status must be started, done or failed, got {status!r}")
        if status == "done" and not message.get("outputKey"):
            raise PoisonCompletion(f"completion {record.message_id}: a done job needs outputKey")
        self._finish(message["jobId"], message["key"], _ended(message), supersedes_dead_letter=status == "done")

    def dead_letter(self, record: SQSRecord) -> None:
        """A work message SQS gave up on: its job becomes Failed, saying how many deliveries it had.

        Unlike a poison completion, a dead letter that names no job is dropped with a warning: the dead-letter queue
        has no queue behind it, so raising would only bring it back until its retention ends.
        """
        # SQS keeps the receive count when it moves a message; this Lambda's own receive is the last one.
        deliveries = max(int(record.attributes.approximate_receive_count or 1) - 1, 1)
        now = datetime.now(timezone.utc).isoformat()
        try:
            message = _parse(_json(record.body))
            self._finish(message["jobId"], message["key"], lambda status: {
                **status, "phase": job.FAILED, "finishedAt": now, "deadLettered": True,
                "reason": f"gave up after {deliveries} deliveries (worker crashed or timed out)"})
        except PoisonCompletion as error:
            logger.warning("dead letter dropped", extra={"messageId": record.message_id, "why": error.message})

    def flush(self) -> None:
        """The batch's stats, one write per workload, and one EMF line (none when nothing finished)."""
        store, now = wiring.store(), datetime.now(timezone.utc)
        for (namespace, name), counters in self._counts.items():
            try:
                store.add_stats(name, now, dict(counters), namespace=namespace)
            except Unavailable as error:
                logger.warning("throughput stats lost", extra={"workload": name, "namespace": namespace,
                                                               "counters": dict(counters), "why": str(error)})
        self._counts.clear()
        if metrics.metric_set:
            metrics.flush_metrics()

    def _start(self, message_id: str, body: dict) -> None:
        """Queued → Processing for each job of a worker's receive. SQS does not keep order: the job's own completion
        may have overtaken this message, and a later phase is never taken back. An entry naming no job, or a job
        deleted meanwhile, is skipped with a warning: the others still start."""
        jobs = body.get("jobs")
        if not isinstance(jobs, list) or not jobs:
            raise PoisonCompletion(f"started message {message_id} lists no jobs")

        def change(status: dict) -> dict | None:
            # A redelivery to another worker (the first one died) moves the job to it; a repeated message does nothing.
            moved = status["phase"] == job.PROCESSING and status.get("worker") != body.get("workerId")
            if status["phase"] != job.QUEUED and not moved:
                return None
            return {**status, "phase": job.PROCESSING, "startedAt": body.get("receivedAt"), "worker": body.get("workerId")}

        for entry in jobs:
            try:
                message = _parse(entry)
                job.update(wiring.store(), job.namespace_of(message["key"]), message["jobId"], change)
            except (PoisonCompletion, NotFound) as error:
                logger.warning("start of a job not shown", extra={"messageId": message_id, "why": str(error)})

    def _finish(self, job_id: str, key: str, end, supersedes_dead_letter: bool = False) -> None:
        namespace = job.namespace_of(key)
        superseded = False

        def change(status: dict) -> dict | None:
            nonlocal superseded
            # Terminal is final: a repeated or late completion (or a dead letter after a success) changes nothing.
            # Except a dead letter, which is Ballast giving up, not a result: a worker's success landing after it (a
            # slow worker whose message SQS moved meanwhile) has stored the output, and the job says so.
            gave_up = bool(status.get("deadLettered"))
            if status["phase"] in job.TERMINAL and not (supersedes_dead_letter and gave_up):
                return None
            superseded = gave_up  # job.update may call this again, on the job as re-read after a conflict
            return end({name: value for name, value in status.items() if name != "deadLettered"})

        try:
            written = job.update(wiring.store(), namespace, job_id, change)
        except NotFound:
            raise PoisonCompletion(f"job {namespace}/{job_id} does not exist") from None
        if written is None:
            logger.info("completion for a finished job ignored", extra={"job": job_id})
            return
        self._count(written, superseded)

    def _count(self, written: dict, superseded_dead_letter: bool) -> None:
        status, op = written["status"], written["spec"]["op"]
        done = status["phase"] == job.DONE
        counts = self._counts[job.stats_ref(op, _workloads.get(wiring.store()))]
        counts[tracking.DONE if done else tracking.FAILED] += 1
        if superseded_dead_letter:
            counts[tracking.FAILED] -= 1  # the dead letter counted it: each job counts once, by its final phase
        if status.get("durationMs") is not None:
            counts[tracking.BUSY_MS] += status["durationMs"]
        queue_ms = _between_ms(status.get("enqueuedAt"), status.get("finishedAt"))
        if queue_ms is not None:
            counts["queueMs"] += queue_ms
        metrics.add_metric(name="JobsCompleted" if done else "JobsFailed", unit=MetricUnit.Count, value=1)
        logger.info("job finished", extra={"job": written["metadata"]["name"], "op": op, "phase": status["phase"],
                                           "reason": status.get("reason"), "durationMs": status.get("durationMs")})


def _json(body: str) -> dict:
    try:
        message = json.loads(body)
    except ValueError:
        raise PoisonCompletion("message body is not JSON") from None
    if not isinstance(message, dict):
        raise PoisonCompletion("message body is not a JSON object")
    return message


def _parse(message: dict) -> dict:
    if not isinstance(message, dict) or not job.ID.fullmatch(str(message.get("jobId", ""))):
        raise PoisonCompletion("message has no valid jobId")
    if not isinstance(message.get("key"), str):
        raise PoisonCompletion(f"message for job {message['jobId']} has no key")
    return message


def _ended(message: dict):
    def change(status: dict) -> dict:
        done = message["status"] == "done"
        output = {"key": message["outputKey"], "bytes": message.get("bytesOut"), "width": message.get("width"),
                  "height": message.get("height")} if done else None
        return {**status, "phase": job.DONE if done else job.FAILED, "reason": None if done else message.get("reason"),
                "output": output, "enqueuedAt": status.get("enqueuedAt") or message.get("enqueuedAt"),
                "finishedAt": message.get("finishedAt"), "durationMs": message.get("durationMs"),
                "worker": message.get("workerId")}
    return change


def _between_ms(start: str | None, end: str | None) -> int | None:
    try:
        return max(int((datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds() * 1000), 0)
    except (TypeError, ValueError):
        return None
