"""A worker of one operation (DESIGN.md, How data flows): long-poll → ops → S3 output → delete message → completion.

    BALLAST_OP=thumbnail WORK_QUEUE_URL=... COMPLETIONS_QUEUE_URL=... BALLAST_BUCKET=... python -m workers.worker

At-least-once from end to end: a message is deleted only after its output is stored, the output of a job is one key
with deterministic bytes (a repeat finds it by its job-id tag and skips the work), and the completions Lambda is
idempotent on jobId. A poison image ends as a "failed" completion; any other error leaves the message to come back.
"""
from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from workers import ops
from workers.protection import Protection

log = logging.getLogger("ballast.worker")

MAX_BATCH = 10  # SQS's limit per receive
LONG_POLL_S = 20  # SQS's longest wait
# Inputs larger than this are refused before they are read: the pixel cap protects decode, this protects download.
MAX_INPUT_BYTES = 200 * 2**20
# Extend held messages when a third of the visibility timeout is left, so one slow call never lets them reappear.
HEARTBEAT_FRACTION = 1 / 3
# On SIGTERM the image in hand may run until this share of the stop timeout; then it is given back, so the
# process still exits (and releases its messages) before ECS sends SIGKILL.
ABANDON_FRACTION = 0.8
TICK_S = 0.25  # how often the main thread looks at the clock while an image is in hand
JOB_ID_TAG = "ballast-job-id"
# S3 refuses a conditional write with 412 when the condition failed, 409 when a concurrent one is in progress.
WRITTEN_MEANWHILE = ("PreconditionFailed", "ConditionalRequestConflict")


@dataclass(frozen=True)
class Settings:
    op: str
    work_queue_url: str
    completions_queue_url: str
    bucket: str
    watermark_logo: str = str(ops.DEFAULT_LOGO)
    thumbnail_size: int = ops.DEFAULT_THUMBNAIL_SIZE
    max_pixels: int = ops.DEFAULT_MAX_PIXELS
    stop_timeout_s: float = 30.0
    visibility_timeout_s: int = 60
    poll_wait_s: int = LONG_POLL_S
    agent_uri: str | None = None  # ECS_AGENT_URI, which ECS sets in every task: the task-protection endpoint's base
    worker_id: str = field(default_factory=lambda: f"{socket.gethostname()}-{os.getpid()}")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] = os.environ, op: str | None = None) -> Settings:
        """The container's contract: BALLAST_OP (or op), three required names, optional knobs with defaults."""
        op = op or environ.get("BALLAST_OP", "")
        if op not in ops.OPS:
            raise ValueError(f"BALLAST_OP must be one of {', '.join(ops.OPS)}, got {op!r}")
        missing = [name for name in ("WORK_QUEUE_URL", "COMPLETIONS_QUEUE_URL", "BALLAST_BUCKET") if not environ.get(name)]
        if missing:
            raise ValueError(f"missing environment variables: {', '.join(missing)}")
        stop_timeout_s = float(environ.get("STOP_TIMEOUT_S", 30))
        return cls(
            op=op,
            work_queue_url=environ["WORK_QUEUE_URL"],
            completions_queue_url=environ["COMPLETIONS_QUEUE_URL"],
            bucket=environ["BALLAST_BUCKET"],
            watermark_logo=environ.get("WATERMARK_LOGO") or str(ops.DEFAULT_LOGO),
            thumbnail_size=int(environ.get("THUMBNAIL_SIZE", ops.DEFAULT_THUMBNAIL_SIZE)),
            max_pixels=int(environ.get("MAX_PIXELS", ops.DEFAULT_MAX_PIXELS)),
            stop_timeout_s=stop_timeout_s,
            visibility_timeout_s=int(environ.get("VISIBILITY_TIMEOUT_S", 60)),
            # A receive cannot be interrupted, so it must end inside the stop timeout with time left to give back.
            poll_wait_s=max(1, min(LONG_POLL_S, int(stop_timeout_s) - 5)),
            agent_uri=environ.get("ECS_AGENT_URI") or None,
        )


