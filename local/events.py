"""The events Lambda hands a handler, shaped as AWS documents them: SQS records, S3 notifications, the schedule.

Also the two rules of the Lambda service the pump plays: which messages a partial-batch response keeps, and the
period of a rate() schedule.
"""
from __future__ import annotations

import base64
import re
import time
import uuid
from datetime import datetime, timezone

RATE = re.compile(r"rate\((\d+) (minute|minutes|hour|hours|day|days)\)")
RATE_UNITS_S = {"minute": 60, "hour": 3600, "day": 86400}


def _iso(epoch_s: float | None = None) -> str:
    return datetime.fromtimestamp(epoch_s or time.time(), timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def rate_seconds(expression: str) -> int:
    match = RATE.fullmatch(expression)
    if not match:
        raise ValueError(f"the local runtime fires rate(...) schedules only, got {expression!r}")
    return int(match.group(1)) * RATE_UNITS_S[match.group(2).rstrip("s")]


def sqs_record(message: dict, queue_arn: str, region: str) -> dict:
    """One record of a Lambda SQS event, from one message as ReceiveMessage returns it."""
    record = {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": dict(message.get("Attributes", {})),
        "messageAttributes": {name: _message_attribute(value) for name, value in message.get("MessageAttributes", {}).items()},
        "md5OfBody": message["MD5OfBody"],
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": region,
    }
    if "MD5OfMessageAttributes" in message:
        record["md5OfMessageAttributes"] = message["MD5OfMessageAttributes"]
    return record


def _message_attribute(value: dict) -> dict:
    # Lambda spells message attributes in camelCase and base64-encodes binary values.
    binary = value.get("BinaryValue")
    return {
        "stringValue": value.get("StringValue"),
        "binaryValue": base64.b64encode(binary).decode() if binary is not None else None,
        "stringListValues": list(value.get("StringListValues", [])),
        "binaryListValues": [base64.b64encode(b).decode() for b in value.get("BinaryListValues", [])],
        "dataType": value["DataType"],
    }


def complete_s3_event(event: dict, account: str, sequence: int) -> dict:
    """moto's notification omits fields S3 always sends; fill them in as S3 would, keeping what moto set."""
    for record in event["Records"]:
        record.setdefault("userIdentity", {"principalId": f"AWS:{account}"})
        record.setdefault("requestParameters", {"sourceIPAddress": "127.0.0.1"})
        record.setdefault("responseElements", {"x-amz-request-id": uuid.uuid4().hex[:16].upper(),
                                               "x-amz-id-2": base64.b64encode(uuid.uuid4().bytes * 2).decode()})
        s3 = record["s3"]
        s3["bucket"].setdefault("ownerIdentity", {"principalId": account})
        s3["object"].setdefault("sequencer", f"{sequence:016X}")
    return event


def schedule_event(rule_arn: str, account: str, region: str) -> dict:
    return {"version": "0", "id": str(uuid.uuid4()), "detail-type": "Scheduled Event", "source": "aws.events",
            "account": account, "time": _iso().split(".")[0] + "Z", "region": region, "resources": [rule_arn], "detail": {}}


def failed_ids(response: object, batch_ids: set[str]) -> set[str] | None:
    """The messages a partial-batch response asks to keep; None when Lambda would treat the whole batch as failed."""
    if response is None:
        return set()
    if not isinstance(response, dict):
        return None
    failures = response.get("batchItemFailures") or []
    ids = {f.get("itemIdentifier") for f in failures if isinstance(f, dict)}
    # Lambda fails the whole batch when an identifier is empty or names no message of the batch.
    if len(ids) != len(failures) or not ids <= batch_ids:
        return None
    return ids
