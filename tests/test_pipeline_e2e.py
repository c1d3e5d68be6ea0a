"""The photo pipeline end to end on moto: S3 uploads → ingest → the real workers in-process → completions."""
import io
import uuid
from collections import Counter

import boto3
import pytest
from PIL import Image

from local import photos
from chalicelib import config
from chalicelib.photos import job
from tests.pipeline import BUCKET, depth, queue_url, s3_event, sqs_event
from workers import worker
from workers.settings import Settings

N = 30


class CountingS3:
    """The workers' S3 client, counting each output write per key."""

    def __init__(self, s3):
        self._s3, self.puts = s3, Counter()

    def put_object(self, **kwargs):
        self.puts[kwargs["Key"]] += 1
        return self._s3.put_object(**kwargs)

    def __getattr__(self, name):
        return getattr(self._s3, name)


def pump(client, queue, handler):
    """Delivers the queue to the handler as Lambda would, deleting what it did not report failed; returns failures."""
    sqs, url, failures = boto3.client("sqs"), queue_url(queue), []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0,
                                       MessageSystemAttributeNames=["All"]).get("Messages", [])
        if not messages:
            return failures
        failed = {f["itemIdentifier"] for f in client.lambda_.invoke(handler, sqs_event(messages, queue)).payload["batchItemFailures"]}
        failures += failed
        for m in messages:
            if m["MessageId"] not in failed:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])


@pytest.fixture
def uploaded(stack):
    """N photos (some bad) across the three operations, half under a user's prefix, in moto S3; and their events."""
    s3, made, events = boto3.client("s3"), [], []

    def put(name, data):
        index = len(made)
        op = config.OPERATIONS[index % len(config.OPERATIONS)]
        key = f"input/{op}/u-local/{name}" if index % 2 else f"input/{op}/{name.replace('-', ' ', 1)}"
        s3.put_object(Bucket=BUCKET, Key=key, Body=data)
        made.append(key)

    generated = photos.generate(put, N, seed=6, sizes=("small",), bad_fraction=0.2)
    for start in range(0, N, 4):  # S3 groups records into few-record events now and then
        keys = made[start:start + 4]
        event = s3_event(*((key, s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"]) for key in keys))
        for record, key in zip(event["Records"], keys):
            record["s3"]["object"]["eTag"] = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
            record["s3"]["object"]["sequencer"] = uuid.uuid4().hex[:18].upper()
        events.append(event)
    return list(zip(generated, made)), events


def test_thirty_uploads_become_outputs_or_failed_jobs_and_nothing_is_lost(client, store, uploaded):
    pictures, events = uploaded
    for event in events + events[:2]:  # S3 delivers at least once: the first two events arrive twice
        client.lambda_.invoke("on_upload", event)

    s3 = CountingS3(boto3.client("s3"))
    sqs = boto3.client("sqs")
    for op in config.OPERATIONS:
        settings = Settings(op=op, work_queue_url=queue_url(config.work_queue(op)),
                            completions_queue_url=queue_url(config.COMPLETIONS_QUEUE), bucket=BUCKET,
                            poll_wait_s=0, worker_id=f"e2e-{op}")
        worker.drain(settings, sqs=sqs, s3=s3)
    assert pump(client, config.COMPLETIONS_QUEUE, "on_completion") == []

    jobs = {j["spec"]["key"]: j for ns in ("default", "u-local") for j in store.list_all("Job", ns)}
    assert sorted(jobs) == sorted(key for _, key in pictures)  # one job per upload, duplicates collapsed
    for photo, key in pictures:
        record = jobs[key]
        status, op = record["status"], record["spec"]["op"]
        if photo.bad:
            assert (status["phase"], bool(status["reason"]), status["output"]) == ("Failed", True, None), photo
            assert (status["reason"] == "empty object") == (photo.kind == "zero-bytes"), (photo, status["reason"])
            continue
        assert status["phase"] == "Done", (photo, status)
        out = Image.open(io.BytesIO(s3.get_object(Bucket=BUCKET, Key=job.parse_key(key)[1])["Body"].read()))
        assert (status["output"]["width"], status["output"]["height"]) == out.size
        assert out.format == ("PNG" if photo.name.endswith(".png") else "JPEG")
        if op == "thumbnail":
            assert max(out.size) == 256 and abs(out.width / out.height - photo.width / photo.height) < 0.02, photo
        else:
            assert out.size == (photo.width, photo.height), photo
        if op == "grayscale":
            assert out.mode in ("L", "LA"), photo
        if photo.kind == "png-alpha":
            assert "A" in out.mode, photo

    assert [k for k, n in s3.puts.items() if n > 1] == []  # no output written twice
    queues = [config.work_queue(op) for op in config.OPERATIONS] + [config.COMPLETIONS_QUEUE, config.DEAD_LETTER_QUEUE]
    assert {q: depth(q) for q in queues} == {q: (0, 0) for q in queues}
    done = sum(1 for photo, _ in pictures if not photo.bad)
    assert sum(n for n in s3.puts.values()) == done
