"""Helpers the pipeline tests share: S3 notifications shaped like the golden event, queue draining, workloads."""
import copy
import hashlib
import json
from urllib.parse import quote_plus

import boto3

from chalicelib.spec import parse_spec
from local.events import sqs_record
from tests.conftest import load_event

BUCKET = "ballast-dev-photos"


def s3_event(*objects: tuple[str, int]) -> dict:
    """An ObjectCreated notification for (key, size) pairs, keys encoded as S3 encodes them."""
    template = load_event("s3_object_created")["Records"][0]
    records = []
    for key, size in objects:
        record = copy.deepcopy(template)
        record["s3"]["object"].update(key=quote_plus(key, safe="/"), size=size,
                                      eTag=hashlib.md5(f"{key}:{size}".encode()).hexdigest())
        records.append(record)
    return {"Records": records}


def queue_url(name: str) -> str:
    return boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def depth(name: str) -> tuple[int, int]:
    """(visible, in flight) of a queue."""
    attributes = boto3.client("sqs").get_queue_attributes(
        QueueUrl=queue_url(name), AttributeNames=["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    )["Attributes"]
    return int(attributes["ApproximateNumberOfMessages"]), int(attributes["ApproximateNumberOfMessagesNotVisible"])


def sqs_event(messages: list[dict], queue: str) -> dict:
    """Received SQS messages as the Lambda event source mapping hands them over, built as the local pump builds them."""
    return {"Records": [sqs_record(m, f"arn:aws:sqs:us-east-1:123456789012:{queue}", "us-east-1") for m in messages]}


def drain(queue: str) -> list[dict]:
    """Every message body on the queue, deleted as read."""
    sqs = boto3.client("sqs")
    url = sqs.get_queue_url(QueueName=queue)["QueueUrl"]
    bodies = []
    while True:
        messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0).get("Messages", [])
        if not messages:
            return bodies
        for message in messages:
            bodies.append(json.loads(message["Body"]))
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])


def workload(store, op: str, current: int | None = None, desired: int | None = None, name: str | None = None,
             namespace: str = "default") -> dict:
    created = store.create(parse_spec("Workload", {
        "metadata": {"name": name or f"photos-{op}", "namespace": namespace},
        "spec": {"target": {"kind": "ECSService", "cluster": "ballast-dev", "service": f"photos-{op}"},
                 "queue": {"name": f"ballast-dev-{op}"}, "minReplicas": 0, "maxReplicas": 10},
    }))
    if current is None and desired is None:
        return created
    return store.update_status("Workload", namespace, created["metadata"]["name"],
                               {"currentReplicas": current, "desiredReplicas": desired})


def upload(client, key: str, data: bytes) -> dict:
    """Puts the object into (moto) S3 and delivers the notification S3 would send for it."""
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key=key, Body=data)
    event = s3_event((key, len(data)))
    event["Records"][0]["s3"]["object"]["eTag"] = s3.head_object(Bucket=BUCKET, Key=key)["ETag"].strip('"')
    client.lambda_.invoke("on_upload", event)
    return event
