"""A worker of one operation (DESIGN.md, How data flows): long-poll → "started" → ops → S3 output → completion → delete.

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
import sys
import threading
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

from workers import ops
from workers.messages import Batch, Pace, complete, delete, now, report_started
from workers.process import Result, Work, process
from workers.protection import Protection
from workers.settings import Settings

log = logging.getLogger("ballast.worker")

# On SIGTERM the image in hand may run until this share of the stop timeout; then it is given back, so the
# process still exits (and releases its messages) before ECS sends SIGKILL.
ABANDON_FRACTION = 0.8
TICK_S = 0.25  # how often the main thread looks at the clock while an image is in hand


@dataclass
class Tally:
    """What one run did, message by message; returned to callers and logged at exit."""
    done: int = 0
    failed: int = 0
    retried: int = 0  # left for redelivery after an unexpected error
    released: int = 0  # given back unstarted (or abandoned) on stop
    invalid: int = 0  # bodies that are not work messages, left for the DLQ


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
    tally, pace = Tally(), Pace(settings)
    while not stop.is_set():
        _poll(settings, stop, sqs, s3, tally, protection, pace)
    return tally


def drain(settings: Settings, *, sqs: Any = None, s3: Any = None, protection: Protection | None = None) -> Tally:
    """Work until a receive comes back empty: the in-process worker of tests and of the local demo."""
    if sqs is None or s3 is None:
        sqs, s3 = clients()
    protection = protection or Protection(settings.agent_uri)
    tally, pace = Tally(), Pace(settings)
    while _poll(settings, threading.Event(), sqs, s3, tally, protection, pace):
        pass
    return tally


def _poll(settings: Settings, stop: threading.Event, sqs: Any, s3: Any, tally: Tally, protection: Protection,
          pace: Pace) -> int:
    messages = sqs.receive_message(
        QueueUrl=settings.work_queue_url, MaxNumberOfMessages=pace.batch(), WaitTimeSeconds=settings.poll_wait_s,
        MessageSystemAttributeNames=["ApproximateReceiveCount"],
    ).get("Messages", [])
    # Protected from the first work after idling to the next empty receive, so ECS scales in idle tasks and leaves
    # busy ones; per batch rather than per image, because the ECS API behind the agent is rate-limited.
    if not messages:
        protection.idle()
    elif not stop.is_set():  # a stopping worker gives the batch straight back: nothing to protect
        protection.busy()
        report_started(settings, sqs, messages)
    batch = Batch(settings, sqs, messages)
    for message in messages:
        if stop.is_set():
            break
        started = time.monotonic()
        _handle(settings, stop, sqs, s3, batch, message, tally, protection)
        pace.record(time.monotonic() - started)
    if stop.is_set() and batch.held:
        tally.released += batch.release()
    return len(messages)


def _handle(settings: Settings, stop: threading.Event, sqs: Any, s3: Any, batch: Batch, message: dict,
            tally: Tally, protection: Protection) -> None:
    received_at = now()
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

    def transform() -> None:
        try:
            outcome["result"] = process(settings, s3, work)
        except Exception as e:  # reported to the main thread, which decides; a worker thread must not die silently
            outcome["error"] = e
        finally:
            finished.set()

    # The image runs beside the main thread, which keeps the batch alive (heartbeats) and watches the stop deadline.
    threading.Thread(target=transform, name=f"image-{work.job_id}", daemon=True).start()
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
        complete(settings, sqs, work, result, received_at)
    except ClientError as e:
        log.error("completion not sent, message left for redelivery", extra={"jobId": work.job_id, "error": str(e)})
        tally.retried += 1
        return
    delete(settings, sqs, work)
    if result.status == "done":
        tally.done += 1
    else:
        tally.failed += 1
    log.info("image finished", extra={"jobId": work.job_id, "status": result.status, "reason": result.reason,
                                      "durationMs": result.duration_ms})


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