@dataclass
class Tally:
    """What one run did, message by message; returned to callers and logged at exit."""
    done: int = 0
    failed: int = 0
    retried: int = 0  # left for redelivery after an unexpected error
    released: int = 0  # given back unstarted (or abandoned) on stop
    invalid: int = 0  # bodies that are not work messages, left for the DLQ


@dataclass(frozen=True)
class Work:
    job_id: str
    bucket: str
    key: str
    op: str
    output_key: str
    enqueued_at: str | None
    receive_count: int
    receipt_handle: str

    @classmethod
    def from_message(cls, message: dict) -> Work:
        body = json.loads(message["Body"])
        missing = [name for name in ("jobId", "bucket", "key", "op", "outputKey") if not isinstance(body.get(name), str)]
        if missing:
            raise ValueError(f"work message lacks {', '.join(missing)}")
        return cls(body["jobId"], body["bucket"], body["key"], body["op"], body["outputKey"], body.get("enqueuedAt"),
                   int(message.get("Attributes", {}).get("ApproximateReceiveCount", 1)), message["ReceiptHandle"])


@dataclass(frozen=True)
class Result:
    status: str  # "done" | "failed"
    reason: str | None = None
    bytes_in: int = 0
    bytes_out: int = 0
    width: int | None = None
    height: int | None = None
    duration_ms: float = 0.0


def clients() -> tuple[Any, Any]:
    """SQS and S3 clients, created at call time so moto's mock (and AWS_ENDPOINT_URL) applies."""
    config = Config(retries={"mode": "adaptive"})
    return boto3.client("sqs", config=config), boto3.client("s3", config=config)


def run(settings: Settings, stop: threading.Event, *, sqs: Any = None, s3: Any = None,
        protection: Protection | None = None) -> Tally:
    """Take batches until stop is set; the image in hand is finished, the rest of its batch given back."""
    if sqs is None or s3 is None:
        sqs, s3 = clients()
    protection = protection or Protection(settings.agent_uri)
    tally = Tally()
    while not stop.is_set():
        _poll(settings, stop, sqs, s3, tally, protection)
    return tally


def drain(settings: Settings, *, sqs: Any = None, s3: Any = None, protection: Protection | None = None) -> Tally:
    """Work until a receive comes back empty: the in-process worker of tests and of the local demo."""
    if sqs is None or s3 is None:
        sqs, s3 = clients()
    protection = protection or Protection(settings.agent_uri)
    tally = Tally()
    while _poll(settings, threading.Event(), sqs, s3, tally, protection):
        pass
    return tally


def _poll(settings: Settings, stop: threading.Event, sqs: Any, s3: Any, tally: Tally, protection: Protection) -> int:
    messages = sqs.receive_message(
        QueueUrl=settings.work_queue_url, MaxNumberOfMessages=MAX_BATCH, WaitTimeSeconds=settings.poll_wait_s,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    ).get("Messages", [])
    # Protected from the first work after idling to the next empty receive, so ECS scales in idle tasks and leaves
    # busy ones; per batch rather than per image, because the ECS API behind the agent is rate-limited.
    if not messages:
        protection.idle()
    elif not stop.is_set():  # a stopping worker gives the batch straight back: nothing to protect
        protection.busy()
    batch = _Batch(settings, sqs, messages)
    for message in messages:
        if stop.is_set():
            break
        _handle(settings, stop, sqs, s3, batch, message, tally, protection)
    if stop.is_set() and batch.held:
        tally.released += batch.release()
    return len(messages)


class _Batch:
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


