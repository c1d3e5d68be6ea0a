"""The event pump: delivers S3 notifications, SQS batches and the schedule to app.py's handlers in the shapes AWS Lambda sends."""
from __future__ import annotations

import json
import logging
import threading
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from chalice.app import S3EventConfig, ScheduledEventConfig, SQSEventConfig
from chalice.local import LambdaContext

from local.events import complete_s3_event, failed_ids, rate_seconds, schedule_event, sqs_record

log = logging.getLogger("local.pump")

# Lambda retries a failed asynchronous invocation (S3 notifications are asynchronous) twice.
ASYNC_ATTEMPTS = 3
ASYNC_BACKLOG = 20  # S3 events received and waiting for their invocation, at most
# Asynchronous invocations (S3 events) of one function at once. Lambda runs hundreds; ingest keeps no module state,
# so a few share this interpreter safely, and one at a time would make ingest the local pipeline's bottleneck.
ASYNC_CONCURRENCY = 4
POLL_WAIT_S = 1  # short long-polls, so stopping the pump never waits for a 20 s receive
BATCHING_POLL_S = 0.2  # while a batching window is open, how often the queue is looked at again


@dataclass
class Invocation:
    function: str
    started: float
    seconds: float
    error: str | None = None


@dataclass
class Stats:
    """What the pump delivered, for the progress view and the report."""
    invocations: dict[str, int] = field(default_factory=dict)
    errors: deque = field(default_factory=lambda: deque(maxlen=50))
    recent: deque = field(default_factory=lambda: deque(maxlen=500))

    def add(self, call: Invocation) -> None:
        self.invocations[call.function] = self.invocations.get(call.function, 0) + 1
        self.recent.append(call)
        if call.error:
            self.errors.append(call)


class Context(LambdaContext):
    """Chalice's local LambdaContext with the deployed function's ARN and timeout; stop() ends its time at once."""

    def __init__(self, function: str, memory_mb: int, timeout_s: int, arn: str):
        super().__init__(function, memory_size=memory_mb, max_runtime_ms=timeout_s * 1000)
        self.invoked_function_arn = arn
        self._stopped = False

    def get_remaining_time_in_millis(self) -> float:
        return 0 if self._stopped else super().get_remaining_time_in_millis()

    def stop(self) -> None:
        self._stopped = True


