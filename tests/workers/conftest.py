"""Fixtures for the workers: images made on the fly, moto with a bucket, a work queue and a completions queue, and a
stub of the ECS agent's task-protection endpoint."""
import http.server
import io
import json
import threading
from types import SimpleNamespace

import boto3
import pytest
from moto import mock_aws
from PIL import Image

from workers.settings import Settings

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


def reports(aws) -> tuple[list[dict], list[dict]]:
    """Drains the completions queue: (the workers' "started" messages, their completions)."""
    starts, ends = [], []
    while True:
        messages = aws.sqs.receive_message(QueueUrl=aws.completions, MaxNumberOfMessages=10).get("Messages", [])
        if not messages:
            return starts, ends
        for message in messages:
            body = json.loads(message["Body"])
            (starts if body["status"] == "started" else ends).append(body)
            aws.sqs.delete_message(QueueUrl=aws.completions, ReceiptHandle=message["ReceiptHandle"])


def completions(aws) -> list[dict]:
    return reports(aws)[1]


def queue_depth(aws) -> tuple[int, int]:
    """(visible, in flight) on the work queue."""
    attributes = aws.sqs.get_queue_attributes(
        QueueUrl=aws.work, AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def output(aws, key: str) -> bytes:
    return aws.s3.get_object(Bucket=aws.bucket, Key=key)["Body"].read()


class EcsAgentStub:
    """The ECS agent's task-protection endpoint on 127.0.0.1: records each request and answers as the agent does.

    By default it grants what is asked, shaped as the agent answers; `answer = (status, body)` makes it answer that.
    """

    TASK_ARN = "arn:aws:ecs:us-east-1:123456789012:task/photos/0123456789abcdef0"

    def __init__(self):
        self.requests: list[tuple[str, str, str | None, dict]] = []  # method, path, content type, JSON body
        self.answer: tuple[int, bytes] | None = None
        stub = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_PUT(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                stub.requests.append((self.command, self.path, self.headers.get("Content-Type"), body))
                status, data = stub.answer or (200, json.dumps({"protection": {
                    "ExpirationDate": "2025-01-01T00:10:00Z" if body["ProtectionEnabled"] else None,
                    "ProtectionEnabled": body["ProtectionEnabled"], "TaskArn": stub.TASK_ARN}}).encode())
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, format, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.uri = f"http://127.0.0.1:{self.server.server_address[1]}/api/0123456789abcdef0"
        self.path = "/api/0123456789abcdef0/task-protection/v1/state"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def bodies(self) -> list[dict]:
        return [body for _, _, _, body in self.requests]


@pytest.fixture
def ecs_agent():
    stub = EcsAgentStub()
    yield stub
    stub.server.shutdown()
    stub.server.server_close()
