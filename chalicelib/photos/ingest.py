"""Ingest of DESIGN.md "How data flows": each uploaded image becomes a Job and a work message, and a fleet at zero is woken.

One write and one send per image, in an order that loses nothing on a crash: create the Job already marked as enqueued
by this invocation (enqueuedAt, and enqueuedBy: the Lambda request id) → send the work message. Lambda retries a
failed asynchronous invocation under the same request id, so a retry's create conflicts with a Queued job this very
invocation made and may never have sent: it is sent. Any other existing job, another invocation's (S3 delivered the
event twice) or a finished one, is a true duplicate: nothing is sent. Only a retry of an invocation that failed after
its send yields a second message for one image; the worker finds the output stored (or the completion finds the job
finished), so it costs one extra delivery, never a loss. After the send nothing fails the invocation, so that retry
follows a failed send alone. (A mark written after the send instead cost a second conditional write per image.)
"""
from __future__ import annotations

import threading
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from chalice.app import S3Event

from chalicelib import config, wiring
from chalicelib.photos import job
from chalicelib.core import backlog, tracking
from chalicelib.errors import BallastError, Conflict
from chalicelib.model import workload_from

logger = Logger(child=True)
EMPTY = "empty object"
# The workers' own limit (workers/worker.py MAX_INPUT_BYTES; a test keeps the two equal): larger uploads never reach a queue.
MAX_INPUT_BYTES = 200 * 2**20
# A burst of uploads is a burst of invocations: each warm one lists the Workloads at most once a second. Whether a
# workload is at zero (and needs a nudge) may so be a second old: a nudge too many costs the controller a lease attempt;
# one too few (a workload put to sleep in that second) leaves its wake to the next scheduled tick.
_workloads = job.WorkloadCache(ttl_s=1)


class ArrivalTally:
    """The arrivals this execution environment counted, written to the stats at most once a second per workload.

    A write per upload to its workload's stats item of the minute would be, in a burst, thousands of writes a second
    to one item (DynamoDB takes about a thousand per item), and was half of ingest's work. The first arrival after a
    quiet second is written at once, with its lastArrivalAt (a trickle is seen as soon as it lands); later ones are
    held and written by the first invocation a second or more after the last write. The price: the last second of a
    burst waits for this environment's next invocation, or is lost with the environment. The minute's count is then
    short by at most a second's arrivals per environment, and lastArrivalAt up to a second early; the controller reads
    neither finer than that (the arrival rate is a minute's average, the cooldown minutes long).
    """

    def __init__(self, every_s: float = 1.0):
        self._every = timedelta(seconds=every_s)
        self._lock = threading.Lock()  # the local runtime runs a few invocations in one interpreter
        self._store = None
        # (workload, minute) -> (count, last at); a workload is its (namespace, name) stats ref
        self._held: dict[tuple[tuple[str, str], datetime], tuple[int, datetime]] = {}
        self._written: dict[tuple[str, str], datetime] = {}

    def add(self, store, name: tuple[str, str], count: int, at: datetime) -> None:
        with self._lock:
            if store is not self._store:
                self._store, self._held, self._written = store, {}, {}
            self._hold(name, count, at)
            last = self._written.get(name)
            if last is not None and at - last < self._every:
                return
            self._written[name] = at
            due = [(minute, self._held.pop((held_name, minute))) for held_name, minute in list(self._held)
                   if held_name == name]
        namespace, workload = name
        for _, (count, last_at) in sorted(due):
            try:
                store.add_stats(workload, last_at, {tracking.ARRIVED: count}, stamp=tracking.LAST_ARRIVAL,
                                namespace=namespace)
            except BallastError as error:
                logger.warning("arrivals not written; the next write carries them",
                               extra={"workload": name, "error": str(error)})
                with self._lock:
                    self._hold(name, count, last_at)

    def _hold(self, name: tuple[str, str], count: int, at: datetime) -> None:
        key = (name, at.replace(second=0, microsecond=0))  # a minute's arrivals are written to that minute's item
        held, last_at = self._held.get(key, (0, at))
        self._held[key] = (held + count, max(last_at, at))

    def held(self, name: tuple[str, str]) -> int:
        """Arrivals of `name` (namespace, workload) counted but not written yet."""
        with self._lock:
            return sum(count for (held_name, _), (count, _) in self._held.items() if held_name == name)


arrivals = ArrivalTally()


class S3Notification(S3Event):
    """Chalice's S3Event, surviving the s3:TestEvent S3 sends (with no Records) when a notification is configured."""

    def _extract_attributes(self, event_dict: dict) -> None:
        if event_dict.get("Records"):
            super()._extract_attributes(event_dict)


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    op: str
    output_key: str
    size: int
    etag: str
    version: str


