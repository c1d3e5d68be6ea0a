"""SQS for the work queues of DESIGN.md "How data flows": send messages by queue name; botocore errors become ours."""
from __future__ import annotations

import json
from functools import cache

from botocore.exceptions import ClientError

from chalicelib.errors import NotFound, Unavailable

BATCH_LIMIT = 10  # SQS SendMessageBatch takes at most ten entries


class Queues:
    def __init__(self, sqs):
        self._sqs = sqs
        self.url = cache(self._url)

    def _url(self, name: str) -> str:
        try:
            return self._sqs.get_queue_url(QueueName=name)["QueueUrl"]
        except ClientError as error:
            if error.response.get("Error", {}).get("Code", "") in ("AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"):
                raise NotFound(f"queue {name} does not exist") from None
            raise Unavailable(f"SQS GetQueueUrl failed: {error}", error.response.get("Error", {}).get("Code", "")) from None

    def send(self, name: str, body: dict) -> None:
        try:
            self._sqs.send_message(QueueUrl=self.url(name), MessageBody=json.dumps(body))
        except ClientError as error:
            raise Unavailable(f"SQS SendMessage to {name} failed: {error}", error.response.get("Error", {}).get("Code", "")) from None

    def send_batch(self, name: str, bodies: list[dict]) -> None:
        """Sends every body, ten per call; Unavailable if any entry was refused (the caller retries them all: sends are idempotent for it)."""
        url = self.url(name)
        for start in range(0, len(bodies), BATCH_LIMIT):
            chunk = bodies[start:start + BATCH_LIMIT]
            entries = [{"Id": str(i), "MessageBody": json.dumps(body)} for i, body in enumerate(chunk)]
            try:
                failed = self._sqs.send_message_batch(QueueUrl=url, Entries=entries).get("Failed", [])
            except ClientError as error:
                raise Unavailable(f"SQS SendMessageBatch to {name} failed: {error}", error.response.get("Error", {}).get("Code", "")) from None
            if failed:
                codes = sorted({f.get("Code", "") for f in failed})
                raise Unavailable(f"SQS refused {len(failed)} of {len(entries)} messages to {name}: {', '.join(codes)}", codes[0])
