"""One image of a work message: input object → operation → output object, written once per job."""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from workers import ops
from workers.settings import Settings

log = logging.getLogger("ballast.worker")

# Inputs larger than this are refused before they are read: the pixel cap protects decode, this protects download.
MAX_INPUT_BYTES = 200 * 2**20
JOB_ID_TAG = "ballast-job-id"
# S3 refuses a conditional write with 412 when the condition failed, 409 when a concurrent one is in progress.
WRITTEN_MEANWHILE = ("PreconditionFailed", "ConditionalRequestConflict")


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


def process(settings: Settings, s3: Any, work: Work) -> Result:
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


def _ms_since(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)
