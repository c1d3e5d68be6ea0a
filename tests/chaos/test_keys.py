"""Names S3 allows and URLs treat specially (%2F, %25, ?, #, +, spaces) stored and read under the same key end to end,
on the local runtime's moto process: the images API's upload, S3's own notification, ingest, the worker, the API."""
import json
from urllib.parse import quote

import boto3
import pytest
import requests

from chalicelib import config, wiring
from local.events import complete_s3_event
from local.moto_server import ACCOUNT_ID
from tests.chaos.conftest import jpeg, pump
from tests.chaos.test_delivery import drain_workers
from tests.chaos.test_worker_signals import server  # noqa: F401 - the fixture: moto's process with the stack

NAMES = ["a%2Fb.jpg", "50%25 off.jpg", "what?.jpg", "#1.jpg", "a b+c.jpg", "été.jpg"]
EVENTS = "ballast-dev-test-s3-events"


@pytest.fixture
def notifications(server):  # noqa: F811
    """The bucket's notifications into a queue, as the local pump wires them; the bucket as infra/ballast.yaml makes it
    (unversioned: moto's notifications carry no versionId, S3's do for a versioned bucket)."""
    boto3.client("s3").put_bucket_versioning(Bucket=config.BUCKET, VersioningConfiguration={"Status": "Suspended"})
    sqs = boto3.client("sqs")
    url = sqs.create_queue(QueueName=EVENTS)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    boto3.client("s3").put_bucket_notification_configuration(Bucket=config.BUCKET, NotificationConfiguration={
        "QueueConfigurations": [{"QueueArn": arn, "Events": ["s3:ObjectCreated:*"],
                                 "Filter": {"Key": {"FilterRules": [{"Name": "prefix", "Value": "input/"}]}}}]})
    return url


def deliver_notifications(client, url: str) -> int:
    sqs, delivered = boto3.client("sqs"), 0
    while messages := sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1).get("Messages"):
        for message in messages:
            body = json.loads(message["Body"])
            if "Records" in body:
                client.lambda_.invoke("on_upload", complete_s3_event(body, ACCOUNT_ID, delivered))
                delivered += len(body["Records"])
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    return delivered


def test_odd_names_are_stored_processed_and_read_back_under_their_own_key(server, notifications):  # noqa: F811
    client, photo = server, jpeg((64, 48))
    for name in NAMES:
        answer = client.http.post("/images", headers={"Content-Type": "application/json"}, body=json.dumps(
            {"op": "grayscale", "name": name, "contentType": "image/jpeg", "size": len(photo)}))
        assert answer.status_code == 201, answer.body
        post = json.loads(answer.body)
        assert post["key"] == f"input/grayscale/u-local/{name}"
        sent = requests.post(post["url"], data=post["fields"], files={"file": (name, photo)}, timeout=10)
        assert sent.status_code == 204, sent.text
    stored = boto3.client("s3").list_objects_v2(Bucket=config.BUCKET, Prefix="input/")["Contents"]
    assert sorted(o["Key"] for o in stored) == sorted(f"input/grayscale/u-local/{name}" for name in NAMES)

    assert deliver_notifications(client, notifications) == len(NAMES)
    drain_workers("grayscale")
    pump(client, config.COMPLETIONS_QUEUE, "on_completion")

    for name in NAMES:
        answer = client.http.get(f"/images/grayscale/{quote(name, safe='')}")
        assert answer.status_code == 200, (name, answer.body)
        image = json.loads(answer.body)
        assert (image["name"], image["phase"], image.get("reason")) == (name, "Done", None), image
        assert requests.get(image["output"]["url"], timeout=10).content[:3] == b"\xff\xd8\xff"
    for name in NAMES:
        assert client.http.delete(f"/images/grayscale/{quote(name, safe='')}").status_code == 200
    assert boto3.client("s3").list_objects_v2(Bucket=config.BUCKET).get("KeyCount") == 0
    wiring.reset()