def _handle(settings: Settings, stop: threading.Event, sqs: Any, s3: Any, batch: _Batch, message: dict,
            tally: Tally, protection: Protection) -> None:
    received_at = _now()
    try:
        work = Work.from_message(message)
    except (ValueError, KeyError, TypeError, AttributeError) as e:
        # Without a jobId there is no job to fail: the redrive policy takes it to the DLQ for a human.
        log.error("invalid work message", extra={"messageId": message.get("MessageId"), "error": str(e)})
        batch.drop(message)
        tally.invalid += 1
        return
    log.info("image started", extra={"jobId": work.job_id, "key": work.key, "receiveCount": work.receive_count})
    outcome: dict[str, Any] = {}
    finished = threading.Event()

    def process() -> None:
        try:
            outcome["result"] = _process(settings, s3, work)
        except Exception as e:  # reported to the main thread, which decides; a worker thread must not die silently
            outcome["error"] = e
        finally:
            finished.set()

    # The image runs beside the main thread, which keeps the batch alive (heartbeats) and watches the stop deadline.
    threading.Thread(target=process, name=f"image-{work.job_id}", daemon=True).start()
    abandon_at = None
    while not finished.wait(TICK_S if abandon_at is None else max(0.0, min(TICK_S, abandon_at - time.monotonic()))):
        batch.heartbeat_if_due()
        if not stop.is_set():
            protection.busy()  # a call only when two thirds of the protection have run: an image that outlasts it
        if stop.is_set() and abandon_at is None:
            abandon_at = time.monotonic() + settings.stop_timeout_s * ABANDON_FRACTION
        elif abandon_at is not None and time.monotonic() >= abandon_at:
            log.warning("image abandoned at stop deadline", extra={"jobId": work.job_id})
            return
    batch.drop(message)
    if "error" in outcome:
        log.error("image error, message left for redelivery", exc_info=outcome["error"],
                  extra={"jobId": work.job_id, "receiveCount": work.receive_count})
        tally.retried += 1
        return
    result: Result = outcome["result"]
    # Completion before delete: a crash between the two repeats the job (its stored output is found and reused,
    # and the completions Lambda ignores the repeat) instead of leaving it Queued forever.
    try:
        _complete(settings, sqs, work, result, received_at)
    except ClientError as e:
        log.error("completion not sent, message left for redelivery", extra={"jobId": work.job_id, "error": str(e)})
        tally.retried += 1
        return
    _delete(settings, sqs, work)
    if result.status == "done":
        tally.done += 1
    else:
        tally.failed += 1
    log.info("image finished", extra={"jobId": work.job_id, "status": result.status, "reason": result.reason,
                                      "durationMs": result.duration_ms})


def _process(settings: Settings, s3: Any, work: Work) -> Result:
    """Input → output object; poison input becomes a failed Result, anything unexpected raises."""
    started = time.perf_counter()
    refusal = _refusal(settings, work)
    if refusal:
        return Result("failed", refusal)
    existing, replaces = _existing_output(s3, work)
    if existing:
        return existing
    try:
        obj = s3.get_object(Bucket=work.bucket, Key=work.key)
    except ClientError as e:
        if e.response["Error"]["Code"] in ("NoSuchKey", "404"):
            return Result("failed", "input object no longer exists (deleted before it was processed)")
        raise
    if obj["ContentLength"] > MAX_INPUT_BYTES:
        obj["Body"].close()
        return Result("failed", f"file too large: {obj['ContentLength']} bytes, limit {MAX_INPUT_BYTES}",
                      bytes_in=obj["ContentLength"])
    data = obj["Body"].read()
    try:
        out = ops.apply(settings.op, data, thumbnail_size=settings.thumbnail_size, logo=settings.watermark_logo,
                        max_pixels=settings.max_pixels)
    except ops.BadImage as e:
        return Result("failed", e.reason, bytes_in=len(data), duration_ms=_ms_since(started))
    # Conditional on what the head saw: of two workers holding one message (SQS delivers at least once), only the
    # first write lands; the second finds that output and reports it, so a job's output is written once.
    precondition = {"IfMatch": replaces} if replaces else {"IfNoneMatch": "*"}
    try:
        s3.put_object(Bucket=work.bucket, Key=work.output_key, Body=out.data, ContentType=out.content_type,
                      Metadata={JOB_ID_TAG: work.job_id, "width": str(out.width), "height": str(out.height),
                                "bytes-in": str(len(data))}, **precondition)
    except ClientError as e:
        if e.response["Error"]["Code"] not in WRITTEN_MEANWHILE:
            raise
        existing, _ = _existing_output(s3, work)
        if existing is None:
            raise  # another job's output landed first: the message returns and the next attempt replaces it
        return existing
    return Result("done", None, len(data), len(out.data), out.width, out.height, _ms_since(started))


