"""local/moto_speedups.py: the same requests get the same answers from moto with and without the replacements."""
import inspect
import json

import boto3
import pytest
from moto import mock_aws
from moto.sqs.models import sqs_backends

from local import moto_speedups

ACCOUNT, REGION = "123456789012", "us-east-1"


@pytest.fixture
def stock_then_fast():
    """Runs a scenario once on stock moto and once with the speedups, each on fresh state; returns both answers."""
    def run(scenario):
        answers = []
        for install in (moto_speedups.uninstall, moto_speedups.install):
            install()
            with mock_aws():
                answers.append(scenario())
        return answers
    yield run
    moto_speedups.uninstall()


def _table():
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.create_table(
        TableName="t", BillingMode="PAY_PER_REQUEST",
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("pk", "sk", "phase")],
        GlobalSecondaryIndexes=[{"IndexName": "by-phase", "KeySchema": [{"AttributeName": "phase", "KeyType": "HASH"}],
                                 "Projection": {"ProjectionType": "ALL"}}])
    for i in range(60):
        dynamodb.put_item(TableName="t", Item={"pk": {"S": f"Job#u{i % 3}"}, "sk": {"S": f"job-{i:03}"},
                                               "phase": {"S": "Done" if i % 4 else "Failed"}, "n": {"N": str(i)}})
    return dynamodb


QUERIES = {
    "partition": {"KeyConditionExpression": "pk = :p"},
    "descending": {"KeyConditionExpression": "pk = :p", "ScanIndexForward": False},
    "range condition": {"KeyConditionExpression": "pk = :p AND begins_with(sk, :s)", "extra": {":s": {"S": "job-01"}}},
    "filter": {"KeyConditionExpression": "pk = :p", "FilterExpression": "n > :n", "extra": {":n": {"N": "30"}}},
    "projection": {"KeyConditionExpression": "pk = :p", "ProjectionExpression": "sk"},
    "missing partition": {"KeyConditionExpression": "pk = :p", "partition": "Job#nobody"},
    "index": {"KeyConditionExpression": "phase = :p", "IndexName": "by-phase", "partition": "Failed"},
}


@pytest.mark.parametrize("name", QUERIES)
def test_query_pages_are_the_same(stock_then_fast, name):
    spec = dict(QUERIES[name])
    values = {":p": {"S": spec.pop("partition", "Job#u1")}, **spec.pop("extra", {})}

    def scenario():
        dynamodb, pages, start = _table(), [], None
        while True:
            page = dynamodb.query(TableName="t", ExpressionAttributeValues=values, Limit=4,
                                  **spec, **({"ExclusiveStartKey": start} if start else {}))
            pages.append((page["Items"], page["Count"], page["ScannedCount"]))
            start = page.get("LastEvaluatedKey")
            if not start:
                break
        return pages, dynamodb.scan(TableName="t")["Count"]

    stock, fast = stock_then_fast(scenario)
    assert fast == stock
    pages, _ = stock
    assert any(items for items, _, _ in pages) == (name != "missing partition")  # each scenario reads what exists


def test_receive_delay_visibility_retention_and_counts_are_the_same(stock_then_fast):
    def scenario():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="q", Attributes={"MessageRetentionPeriod": "60"})["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": json.dumps({"n": i})} for i in range(8)])
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"n": "delayed"}), DelaySeconds=30)
        # The oldest message is past its retention: receive stops at it, as stock moto does.
        queue = sqs_backends[ACCOUNT][REGION].queues["q"]
        queue._messages[3].sent_timestamp -= 120_000
        answers = []
        for _ in range(3):
            received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=30).get("Messages", [])
            counts = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages",
                                                                            "ApproximateNumberOfMessagesNotVisible",
                                                                            "ApproximateNumberOfMessagesDelayed"])
            answers.append(([json.loads(m["Body"])["n"] for m in received], counts["Attributes"]))
        return answers

    stock, fast = stock_then_fast(scenario)
    assert fast == stock
    received = [n for bodies, _ in stock for n in bodies]
    assert 3 not in received and "delayed" not in received and received[:3] == [0, 1, 2]


