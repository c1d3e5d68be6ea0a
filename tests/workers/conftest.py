"""Fixtures for the workers: images made on the fly, and moto with a bucket, a work queue and a completions queue."""
import io
import json
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from workers.worker import Settings

BUCKET = "ballast-photos"
VISIBILITY_TIMEOUT_S = 30


def encode(im: Image.Image, fmt: str, **params) -> bytes:
    out = io.BytesIO()
    im.save(out, fmt, **params)
    return out.getvalue()


def gradient(size=(320, 240), mode="RGB") -> Image.Image:
    """A smooth picture with distinct corners, so orientation and corner edits are observable."""
    im = Image.linear_gradient("L").resize(size).convert("RGB")
    im.paste((250, 30, 30), (0, 0, size[0] // 4, size[1] // 4))
    return im.convert(mode)


def open_bytes(data: bytes) -> Image.Image:
    return Image.open(io.BytesIO(data))


@pytest.fixture
def aws(monkeypatch):
    """moto's S3 and SQS, a worker's Settings pointing at them, and the clients to look at what it did."""
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_SESSION_TOKEN": "testing", "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("AWS_ENDPOINT_URL", raising=False)
    with mock_aws():
        sqs, s3 = boto3.client("sqs"), boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        attributes = {"VisibilityTimeout": str(VISIBILITY_TIMEOUT_S)}
        work = sqs.create_queue(QueueName="photos-work", Attributes=attributes)["QueueUrl"]
        completions = sqs.create_queue(QueueName="photos-completions")["QueueUrl"]
        yield SimpleNamespace(sqs=sqs, s3=s3, work=work, completions=completions, bucket=BUCKET,
                              settings=lambda op, **knobs: Settings(op, work, completions, BUCKET, **{
                                  "poll_wait_s": 0, "visibility_timeout_s": VISIBILITY_TIMEOUT_S,
                                  "worker_id": "test-worker", **knobs}))


def upload(aws, op: str, name: str, data: bytes, job_id: str | None = None) -> dict:
    """What ingest does: store the original and enqueue its work message; returns the message body."""
    key = f"input/{op}/{name}"
    aws.s3.put_object(Bucket=aws.bucket, Key=key, Body=data)
    body = {"jobId": job_id or f"job-{name}", "bucket": aws.bucket, "key": key, "op": op,
            "outputKey": f"output/{op}/{name}", "enqueuedAt": "2025-01-01T00:00:00.000+00:00"}
    aws.sqs.send_message(QueueUrl=aws.work, MessageBody=json.dumps(body))
    return body


def completions(aws) -> list[dict]:
    bodies = []
    while True:
        messages = aws.sqs.receive_message(QueueUrl=aws.completions, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            aws.sqs.delete_message(QueueUrl=aws.completions, ReceiptHandle=message["ReceiptHandle"])


def queue_depth(aws) -> tuple[int, int]:
    """(visible, in flight) on the work queue."""
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=aws.work, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def output(aws, key: str) -> bytes:
    return aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()
