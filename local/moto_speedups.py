"""moto's costs that AWS does not have (most grow with the whole queue or table), replaced by paths answering the same.

The local runtime puts thousands of jobs in one table and hundreds of messages in one queue, which moto 5.2 serves
with costs AWS does not have, all on the one interpreter of the local runtime's moto process:
- SQS ReceiveMessage reads every attribute of the queue (three scans of all its messages) for each message it
  returns, to learn the retention period: 10 messages from a queue of 600 took 0.3 s.
- The list of visible messages, and the counts of delayed and in-flight ones, read the clock once or twice per message.
- Every SendMessage (and each entry of a batch, and each S3 notification) reads all the queue's attributes to learn
  whether it deduplicates by content, and so counts its visible, delayed and in-flight messages: three scans of the
  whole queue per message sent, ~1 ms each with a thousand uploads waiting. The counts are not computed while a
  message is sent (a standard queue has no such attribute; a FIFO queue's is read from the same dict as before), and
  the attributes' Python names are converted from their API names once, not by a regular expression every time.
- Every request lists the methods of its service's response class (inspect.getmembers), to find the action's: 3 % of
  the process's time.
- DeleteMessage scans the whole queue twice, building each message's list of receipt handles both times: with
  2,000 jobs queued, every worker's delete cost ~2 ms. The message being deleted is almost always near the front
  (messages are received oldest first), so one scan that stops at it does the same work in a few steps.
- DynamoDB Query without an index sorts every item of the table, then keeps the partition's: 20 ms for 3 items of a
  table of 2,000 jobs. DynamoDB reads the partition alone.
tests/local/test_moto_speedups.py runs the same requests with and without these and compares the answers.
"""
from __future__ import annotations

import functools
import inspect
import threading

from moto.core import responses
from moto.core.utils import unix_time, unix_time_millis
from moto.dynamodb.models.table import Table
from moto.sqs.exceptions import ReceiptHandleIsInvalid
from moto.sqs import models as sqs_models
from moto.sqs.models import Queue, SQSBackend

_ORIGINALS = {
    (SQSBackend, "is_message_valid_based_on_retention_period"): SQSBackend.is_message_valid_based_on_retention_period,
    (Queue, "messages"): Queue.messages,
    (Queue, "approximate_number_of_messages_delayed"): Queue.approximate_number_of_messages_delayed,
    (Queue, "approximate_number_of_messages_not_visible"): Queue.approximate_number_of_messages_not_visible,
    (Queue, "delete_message"): Queue.delete_message,
    (Queue, "approximate_number_of_messages"): Queue.approximate_number_of_messages,
    (SQSBackend, "send_message"): SQSBackend.send_message,
    (sqs_models, "camelcase_to_underscores"): sqs_models.camelcase_to_underscores,
    (Table, "query"): Table.query,
    (responses, "method_names_from_class"): responses.method_names_from_class,
}
_QUERY = inspect.signature(Table.query)


def _within_retention(self: SQSBackend, queue_name: str, message) -> bool:
    retention_s = int(self.get_queue(queue_name).message_retention_period)
    return retention_s + message.sent_timestamp / 1000 > unix_time()


_sending = threading.local()


def _send_message(self: SQSBackend, *args, **kwargs):
    _sending.now = True
    try:
        return _ORIGINALS[(SQSBackend, "send_message")](self, *args, **kwargs)
    finally:
        _sending.now = False


def _counting(count):
    """A count of the queue's messages, except while this thread sends one: 0 then, as nothing reads it."""
    return property(lambda queue: 0 if getattr(_sending, "now", False) else count(queue))


def _visible_messages(self: Queue) -> list:
    now = unix_time_millis()
    return [m for m in self._messages if now > m.visible_at and not now < m.delayed_until]


def _delayed_count(self: Queue) -> int:
    now = unix_time_millis()
    return sum(now < m.delayed_until for m in self._messages)


def _in_flight_count(self: Queue) -> int:
    now = unix_time_millis()
    return sum(not now > m.visible_at for m in self._messages)


def _delete_message(self: Queue, receipt_handle: str) -> None:
    if receipt_handle in self.deleted_messages:
        return  # deleting twice is no error, as in stock moto
    for index, message in enumerate(self._messages):
        if message.receipt_handle == receipt_handle or receipt_handle in message._old_receipt_handles:
            self.pending_messages.discard(message)
            self.deleted_messages.update(message.all_receipt_handles)
            # A new list, as stock moto builds one: a receive iterating the old one meanwhile is not disturbed.
            self._messages = self._messages[:index] + self._messages[index + 1:]
            return
    raise ReceiptHandleIsInvalid()


class _Partition:
    """The table as Query sees it, holding only one partition's items."""

    def __init__(self, table: Table, items: list):
        self._table, self._items = table, items

    def __getattr__(self, name: str):
        return getattr(self._table, name)

    def all_items(self) -> list:
        return self._items


def _partition_query(self: Table, *args, **kwargs):
    arguments = _QUERY.bind(self, *args, **kwargs).arguments
    hash_key = arguments.get("hash_key")
    if arguments.get("index_name") or hash_key is None or not self.range_key_attr:
        return _ORIGINALS[(Table, "query")](self, *args, **kwargs)
    # .get: self.items is a defaultdict, and a query must not create the partition it misses.
    partition = list(self.items.get(hash_key, {}).values())
    return _ORIGINALS[(Table, "query")](_Partition(self, partition), *args, **kwargs)


_REPLACEMENTS = {
    (SQSBackend, "is_message_valid_based_on_retention_period"): _within_retention,
    (Queue, "messages"): property(_visible_messages),
    (Queue, "approximate_number_of_messages"): _counting(lambda queue: len(queue.messages)),
    (Queue, "approximate_number_of_messages_delayed"): _counting(_delayed_count),
    (Queue, "approximate_number_of_messages_not_visible"): _counting(_in_flight_count),
    (SQSBackend, "send_message"): _send_message,
    (sqs_models, "camelcase_to_underscores"): functools.cache(sqs_models.camelcase_to_underscores),
    (Queue, "delete_message"): _delete_message,
    (Table, "query"): _partition_query,
    # A class's methods do not change while the server runs: listed once per class, not once per request.
    (responses, "method_names_from_class"): functools.cache(responses.method_names_from_class),
}


def install() -> None:
    for (owner, name), replacement in _REPLACEMENTS.items():
        setattr(owner, name, replacement)


def uninstall() -> None:
    for (owner, name), original in _ORIGINALS.items():
        setattr(owner, name, original)
