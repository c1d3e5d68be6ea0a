"""Ingest of DESIGN.md "How data flows": each uploaded image becomes a Job and a work message, and a fleet at zero is woken.

Order, so that a crash anywhere loses nothing: create the Job (Queued, no enqueuedAt) → send the work message →
set enqueuedAt. A crash before the send leaves a Queued job without enqueuedAt; Lambda retries the S3 event (as S3
may deliver it again anyway), the create conflicts, and that job is sent again. A job that has enqueuedAt, or has
finished, is a true duplicate: nothing is sent. The window between send and enqueuedAt can yield a second message
for one image; the worker's output write and the completion are idempotent, so it costs one extra run, never a loss.
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timezone
from urllib.parse import unquote_plus

from aws_lambda_powertools import Logger
from chalice.app import S3Event

from chalicelib import config, job, wiring
from chalicelib.core import backlog
from chalicelib.errors import Conflict
from chalicelib.model import workload_from

logger = Logger(child=True)
EMPTY = "empty object"
# The workers' own limit (workers/worker.py MAX_INPUT_BYTES; a test keeps the two equal): larger uploads never reach a queue.
MAX_INPUT_BYTES = 200 * 2**20
# A burst of uploads is a burst of invocations: each warm one lists the Workloads at most once a second. Whether a
# workload is at zero (and needs a nudge) may so be a second old: a nudge too many costs the controller a lease attempt;
# one too few (a workload put to sleep in that second) leaves its wake to the next scheduled tick.
_workloads = job.WorkloadCache(ttl_s=1)


class S3Notification(S3Event):
    """Chalice's S3Event, surviving the s3:TestEvent S3 sends (with no Records) when a notification is configured."""

    def _extract_attributes(self, event_dict: dict) -> None:
        if event_dict.get("Records"):
            super()._extract_attributes(event_dict)


@dataclass(frozen=True)
class Claim:
    """A job ingest may send: its work message, and the Job as this invocation saw it."""
    body: dict
    job: dict


@dataclass(frozen=True)
class Upload:
    bucket: str
    key: str
    op: str
    output_key: str
    size: int
    etag: str
    version: str


def ingest(event: dict) -> None:
    """Handles every record of an S3 notification; raises (so Lambda retries the event) only when a send failed."""
    if event.get("Event") == "s3:TestEvent":
        logger.info("ignored S3 test event", extra={"bucket": event.get("Bucket")})
        return
    uploads = [upload for record in event.get("Records", []) if (upload := _upload(record))]
    if not uploads:
        return
    store, now = wiring.store(), datetime.now(timezone.utc)
    to_send: dict[str, list[Claim]] = defaultdict(list)
    claimed: set[str] = set()
    for upload in uploads:
        claim = _claim(store, upload, now)
        # One event may name one object twice; the second record would otherwise look like a crashed first send.
        if claim and claim.body["jobId"] not in claimed:
            claimed.add(claim.body["jobId"])
            to_send[upload.op].append(claim)
    if not to_send:
        return
    workloads = _workloads.get(store)
    for op, claims in to_send.items():
        _enqueue(store, op, claims, workloads.get(op), job.stats_name(op, workloads), now)


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


def _claim(store, upload: Upload, now: datetime) -> Claim | None:
    """Creates the upload's Job; returns what to send, or None when there is nothing to send."""
    status = job.queued()
    refusal = _refusal(upload)
    if refusal:
        status.update(phase=job.FAILED, reason=refusal, finishedAt=now.isoformat())
    manifest = job.manifest(upload.bucket, upload.key, upload.op, upload.output_key, upload.size, upload.etag,
                            upload.version, status)
    meta = manifest["metadata"]
    try:
        written = store.create(manifest)
    except Conflict:
        written = store.get(job.KIND, meta["namespace"], meta["name"])
        if written["status"]["phase"] != job.QUEUED or written["status"].get("enqueuedAt"):
            logger.info("duplicate upload event", extra={"job": meta["name"], "key": upload.key})
            return None
        logger.info("re-sending a job that was never marked enqueued", extra={"job": meta["name"], "key": upload.key})
    if refusal:
        logger.info("upload refused", extra={"job": meta["name"], "key": upload.key, "why": refusal})
        return None
    body = {"jobId": meta["name"], "bucket": upload.bucket, "key": upload.key, "op": upload.op,
            "outputKey": upload.output_key, "enqueuedAt": now.isoformat()}
    return Claim(body, written)


def _refusal(upload: Upload) -> str | None:
    """Why no worker could make an image of this upload, judged by its size alone; None when one may try."""
    # Failing here spares a worker delivery: an empty object is no image, and one beyond the workers' limit would
    # only be refused by the worker (which checks the object's real length too, in case it changed since the event).
    if upload.size == 0:
        return EMPTY
    if upload.size > MAX_INPUT_BYTES:
        return f"file too large: {upload.size} bytes, limit {MAX_INPUT_BYTES}"
    return None


def _enqueue(store, op: str, claims: list[Claim], workload: dict | None, stats_name: str, now: datetime) -> None:
    queues = wiring.queues()
    bodies = [claim.body for claim in claims]
    queues.send_batch(config.work_queue(op), bodies)
    for claim in claims:
        _mark_enqueued(store, claim)
    store.add_stats(stats_name, now, {"arrived": len(bodies)}, stamp=job.LAST_ARRIVAL)
    logger.info("enqueued", extra={"op": op, "count": len(bodies), "workload": stats_name})
    if workload and should_wake(workload, arrived=len(bodies)):
        queues.send(config.NUDGE_QUEUE, {"workload": workload["metadata"]["name"], "namespace": "default",
                                         "reason": f"{len(bodies)} new {op} jobs for a workload at zero",
                                         "at": now.isoformat()})
        logger.info("nudged controller", extra={"workload": workload["metadata"]["name"]})


def _mark_enqueued(store, claim: Claim) -> None:
    namespace, name, at = job.namespace_of(claim.body["key"]), claim.body["jobId"], claim.body["enqueuedAt"]
    try:
        # One conditional write on the version the claim saw; only when the job moved since is it read again.
        store.update_status(job.KIND, namespace, name, {**claim.job["status"], "enqueuedAt": at}, current=claim.job)
    except Conflict:
        job.update(store, namespace, name, _marked_enqueued(at))


def _marked_enqueued(at: str):
    def change(status: dict) -> dict | None:
        # A fast worker may have finished the job already: a terminal phase is never touched again.
        if status["phase"] != job.QUEUED or status.get("enqueuedAt"):
            return None
        return {**status, "enqueuedAt": at}
    return change


def should_wake(workload: dict, arrived: int) -> bool:
    """A workload at zero (or never yet seen by the controller) that the controller has not already begun to scale."""
    status = workload.get("status", {})
    if status.get("desiredReplicas"):
        return False
    return backlog.should_wake(workload_from(workload), status.get("currentReplicas") or 0, arrived)
