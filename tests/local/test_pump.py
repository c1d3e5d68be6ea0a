"""The event pump: Lambda's event shapes and its partial-batch semantics, on moto."""
import json
import threading
import time

import boto3
import pytest
from chalice import Chalice
from chalice.config import Config
from moto import mock_aws

from local import events, pump

ARN = "arn:aws:sqs:us-east-1:123456789012:q"


def a_pump(app, session, s3_events_queue: str = "unused") -> pump.Pump:
    """The pump of a dev stage in moto's default account, as the local runtime builds it."""
    return pump.Pump(app, Config.create(chalice_stage="dev", lambda_timeout=60), session, "dev", "123456789012",
                     "us-east-1", s3_events_queue=s3_events_queue)


@pytest.mark.parametrize("response, want", [
    pytest.param(None, set(), id="none-means-all-succeeded"),
    pytest.param({"batchItemFailures": []}, set(), id="empty-list"),
    pytest.param({"batchItemFailures": [{"itemIdentifier": "b"}]}, {"b"}, id="one-failure"),
    pytest.param({"batchItemFailures": [{"itemIdentifier": "zzz"}]}, None, id="unknown-id-fails-the-batch"),
    pytest.param({"batchItemFailures": [{"itemIdentifier": ""}]}, None, id="empty-id-fails-the-batch"),
    pytest.param({"batchItemFailures": [{}]}, None, id="missing-id-fails-the-batch"),
    pytest.param("ok", None, id="not-an-object-fails-the-batch"),
])
def test_failed_ids_follow_lambda_report_batch_item_failures(response, want):
    assert events.failed_ids(response, {"a", "b"}) == want