class Pump:
    """Reads the app's declared event sources (app.event_sources) and plays the Lambda service for each of them."""

    def __init__(self, app, chalice_config, session, stage: str, account: str, region: str, s3_events_queue: str):
        self._app, self._config, self._stage = app, chalice_config, stage
        self._account, self._region = account, region
        self._sqs, self._s3 = session.client("sqs"), session.client("s3")
        self._s3_events_queue = s3_events_queue
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._contexts: set[Context] = set()
        self._lock = threading.Lock()
        self._sequence = 0
        self._delivered: list[str] = []  # receipt handles of S3 events whose invocation is over, to delete in batches
        self._async = ThreadPoolExecutor(max_workers=ASYNC_CONCURRENCY, thread_name_prefix="lambda-async")
        self._async_room = threading.Semaphore(ASYNC_BACKLOG)
        # Lambda gives each invocation an execution environment of its own; here every function shares one interpreter
        # and its module state (a function's BatchProcessor), so a function runs as many invocations at once as its
        # event source's maximum concurrency allows, one by default (ASYNC_CONCURRENCY for S3 events), while different
        # functions run side by side (a controller invocation may hold its function for a minute: it must not stop
        # uploads and completions).
        concurrency = {s.name: s.maximum_concurrency or 1 for s in app.event_sources if isinstance(s, SQSEventConfig)}
        self._environments = {name: threading.Semaphore(n) for name, n in concurrency.items()}
        self._environments.update({s.name: threading.Semaphore(ASYNC_CONCURRENCY) for s in app.event_sources
                                   if isinstance(s, S3EventConfig)})
        self.stats = Stats()

    # ---- wiring, as `chalice deploy` does it ----------------------------------------------------

    def wire(self) -> None:
        """Points each S3 event source's bucket notification at an internal queue the pump drains (moto runs no Lambdas)."""
        sources = [s for s in self._app.event_sources if isinstance(s, S3EventConfig)]
        if not sources:
            return
        # A minute, as Lambda waits before retrying a failed asynchronous invocation; a shorter hold would redeliver
        # events still waiting for their turn and turn a busy minute into duplicate ingests.
        url = self._sqs.create_queue(QueueName=self._s3_events_queue, Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        arn = self._queue_arn(self._s3_events_queue)
        by_bucket: dict[str, list[dict]] = {}
        for source in sources:
            rules = [{"Name": n, "Value": v} for n, v in (("prefix", source.prefix), ("suffix", source.suffix)) if v]
            entry = {"Id": source.name, "QueueArn": arn, "Events": source.events}
            if rules:
                entry["Filter"] = {"Key": {"FilterRules": rules}}
            by_bucket.setdefault(source.bucket, []).append(entry)
        for bucket, entries in by_bucket.items():
            self._s3.put_bucket_notification_configuration(Bucket=bucket, NotificationConfiguration={"QueueConfigurations": entries})
        self._s3_events_url = url

    def start(self) -> None:
        for source in self._app.event_sources:
            if isinstance(source, SQSEventConfig):
                # A function's invocations take turns (see _environments), so one poller per queue keeps up.
                for index in range(source.maximum_concurrency or 1):
                    self._spawn(f"sqs-{source.name}-{index}", self._poll_sqs, source)
            elif isinstance(source, S3EventConfig):
                self._spawn(f"s3-{source.name}", self._poll_s3, source)
            elif isinstance(source, ScheduledEventConfig):
                self._spawn(f"schedule-{source.name}", self._fire_schedule, source)

    def stop(self, timeout_s: float = 5) -> None:
        self._stop.set()
        with self._lock:
            for context in self._contexts:
                context.stop()
        deadline = time.monotonic() + timeout_s
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        self._async.shutdown(wait=False, cancel_futures=True)

    # ---- invoking a function ---------------------------------------------------------------------

    def invoke(self, function: str, event: dict, request_id: str | None = None) -> object:
        """One Lambda invocation of an event-source function; raises what the handler raised, as Lambda reports an error.

        `request_id` is the invocation's aws_request_id, which Lambda keeps when it retries an asynchronous event."""
        with self._environments[function]:
            return self.invoke_alone(function, event, request_id)

    def invoke_alone(self, function: str, event: dict, request_id: str | None = None) -> object:
        scoped = self._config.scope(self._config.chalice_stage, function)
        arn = f"arn:aws:lambda:{self._region}:{self._account}:function:{self._app.app_name}-{self._stage}-{function}"
        context = Context(function, scoped.lambda_memory_size or 128, scoped.lambda_timeout or 60, arn)
        if request_id:
            context.aws_request_id = request_id
        with self._lock:
            self._contexts.add(context)
        started = time.monotonic()
        call = Invocation(function, time.time(), 0.0)
        try:
            return self._app.handler_map[function](event, context)
        except Exception as error:
            call.error = f"{type(error).__name__}: {error}"
            log.exception("invocation failed", extra={"function": function})
            raise
        finally:
            call.seconds = time.monotonic() - started
            self.stats.add(call)
            with self._lock:
                self._contexts.discard(context)

    def _spawn(self, name: str, target, source) -> None:
        thread = threading.Thread(target=self._guard, args=(target, source), name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _guard(self, target, source) -> None:
        # A poller that dies silently would stall the pipeline; keep polling and leave the error in the stats.
        while not self._stop.is_set():
            try:
                target(source)
            except Exception:
                log.exception("poller failed", extra={"source": source.name})
                self._stop.wait(1)

    # ---- the event sources -----------------------------------------------------------------------

    def _poll_sqs(self, source: SQSEventConfig) -> None:
        """An event source mapping with ReportBatchItemFailures: delete exactly what the function did not report."""
        queue = source.queue or source.queue_arn.rsplit(":", 1)[-1]
        url = self._sqs.get_queue_url(QueueName=queue)["QueueUrl"]
        arn = self._queue_arn(queue)
        while not self._stop.is_set():
            messages = self._batch(url, source)
            if not messages:
                continue
            records = [sqs_record(m, arn, self._region) for m in messages]
            try:
                keep = failed_ids(self.invoke(source.name, {"Records": records}), {r["messageId"] for r in records})
            except Exception:
                keep = None
            if keep is None:
                continue  # the whole batch returns to the queue after its visibility timeout, as in Lambda
            self._delete(url, [r["receiptHandle"] for r in records if r["messageId"] not in keep])

    def _batch(self, url: str, source: SQSEventConfig) -> list[dict]:
        """Up to batch_size messages; once the first arrives, more are gathered for the mapping's batching window."""
        size, window_s = source.batch_size, source.maximum_batching_window_in_seconds or 0
        messages = self._receive(url, size, POLL_WAIT_S)
        window_ends = time.monotonic() + window_s
        while messages and len(messages) < size and not self._stop.is_set():
            left_s = window_ends - time.monotonic()
            if left_s <= 0:
                break
            # A long poll returns as soon as one message is there; a short one (0 s) when none is.
            more = self._receive(url, size - len(messages), 0)
            if not more:
                self._stop.wait(min(left_s, BATCHING_POLL_S))
            messages += more
        return messages

    def _receive(self, url: str, count: int, wait_s: int) -> list[dict]:
        return self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=min(count, 10), WaitTimeSeconds=wait_s,
                                         AttributeNames=["All"], MessageAttributeNames=["All"]).get("Messages", [])

    def _poll_s3(self, source: S3EventConfig) -> None:
        url = self._s3_events_url
        idle = True
        while not self._stop.is_set():
            self._delete_delivered(url, all_of_them=idle)
            # Take only as many events as can be delivered soon: one held longer than the queue's visibility timeout
            # would come back and be ingested twice.
            room = self._take_room()
            if not room:
                continue
            messages: list[dict] = []
            try:
                messages = self._sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=room, WaitTimeSeconds=POLL_WAIT_S,
                                                     AttributeNames=["ApproximateReceiveCount"]).get("Messages", [])
            finally:
                # Room left unfilled goes back, a failed receive's included: kept, it would stall this poller for good.
                for _ in range(room - len(messages)):
                    self._async_room.release()
            idle = not messages
            for message in messages:
                body = json.loads(message["Body"])
                if body.get("Event") == "s3:TestEvent":  # S3 sends it to queues, never to Lambda functions
                    self._sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
                    self._async_room.release()
                    continue
                with self._lock:
                    self._sequence += 1
                    event = complete_s3_event(body, self._account, self._sequence)
                self._async.submit(self._deliver_async, source.name, event, url, message)

    def _take_room(self) -> int:
        """Slots for up to ten events, the most one receive returns: waits for the first, then up to a poll's wait
        for the rest. During a burst, slots free one by one as invocations end; receiving each alone cost a
        ReceiveMessage (and a delete) per event. The backlog still holds ASYNC_BACKLOG - 10 events meanwhile, more
        than ASYNC_CONCURRENCY, so the invocations never wait for this poller."""
        if not self._async_room.acquire(timeout=POLL_WAIT_S):
            return 0
        room, deadline = 1, time.monotonic() + POLL_WAIT_S
        while room < 10 and self._async_room.acquire(timeout=max(0.0, deadline - time.monotonic())):
            room += 1
        return room

    def _deliver_async(self, function: str, event: dict, url: str, message: dict) -> None:
        try:
            # The event's queue message is received again for each retry: its id is the request id Lambda keeps.
            self.invoke(function, event, request_id=message["MessageId"])
        except Exception:
            if int(message["Attributes"].get("ApproximateReceiveCount", "1")) < ASYNC_ATTEMPTS:
                return  # delivered again after the queue's visibility timeout: Lambda's asynchronous retry
        finally:
            self._async_room.release()
        with self._lock:
            self._delivered.append(message["ReceiptHandle"])

    def _delete_delivered(self, url: str, all_of_them: bool) -> None:
        """Whole tens (SQS's limit per request) while events keep coming; the rest too once the queue looked empty."""
        with self._lock:
            count = len(self._delivered) if all_of_them else len(self._delivered) // 10 * 10
            handles, self._delivered = self._delivered[:count], self._delivered[count:]
        self._delete(url, handles)

    def _delete(self, url: str, handles: list[str]) -> None:
        # Ten per request, SQS's limit: a batch gathered over a batching window may hold more.
        for start in range(0, len(handles), 10):
            entries = [{"Id": str(i), "ReceiptHandle": h} for i, h in enumerate(handles[start:start + 10])]
            self._sqs.delete_message_batch(QueueUrl=url, Entries=entries)

    def _fire_schedule(self, source: ScheduledEventConfig) -> None:
        expression = source.schedule_expression
        period_s = rate_seconds(expression if isinstance(expression, str) else expression.to_string())
        rule_arn = f"arn:aws:events:{self._region}:{self._account}:rule/{self._app.app_name}-{self._stage}-{source.name}"
        # EventBridge fires the first event within one period of the rule's creation; firing at once shortens the demo.
        while not self._stop.is_set():
            event = schedule_event(rule_arn, self._account, self._region)
            threading.Thread(target=self._invoke_scheduled, args=(source.name, event), name=f"lambda-{source.name}",
                             daemon=True).start()
            self._stop.wait(period_s)

    def _invoke_scheduled(self, function: str, event: dict) -> None:
        try:
            self.invoke_alone(function, event)
        except Exception:
            pass  # already logged and counted by invoke(); a scheduled invocation has no one to report to

    def _queue_arn(self, queue: str) -> str:
        return f"arn:aws:sqs:{self._region}:{self._account}:{queue}"
