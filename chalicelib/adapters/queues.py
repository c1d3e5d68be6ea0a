"""SQS work queues by name: backlog, send, receive, delete; botocore errors become chalicelib.errors."""
from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache

from chalicelib.adapters.aws import translated
from chalicelib.errors import BallastError, Unavailable

BATCH_LIMIT = 10  # SQS SendMessageBatch takes at most ten entries
MISSING = ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist")
BACKLOG_ATTRIBUTES = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
                      "ApproximateNumberOfMessagesDelayed"]


@dataclass(frozen=True)
class Backlog:
    visible: int
    in_flight: int
    delayed: int


@dataclass(frozen=True)
class Message:
    id: str
    receipt_handle: str
    body: str  # raw: a malformed body must reach the worker to be failed with a reason, not break receive
    receive_count: int


class Queues:
    def __init__(self, sqs):
        self._sqs = sqs
        self.url = cache(self._url)  # a queue's URL never changes; failures are not cached, so a late queue is found

    def _url(self, name: str) -> str:
        with translated(f"SQS GetQueueUrl {name}", MISSING):
            return self._sqs.get_queue_url(QueueName=name)["QueueUrl"]

    def backlog(self, names: Iterable[str]) -> dict[str, Backlog | Exception]:
        """Depth per queue; a missing or throttled queue holds its error, so the other queues are still seen."""
        depths: dict[str, Backlog | Exception] = {}
        for name in dict.fromkeys(names):
            try:
                url = self.url(name)
                with translated(f"SQS GetQueueAttributes {name}", MISSING):
                    attributes = self._sqs.get_queue_attributes(QueueUrl=url, AttributeNames=BACKLOG_ATTRIBUTES)["Attributes"]
            except BallastError as error:
                depths[name] = error
                continue
            depths[name] = Backlog(int(attributes["ApproximateNumberOfMessages"]),
                                   int(attributes["ApproximateNumberOfMessagesNotVisible"]),
                                   int(attributes["ApproximateNumberOfMessagesDelayed"]))
        return depths

    def send(self, name: str, body: dict, dedupe_id: str | None = None) -> None:
        request = {"QueueUrl": self.url(name), "MessageBody": json.dumps(body)}
        if name.endswith(".fifo"):
            # One group per message keeps FIFO queues parallel; ordering across images is not wanted.
            request["MessageGroupId"] = dedupe_id or "ballast"
        if dedupe_id:
            request["MessageDeduplicationId"] = dedupe_id
        with translated(f"SQS SendMessage to {name}", MISSING):
            self._sqs.send_message(**request)

    def send_batch(self, name: str, bodies: list[dict]) -> None:
        """Sends every body, ten per call; Unavailable if any entry was refused (the caller retries them all: sends are idempotent for it)."""
        url = self.url(name)
        for start in range(0, len(bodies), BATCH_LIMIT):
            chunk = bodies[start:start + BATCH_LIMIT]
            entries = [{"Id": str(i), "MessageBody": json.dumps(body)} for i, body in enumerate(chunk)]
            with translated(f"SQS SendMessageBatch to {name}", MISSING):
                failed = self._sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
            if failed:
                codes = sorted({f.get("Code", "") for f in failed})
                raise Unavailable(f"SQS refused {len(failed)} of {len(entries)} messages to {name}: {', '.join(codes)}", codes[0])

    def receive(self, name: str, max_messages: int = 10, wait_s: int = 20, visibility_s: int | None = None) -> list[Message]:
        request = {"QueueUrl": self.url(name), "MaxNumberOfMessages": max_messages, "WaitTimeSeconds": wait_s,
                   "MessageSystemAttributeNames": ["ApproximateReceiveCount"]}
        if visibility_s is not None:
            request["VisibilityTimeout"] = visibility_s
        with translated(f"SQS ReceiveMessage from {name}", MISSING):
            messages = self._sqs.receive_message(**request).get("Messages", [])
        return [Message(m["MessageId"], m["ReceiptHandle"], m["Body"],
                        int(m.get("Attributes", {}).get("ApproximateReceiveCount", 1))) for m in messages]

    def delete(self, name: str, receipt_handle: str) -> None:
        with translated(f"SQS DeleteMessage from {name}", MISSING):
            self._sqs.delete_message(QueueUrl=self.url(name), ReceiptHandle=receipt_handle)