def _refusal(settings: Settings, work: Work) -> str | None:
    """A message this worker must not act on; checked so a misrouted message can never overwrite an original."""
    if work.op != settings.op:
        return f"message for {work.op!r} reached the {settings.op!r} worker"
    if work.bucket != settings.bucket:
        return f"message names bucket {work.bucket!r}, this worker serves {settings.bucket!r}"
    if not work.output_key.startswith(f"output/{settings.op}/") or ".." in work.output_key.split("/"):
        return f"output key {work.output_key!r} is outside output/{settings.op}/"
    return None


def _existing_output(s3: Any, work: Work) -> tuple[Result | None, str | None]:
    """(Result, None) when this job's output is already stored (an earlier attempt, or a twin delivery, wrote it) and
    the work is skipped; otherwise (None, the ETag of an older upload's output to replace, or None when there is none)."""
    try:
        head = s3.head_object(Bucket=work.bucket, Key=work.output_key)
    except ClientError as e:
        if e.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound"):
            return None, None
        raise
    tags = head.get("Metadata", {})
    if tags.get(JOB_ID_TAG) != work.job_id:
        return None, head["ETag"]  # an older upload under the same name: this job's output replaces it
    log.info("output already stored, work skipped", extra={"jobId": work.job_id, "outputKey": work.output_key})
    return Result("done", None, int(tags.get("bytes-in", 0)), head["ContentLength"], int(tags["width"]),
                  int(tags["height"]), 0.0), None


def _delete(settings: Settings, sqs: Any, work: Work) -> None:
    try:
        sqs.delete_message(QueueUrl=settings.work_queue_url, ReceiptHandle=work.receipt_handle)
    except ClientError as e:
        # The handle expired and another worker holds the message; it will find the output and complete again.
        log.warning("delete refused", extra={"jobId": work.job_id, "error": str(e)})


def _complete(settings: Settings, sqs: Any, work: Work, result: Result, received_at: str) -> None:
    body = {
        "jobId": work.job_id, "op": work.op, "status": result.status, "reason": result.reason,
        "bucket": work.bucket, "key": work.key, "outputKey": work.output_key if result.status == "done" else None,
        "bytesIn": result.bytes_in, "bytesOut": result.bytes_out, "width": result.width, "height": result.height,
        "durationMs": result.duration_ms, "receivedAt": received_at, "finishedAt": _now(),
        "enqueuedAt": work.enqueued_at, "receiveCount": work.receive_count, "workerId": settings.worker_id,
    }
    sqs.send_message(QueueUrl=settings.completions_queue_url, MessageBody=json.dumps(body))


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


class _JsonFormatter(logging.Formatter):
    """One JSON object per line, constant message plus the record's extra keys, as CloudWatch Logs Insights wants."""

    STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        line = {"level": record.levelname, "message": record.getMessage(), "logger": record.name,
                "timestamp": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds")}
        line.update({k: v for k, v in vars(record).items() if k not in self.STANDARD})
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return json.dumps(line, default=str)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m workers.worker", description="Run one Ballast photo worker.")
    parser.add_argument("--op", choices=ops.OPS, help="operation (default: $BALLAST_OP)")
    args = parser.parse_args(argv)
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(_JsonFormatter())
    logging.basicConfig(level=os.environ.get("LOG_LEVEL", "INFO"), handlers=[handler])
    try:
        settings = Settings.from_env(op=args.op)
    except ValueError as e:
        parser.error(str(e))
    stop = threading.Event()

    def request_stop(signum: int, _frame: Any) -> None:
        log.info("stop requested", extra={"signal": signal.Signals(signum).name})
        stop.set()

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    log.info("worker started", extra={"op": settings.op, "workerId": settings.worker_id})
    tally = run(settings, stop)
    log.info("worker stopped", extra=asdict(tally))
    return 0


if __name__ == "__main__":
    sys.exit(main())
