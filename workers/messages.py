"""The SQS side of a worker: the messages of a receive kept invisible while in hand, completions sent, deletes made."""
from __future__ import annotations

import json
import logging
import time
from datetime import datetime, timezone
from typing import Any

from botocore.exceptions import ClientError

from workers.process import Result, Work
from workers.settings import Settings

log = logging.getLogger("ballast.worker")

# Extend held messages when a third of the visibility timeout is left, so one slow call never lets them reappear.
HEARTBEAT_FRACTION = 1 / 3
MAX_BATCH = 10  # SQS's limit per receive
# The weight of the latest image in the measured pace: a few images move it, one outlier does not.
PACE_WEIGHT = 0.3


class Pace:
    """How many messages a receive takes: as many as this worker will have started within one heartbeat interval.

    Every message received is invisible to the other workers until it is done or its visibility lapses. Ten at a time
    (SQS's most) at several seconds an image left a killed worker's unstarted messages stranded for the whole timeout,
    and kept a newly started replica idle while one worker sat on the queue's last ten. Taking what this worker starts
    before its first heartbeat, the rest stay visible: a new replica takes them, and a kill strands only those.
    """

    def __init__(self, settings: Settings):
        self._horizon_s = settings.visibility_timeout_s * HEARTBEAT_FRACTION
        self._image_s: float | None = None  # unknown until the first image: one message then

    def record(self, seconds: float) -> None:
        self._image_s = seconds if self._image_s is None else (1 - PACE_WEIGHT) * self._image_s + PACE_WEIGHT * seconds

    def batch(self) -> int:
        if self._image_s is None:
            return 1
        return max(1, min(MAX_BATCH, int(self._horizon_s / max(self._image_s, 0.001))))


class Batch:
    """The messages of one receive that are still ours: kept invisible by heartbeats, given back on stop."""

    def __init__(self, settings: Settings, sqs: Any, messages: list[dict]):
        self.settings, self.sqs = settings, sqs
        self.held = {m["MessageId"]: m for m in messages}
        self.extended_at = time.monotonic()

    def drop(self, message: dict) -> None:
        self.held.pop(message["MessageId"], None)

    def heartbeat_if_due(self) -> None:
        interval = self.settings.visibility_timeout_s * HEARTBEAT_FRACTION
        if self.held and time.monotonic() - self.extended_at >= interval:
            self._change_visibility(self.settings.visibility_timeout_s)
            self.extended_at = time.monotonic()

    def release(self) -> int:
        count = len(self.held)
        self._change_visibility(0)
        self.held.clear()
        return count

    def _change_visibility(self, timeout_s: int) -> None:
        entries = [{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"], "VisibilityTimeout": timeout_s}
                   for i, m in enumerate(self.held.values())]
        try:
            response = self.sqs.change_message_visibility_batch(QueueUrl=self.settings.work_queue_url, Entries=entries)
        except ClientError as e:
            log.warning("visibility change failed", extra={"timeoutS": timeout_s, "error": str(e)})
            return
        for failure in response.get("Failed", []):
            # Usually a receipt handle that expired: the message went to another worker, which will redo it safely.
            log.warning("visibility change refused", extra={"timeoutS": timeout_s, "code": failure.get("Code")})
        log.debug("visibility changed", extra={"timeoutS": timeout_s, "messages": len(entries)})


def delete(settings: Settings, sqs: Any, work: Work) -> None:
    try:
        sqs.delete_message(QueueUrl=settings.work_queue_url, ReceiptHandle=work.receipt_handle)
    except ClientError as e:
        # The handle expired and another worker holds the message; it will find the output and complete again.
        log.warning("delete refused", extra={"jobId": work.job_id, "error": str(e)})


def report_started(settings: Settings, sqs: Any, messages: list[dict]) -> None:
    """One message for a receive's jobs, so their Jobs show Processing: a worker holds them and starts them within a
    heartbeat interval (Pace). Best effort: a job that never shows Processing still ends Done or Failed."""
    jobs = []
    for message in messages:
        try:
            body = json.loads(message["Body"])
        except (ValueError, KeyError, TypeError):
            continue  # _handle reports it when its turn comes
        if isinstance(body, dict) and isinstance(body.get("jobId"), str) and isinstance(body.get("key"), str):
            jobs.append({"jobId": body["jobId"], "key": body["key"]})
    if not jobs:
        return
    body = {"status": "started", "jobs": jobs, "receivedAt": now(), "workerId": settings.worker_id}
    try:
        sqs.send_message(QueueUrl=settings.completions_queue_url, MessageBody=json.dumps(body))
    except ClientError as e:
        log.warning("start not reported", extra={"jobs": len(jobs), "error": str(e)})


def complete(settings: Settings, sqs: Any, work: Work, result: Result, received_at: str) -> None:
    body = {
        "jobId": work.job_id, "op": work.op, "status": result.status, "reason": result.reason,
        "bucket": work.bucket, "key": work.key, "outputKey": work.output_key if result.status == "done" else None,
        "bytesIn": result.bytes_in, "bytesOut": result.bytes_out, "width": result.width, "height": result.height,
        "durationMs": result.duration_ms, "receivedAt": received_at, "finishedAt": now(),
        "enqueuedAt": work.enqueued_at, "receiveCount": work.receive_count, "workerId": settings.worker_id,
    }
    sqs.send_message(QueueUrl=settings.completions_queue_url, MessageBody=json.dumps(body))


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")