def test_sqs_record_has_every_field_lambda_sends():
    message = {"MessageId": "m1", "ReceiptHandle": "r1", "Body": "{}", "MD5OfBody": "99914b932bd37a50b983c5e7c90ae93b",
               "Attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
               "MessageAttributes": {"a": {"StringValue": "x", "DataType": "String"}, "b": {"BinaryValue": b"\x01", "DataType": "Binary"}},
               "MD5OfMessageAttributes": "abc"}
    record = events.sqs_record(message, ARN, "us-east-1")
    assert record == {
        "messageId": "m1", "receiptHandle": "r1", "body": "{}",
        "attributes": {"ApproximateReceiveCount": "2", "SentTimestamp": "1"},
        "messageAttributes": {
            "a": {"stringValue": "x", "binaryValue": None, "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "b": {"stringValue": None, "binaryValue": "AQ==", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}},
        "md5OfBody": "99914b932bd37a50b983c5e7c90ae93b", "md5OfMessageAttributes": "abc",
        "eventSource": "aws:sqs", "eventSourceARN": ARN, "awsRegion": "us-east-1"}


def test_schedule_event_is_an_eventbridge_scheduled_event():
    event = events.schedule_event("arn:aws:events:us-east-1:123456789012:rule/ballast-dev-tick", "123456789012", "us-east-1")
    assert event["detail-type"] == "Scheduled Event" and event["source"] == "aws.events" and event["detail"] == {}
    assert event["resources"] == ["arn:aws:events:us-east-1:123456789012:rule/ballast-dev-tick"]
    assert event["time"].endswith("Z") and len(event["time"]) == 20


def test_s3_event_gets_the_fields_moto_leaves_out_and_keeps_its_own():
    moto_event = {"Records": [{"eventVersion": "2.1", "eventSource": "aws:s3", "awsRegion": "us-east-1", "eventName": "ObjectCreated:Put",
                               "s3": {"bucket": {"name": "b", "arn": "arn:aws:s3:::b"}, "object": {"key": "input/x/a.jpg", "size": 3, "eTag": "e"}}}]}
    record = events.complete_s3_event(moto_event, "123456789012", 7)["Records"][0]
    assert {"userIdentity", "requestParameters", "responseElements"} <= set(record)
    assert record["s3"]["object"] == {"key": "input/x/a.jpg", "size": 3, "eTag": "e", "sequencer": "0000000000000007"}
    assert record["s3"]["bucket"]["ownerIdentity"] == {"principalId": "123456789012"}


@pytest.mark.parametrize("expression, seconds", [("rate(1 minute)", 60), ("rate(5 minutes)", 300), ("rate(2 hours)", 7200)])
def test_rate_expressions(expression, seconds):
    assert events.rate_seconds(expression) == seconds


def test_only_messages_not_reported_as_failures_are_deleted():
    app = Chalice(app_name="pumptest")
    seen = []

    @app.on_sqs_message(queue="work", batch_size=10)
    def handle(event):
        records = event.to_dict()["Records"]
        seen.append(records)
        return {"batchItemFailures": [{"itemIdentifier": r["messageId"]} for r in records if r["body"] == "bad"]}

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        for body in ("good-1", "bad", "good-2"):
            sqs.send_message(QueueUrl=url, MessageBody=body)
        runner = a_pump(app, session)
        runner.start()
        deadline = time.monotonic() + 10
        while sum(len(batch) for batch in seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    records = [r for batch in seen for r in batch]
    assert len({r["messageId"] for r in records}) == 3
    assert all(r["eventSourceARN"] == "arn:aws:sqs:us-east-1:123456789012:work" and r["eventSource"] == "aws:sqs" for r in records)
    assert attributes["ApproximateNumberOfMessages"] == "0"
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"  # the bad one waits for its visibility timeout
    assert runner.stats.invocations == {"handle": len(seen)}


def test_a_raising_handler_keeps_the_whole_batch():
    app = Chalice(app_name="pumptest")
    calls = []

    @app.on_sqs_message(queue="work", batch_size=10)
    def handle(event):
        calls.append(1)
        raise RuntimeError("boom")

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": 1}))
        runner = a_pump(app, session)
        runner.start()
        deadline = time.monotonic() + 10
        while not calls and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert attributes["ApproximateNumberOfMessagesNotVisible"] == "1"
    assert runner.stats.errors[0].error == "RuntimeError: boom"


@pytest.mark.parametrize("window_s, batches", [(0, [1, 1, 1]), (2, [3])])
def test_messages_arriving_within_the_batching_window_make_one_batch(window_s, batches):
    app = Chalice(app_name="pumptest")
    seen = []

    @app.on_sqs_message(queue="work", batch_size=10, maximum_batching_window_in_seconds=window_s)
    def handle(event):
        seen.append(len(event.to_dict()["Records"]))

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        runner = a_pump(app, session)
        runner.start()
        for n in range(3):
            sqs.send_message(QueueUrl=url, MessageBody=str(n))
            time.sleep(0.4)  # far apart enough that without a window each is a batch of its own
        deadline = time.monotonic() + 10
        while sum(seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
    assert seen == batches


def test_a_batch_larger_than_ten_is_gathered_and_deleted_ten_at_a_time():
    app = Chalice(app_name="pumptest")
    seen = []

    @app.on_sqs_message(queue="work", batch_size=15, maximum_batching_window_in_seconds=2)
    def handle(event):
        seen.append(len(event.to_dict()["Records"]))

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        deletes = []  # moto accepts any number of entries; SQS refuses more than ten
        session.events.register("provide-client-params.sqs.DeleteMessageBatch",
                                lambda params, **_: deletes.append(len(params["Entries"])))
        sqs = session.client("sqs")
        url = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(10)])
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(n), "MessageBody": str(n)} for n in range(2)])
        runner = a_pump(app, session)
        runner.start()
        deadline = time.monotonic() + 10
        while sum(seen) < 12 and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)  # the deletes follow the invocation
        runner.stop()
        attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert seen == [12] and not runner.stats.errors and sorted(deletes) == [2, 10]
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_failed_receives_of_s3_events_do_not_stall_their_delivery():
    app = Chalice(app_name="pumptest")
    keys = []

    @app.on_s3_event(bucket="photos-bucket", events=["s3:ObjectCreated:*"])
    def on_upload(event):
        keys.append(event.key)

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        failures = [3]  # each takes up to ten of the pump's room for events (ASYNC_BACKLOG): two would take it all

        def fail_receives(params, **_):
            if params["QueueUrl"].endswith("/s3-events") and failures[0]:
                failures[0] -= 1
                raise ConnectionError("moto unreachable")
        session.events.register("provide-client-params.sqs.ReceiveMessage", fail_receives)
        session.client("s3").create_bucket(Bucket="photos-bucket")
        runner = a_pump(app, session, s3_events_queue="s3-events")
        runner.wire()
        runner.start()
        session.client("s3").put_object(Bucket="photos-bucket", Key="input/thumbnail/a.jpg", Body=b"1")
        deadline = time.monotonic() + 15  # the poller waits a second after each failure
        while not keys and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
    assert failures == [0]
    assert keys == ["input/thumbnail/a.jpg"]