def test_deletes_by_current_old_repeated_and_invalid_handles_are_the_same(stock_then_fast):
    def scenario():
        sqs = boto3.client("sqs", region_name=REGION)
        url = sqs.create_queue(QueueName="q")["QueueUrl"]
        sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": json.dumps({"n": i})} for i in range(6)])
        first = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=3, VisibilityTimeout=0)["Messages"]
        again = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2, VisibilityTimeout=30)["Messages"]
        answers = []
        for handle in (again[1]["ReceiptHandle"], first[0]["ReceiptHandle"], first[0]["ReceiptHandle"], "not-a-handle"):
            try:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=handle)
                answers.append("deleted")
            except sqs.exceptions.ReceiptHandleIsInvalid:
                answers.append("invalid")
        batch = sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": "a", "ReceiptHandle": first[2]["ReceiptHandle"]},
                                                                {"Id": "b", "ReceiptHandle": "nope"}])
        left = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, VisibilityTimeout=30).get("Messages", [])
        return answers, [e["Id"] for e in batch.get("Successful", [])], [e["Id"] for e in batch.get("Failed", [])], \
            sorted(json.loads(m["Body"])["n"] for m in left)

    stock, fast = stock_then_fast(scenario)
    assert fast == stock
    answers, _, failed, left = stock
    # first[0] was received again (its old handle still deletes it); again[1] is first[1]; first[2] went in the batch.
    assert answers == ["deleted", "deleted", "deleted", "invalid"] and failed == ["b"] and left == [3, 4, 5]


def test_sends_to_standard_and_content_deduplicated_fifo_queues_and_the_counts_after_are_the_same(stock_then_fast):
    def scenario():
        sqs = boto3.client("sqs", region_name=REGION)
        standard = sqs.create_queue(QueueName="q")["QueueUrl"]
        fifo = sqs.create_queue(QueueName="q.fifo", Attributes={"FifoQueue": "true", "ContentBasedDeduplication": "true"})["QueueUrl"]
        sqs.send_message_batch(QueueUrl=standard, Entries=[{"Id": str(i), "MessageBody": json.dumps({"n": i})} for i in range(5)])
        sqs.send_message(QueueUrl=standard, MessageBody="later", DelaySeconds=60)
        sqs.receive_message(QueueUrl=standard, MaxNumberOfMessages=2, VisibilityTimeout=30)
        for body in ("same", "same", "other"):  # the second is a duplicate by content
            sqs.send_message(QueueUrl=fifo, MessageBody=body, MessageGroupId="g")
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"]
        counts = [sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"] for url in (standard, fifo)]
        fifo_bodies = [m["Body"] for m in sqs.receive_message(QueueUrl=fifo, MaxNumberOfMessages=10)["Messages"]]
        return counts, fifo_bodies

    stock, fast = stock_then_fast(scenario)
    assert fast == stock
    counts, fifo_bodies = stock
    assert counts[0] == {"ApproximateNumberOfMessages": "3", "ApproximateNumberOfMessagesNotVisible": "2",
                         "ApproximateNumberOfMessagesDelayed": "1"} and fifo_bodies == ["same", "other"]


def test_response_classes_methods_are_the_same_and_listed_once(monkeypatch):
    from moto.core import responses
    from moto.dynamodb.responses import DynamoHandler
    from moto.ecs.responses import EC2ContainerServiceResponse
    from moto.s3.responses import S3Response
    from moto.sqs.responses import SQSResponse

    classes = [DynamoHandler, EC2ContainerServiceResponse, S3Response, SQSResponse]
    stock = [responses.method_names_from_class(cls) for cls in classes]
    moto_speedups.install()
    try:
        assert [responses.method_names_from_class(cls) for cls in classes] == stock
        monkeypatch.setattr(inspect, "getmembers", lambda *args, **kwargs: pytest.fail("listed again"))
        assert [responses.method_names_from_class(cls) for cls in classes] == stock
    finally:
        moto_speedups.uninstall()
