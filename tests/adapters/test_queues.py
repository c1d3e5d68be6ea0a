import json

import boto3
import pytest

from chalicelib.adapters.queues import Backlog, Queues
from chalicelib.errors import NotFound, Unavailable
from tests.adapters.conftest import REGION, count_calls, fail_with


@pytest.fixture
def sqs(aws):
    client = boto3.client("sqs", region_name=REGION)
    for name in ("thumbnail", "grayscale"):
        client.create_queue(QueueName=name)
    return client


def test_backlog_counts_visible_in_flight_and_delayed_messages(sqs):
    queues = Queues(sqs)
    queues.send_batch("thumbnail", [{"n": i} for i in range(5)])
    sqs.send_message(QueueUrl=queues.url("thumbnail"), MessageBody="{}", DelaySeconds=600)
    queues.receive("thumbnail", max_messages=2, wait_s=0, visibility_s=600)  # taken, not deleted: in flight

    assert queues.backlog(["thumbnail"]) == {"thumbnail": Backlog(visible=3, in_flight=2, delayed=1)}


def test_deleted_messages_leave_the_backlog(sqs):
    queues = Queues(sqs)
    queues.send("thumbnail", {"key": "input/thumbnail/a.jpg"})
    [message] = queues.receive("thumbnail", max_messages=1, wait_s=0)

    queues.delete("thumbnail", message.receipt_handle)

    assert queues.backlog(["thumbnail"])["thumbnail"] == Backlog(0, 0, 0)
    assert json.loads(message.body) == {"key": "input/thumbnail/a.jpg"} and message.receive_count == 1


def test_missing_queue_is_not_found_for_that_name_only(sqs):
    depths = Queues(sqs).backlog(["thumbnail", "nope"])

    assert isinstance(depths["nope"], NotFound) and depths["thumbnail"] == Backlog(0, 0, 0)


def test_throttled_attributes_are_unavailable_per_queue(sqs):
    fail_with(sqs, "GetQueueAttributes", "RequestThrottled")

    depth = Queues(sqs).backlog(["thumbnail"])["thumbnail"]

    assert isinstance(depth, Unavailable) and depth.code == "RequestThrottled"


def test_denied_queue_url_is_unavailable_with_its_code(sqs):
    fail_with(sqs, "GetQueueUrl", "AccessDenied")

    depth = Queues(sqs).backlog(["thumbnail"])["thumbnail"]

    assert isinstance(depth, Unavailable) and depth.code == "AccessDenied"


def test_queue_url_is_looked_up_once_per_name(sqs):
    queues = Queues(sqs)
    calls = count_calls(sqs)

    for _ in range(3):
        queues.backlog(["thumbnail", "grayscale"])

    assert calls["GetQueueUrl"] == 2 and calls["GetQueueAttributes"] == 6


def test_send_batch_sends_ten_per_call(sqs):
    queues = Queues(sqs)
    calls = count_calls(sqs)

    queues.send_batch("grayscale", [{"n": i} for i in range(23)])

    assert calls["SendMessageBatch"] == 3
    assert queues.backlog(["grayscale"])["grayscale"].visible == 23


def test_send_to_a_fifo_queue_deduplicates_by_id(sqs):
    sqs.create_queue(QueueName="nudge.fifo", Attributes={"FifoQueue": "true"})
    queues = Queues(sqs)

    queues.send("nudge.fifo", {"workload": "thumbnail"}, dedupe_id="thumbnail-1")
    queues.send("nudge.fifo", {"workload": "thumbnail"}, dedupe_id="thumbnail-1")

    assert queues.backlog(["nudge.fifo"])["nudge.fifo"].visible == 1


def test_send_to_a_missing_queue_is_not_found(sqs):
    with pytest.raises(NotFound):
        Queues(sqs).send("nope", {})