def test_a_burst_of_s3_events_is_received_and_deleted_ten_at_a_time():
    """Slots free one by one as invocations end: the poller waits for ten rather than paying a receive and a delete
    per event; what is left over is deleted once the queue is quiet. Every upload is delivered once."""
    app = Chalice(app_name="pumptest")
    keys = []
    both = threading.Lock()

    @app.on_s3_event(bucket="photos-bucket", events=["s3:ObjectCreated:*"])
    def on_upload(event):
        time.sleep(0.02)  # an invocation takes a while: the backlog stays full during the burst
        with both:
            keys.append(event.key)

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        receives, deletes = [], []
        session.events.register("provide-client-params.sqs.ReceiveMessage",
                                lambda params, **_: receives.append(params["MaxNumberOfMessages"]))
        session.events.register("provide-client-params.sqs.DeleteMessageBatch",
                                lambda params, **_: deletes.append(len(params["Entries"])))
        s3 = session.client("s3")
        s3.create_bucket(Bucket="photos-bucket")
        runner = a_pump(app, session, s3_events_queue="s3-events")
        runner.wire()
        for n in range(73):
            s3.put_object(Bucket="photos-bucket", Key=f"input/thumbnail/{n}.jpg", Body=b"1")
        runner.start()
        deadline = time.monotonic() + 20
        while (len(keys) < 73 or sum(deletes) < 73) and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
        url = session.client("sqs").get_queue_url(QueueName="s3-events")["QueueUrl"]
        attributes = session.client("sqs").get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert sorted(keys) == sorted(f"input/thumbnail/{n}.jpg" for n in range(73))
    assert sum(deletes) == 73 and deletes.count(10) == 7, deletes
    assert receives.count(10) >= 7, receives  # the whole burst in tens; a per-slot poller asked for ones and twos
    assert (attributes["ApproximateNumberOfMessages"], attributes["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")


def test_a_failed_s3_invocation_is_retried_under_its_request_id_and_other_events_get_their_own():
    app = Chalice(app_name="pumptest")
    calls = []

    @app.on_s3_event(bucket="photos-bucket", events=["s3:ObjectCreated:*"])
    def on_upload(event):
        calls.append((event.key, event.context.aws_request_id))
        if event.key.endswith("flaky.jpg") and len(calls) < 3:
            raise RuntimeError("the first attempt fails")

    with mock_aws():
        session = boto3.Session(region_name="us-east-1")
        s3, sqs = session.client("s3"), session.client("sqs")
        s3.create_bucket(Bucket="photos-bucket")
        runner = a_pump(app, session, s3_events_queue="s3-events")
        runner.wire()
        # Lambda waits a minute before retrying; the test does not.
        sqs.set_queue_attributes(QueueUrl=sqs.get_queue_url(QueueName="s3-events")["QueueUrl"],
                                 Attributes={"VisibilityTimeout": "1"})
        s3.put_object(Bucket="photos-bucket", Key="input/thumbnail/flaky.jpg", Body=b"1")
        s3.put_object(Bucket="photos-bucket", Key="input/thumbnail/fine.jpg", Body=b"1")
        runner.start()
        deadline = time.monotonic() + 15
        while len(calls) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
        runner.stop()
    flaky = [request for key, request in calls if key.endswith("flaky.jpg")]
    fine = [request for key, request in calls if key.endswith("fine.jpg")]
    assert len(flaky) == 2 and flaky[0] == flaky[1] and len(fine) == 1 and fine[0] != flaky[0], calls