def ingest(event: dict, invocation: str) -> None:
    """Handles every record of an S3 notification; `invocation` is the Lambda request id, which a retry keeps.

    Raises (so Lambda retries the event) only when a job could not be made or sent."""
    if event.get("Event") == "s3:TestEvent":
        logger.info("ignored S3 test event", extra={"bucket": event.get("Bucket")})
        return
    uploads = [upload for record in event.get("Records", []) if (upload := _upload(record))]
    if not uploads:
        return
    store, now = wiring.store(), datetime.now(timezone.utc)
    to_send: dict[str, list[dict]] = defaultdict(list)
    claimed: set[str] = set()
    for upload in uploads:
        body = _claim(store, upload, invocation, now)
        # One event may name one object twice; the second record would otherwise look like this invocation retried.
        if body and body["jobId"] not in claimed:
            claimed.add(body["jobId"])
            to_send[upload.op].append(body)
    if not to_send:
        return
    workloads = _workloads.get(store)
    for op, bodies in to_send.items():
        wiring.queues().send_batch(config.work_queue(op), bodies)
        logger.info("enqueued", extra={"op": op, "count": len(bodies), "workload": job.stats_ref(op, workloads)[1]})
        _after_send(store, op, len(bodies), workloads, now)


def _upload(record: dict) -> Upload | None:
    s3 = record.get("s3", {})
    bucket, obj = s3.get("bucket", {}).get("name"), s3.get("object", {})
    key = unquote_plus(obj.get("key", ""))
    try:
        op, output_key = job.parse_key(key)
    except job.BadKey as error:
        logger.info("ignored upload", extra={"bucket": bucket, "key": key, "why": str(error)})
        return None
    etag = obj.get("eTag", "")
    return Upload(bucket, key, op, output_key, int(obj.get("size", 0)), etag, job.version_of(obj.get("versionId"), etag))


def _claim(store, upload: Upload, invocation: str, now: datetime) -> dict | None:
    """Creates the upload's Job; returns what to send, or None when there is nothing to send."""
    status = job.queued()
    refusal = _refusal(upload)
    if refusal:
        status.update(phase=job.FAILED, reason=refusal, finishedAt=now.isoformat())
    else:
        status.update(enqueuedAt=now.isoformat(), enqueuedBy=invocation)
    manifest = job.manifest(upload.bucket, upload.key, upload.op, upload.output_key, upload.size, upload.etag,
                            upload.version, status)
    meta = manifest["metadata"]
    try:
        written = store.create(manifest)
    except Conflict:
        written = store.get(job.KIND, meta["namespace"], meta["name"])
        if written["status"]["phase"] != job.QUEUED or written["status"].get("enqueuedBy") != invocation:
            logger.info("duplicate upload event", extra={"job": meta["name"], "key": upload.key})
            return None
        logger.info("retried invocation sends its job again", extra={"job": meta["name"], "key": upload.key})
    if refusal:
        logger.info("upload refused", extra={"job": meta["name"], "key": upload.key, "why": refusal})
        return None
    return {"jobId": meta["name"], "bucket": upload.bucket, "key": upload.key, "op": upload.op,
            "outputKey": upload.output_key, "enqueuedAt": written["status"]["enqueuedAt"]}


def _refusal(upload: Upload) -> str | None:
    """Why no worker could make an image of this upload, judged by its size alone; None when one may try."""
    # Failing here spares a worker delivery: an empty object is no image, and one beyond the workers' limit would
    # only be refused by the worker (which checks the object's real length too, in case it changed since the event).
    if upload.size == 0:
        return EMPTY
    if upload.size > MAX_INPUT_BYTES:
        return f"file too large: {upload.size} bytes, limit {MAX_INPUT_BYTES}"
    return None


def _after_send(store, op: str, count: int, workloads: dict[str, dict], now: datetime) -> None:
    """Counts the arrivals and wakes a workload at zero. Neither fails the invocation: its retry would send again."""
    arrivals.add(store, job.stats_ref(op, workloads), count, now)
    workload = workloads.get(op)
    if not (workload and should_wake(workload, arrived=count)):
        return
    name = workload["metadata"]["name"]
    try:
        wiring.queues().send(config.NUDGE_QUEUE, {"workload": name, "namespace": workload["metadata"]["namespace"],
                                                  "at": now.isoformat(),
                                                  "reason": f"{count} new {op} jobs for a workload at zero"})
    except BallastError as error:
        # The controller's scheduled tick wakes the workload within a minute.
        logger.warning("nudge not sent", extra={"workload": name, "error": str(error)})
        return
    logger.info("nudged controller", extra={"workload": name})


def should_wake(workload: dict, arrived: int) -> bool:
    """A workload at zero (or never yet seen by the controller) that the controller has not already begun to scale."""
    status = workload.get("status", {})
    if status.get("desiredReplicas"):
        return False
    return backlog.should_wake(workload_from(workload), status.get("currentReplicas") or 0, arrived)
