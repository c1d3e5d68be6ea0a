"""The fault-injection suite's ledger: every test ends by proving nothing was lost and nothing was done twice.

Nothing lost: each upload has one Job, Done with its output stored or Failed with a reason, and every queue is empty.
Nothing twice: one output write per job (the bucket is versioned, so each write is a version), one terminal
transition per job (counted where the store writes it; two when a dead letter's Failed gives way to the slow worker's
late Done), and each finished job counted once in the stats, by its final phase (and each arrival once).
"""
import io
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import boto3
import pytest
from PIL import Image

from chalicelib import config
from chalicelib.photos import ingest, job
from chalicelib.adapters.store import Store
from tests.pipeline import BUCKET, depth, queue_url, sqs_event

NAMESPACES = ("default", "u-local")


def jpeg(size=(64, 48), colour=(200, 80, 40)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def all_queues() -> list[str]:
    return [config.work_queue(op) for op in config.OPERATIONS] + [
        config.COMPLETIONS_QUEUE, config.DEAD_LETTER_QUEUE, f"{config.COMPLETIONS_QUEUE}-dlq"]


def receive(queue: str, visibility_s: int | None = None) -> list[dict]:
    request = {"QueueUrl": queue_url(queue), "MaxNumberOfMessages": 10, "WaitTimeSeconds": 0,
               "MessageSystemAttributeNames": ["All"]}
    if visibility_s is not None:
        request["VisibilityTimeout"] = visibility_s
    return boto3.client("sqs").receive_message(**request).get("Messages", [])


def deliver(client, handler: str, messages: list[dict], queue: str) -> set[str]:
    """One Lambda invocation with these messages; deletes what it did not report failed (as the mapping does)."""
    try:
        response = client.lambda_.invoke(handler, sqs_event(messages, queue)).payload
    except Exception:  # noqa: BLE001 - a failed invocation (Powertools raises when every record failed) returns them all
        return {m["MessageId"] for m in messages}
    failed = {f["itemIdentifier"] for f in (response or {}).get("batchItemFailures", [])}
    for m in messages:
        if m["MessageId"] not in failed:
            boto3.client("sqs").delete_message(QueueUrl=queue_url(queue), ReceiptHandle=m["ReceiptHandle"])
    return failed


def pump(client, queue: str, handler: str) -> list[dict]:
    """Delivers the queue to its handler until it is empty; returns every message the handler saw."""
    seen = []
    while messages := receive(queue):
        seen += messages
        assert deliver(client, handler, messages, queue) == set()
    return seen


def completions(client, visibility_s: int | None = None) -> list[dict]:
    """The completions queue's done and failed messages, received; the workers' "started" messages met on the way are
    handled first, as the mapping would (their jobs show Processing)."""
    ends = []
    for message in receive(config.COMPLETIONS_QUEUE, visibility_s):
        if body_of(message)["status"] == "started":
            assert deliver(client, "on_completion", [message], config.COMPLETIONS_QUEUE) == set()
        else:
            ends.append(message)
    return ends


def ends(messages: list[dict]) -> list[dict]:
    """The done and failed completions among a queue's messages (not the workers' "started" reports)."""
    return [m for m in messages if body_of(m)["status"] != "started"]


def output_writes(key: str) -> int:
    versions = boto3.client("s3").list_object_versions(Bucket=BUCKET, Prefix=key)
    return sum(1 for v in versions.get("Versions", []) if v["Key"] == key)


def jobs_by_key(store) -> dict[str, list[dict]]:
    found: dict[str, list[dict]] = {}
    for namespace in NAMESPACES:
        for record in store.list_all(job.KIND, namespace):
            found.setdefault(record["spec"]["key"], []).append(record)
    return found


class Ledger:
    """Terminal Job writes, counted at the store: a job that ends twice shows up here whatever path wrote it."""

    def __init__(self):
        self.terminal = Counter()
        self.dead_lettered: set[str] = set()

    def install(self, monkeypatch) -> None:
        create, update_status = Store.create, Store.update_status

        def counting_create(store, manifest):
            written = create(store, manifest)
            self._count(written)
            return written

        def counting_update_status(store, *args, **kwargs):
            written = update_status(store, *args, **kwargs)
            self._count(written)
            return written

        monkeypatch.setattr(Store, "create", counting_create)
        monkeypatch.setattr(Store, "update_status", counting_update_status)

    def _count(self, written: dict) -> None:
        if written["kind"] == job.KIND and written["status"]["phase"] in job.TERMINAL:
            self.terminal[written["metadata"]["name"]] += 1
            if written["status"].get("deadLettered"):
                self.dead_lettered.add(written["metadata"]["name"])

    def assert_settled(self, store, expected: dict[str, str]) -> dict[str, dict]:
        """expected: input key → "Done" | "Failed". Returns the jobs by key for the test's own further checks."""
        found = jobs_by_key(store)
        assert {key: len(records) for key, records in found.items()} == dict.fromkeys(expected, 1), "one job per upload"
        jobs = {key: records[0] for key, records in found.items()}
        assert {key: j["status"]["phase"] for key, j in jobs.items()} == expected
        for key, record in jobs.items():
            status, output_key = record["status"], record["spec"]["outputKey"]
            if status["phase"] == job.FAILED:
                assert status["reason"] and status["output"] is None, (key, status)
            else:
                assert status["output"]["key"] == output_key and output_writes(output_key) == 1, (key, status)
        superseded = {j["metadata"]["name"] for j in jobs.values() if j["status"]["phase"] == job.DONE} & self.dead_lettered
        assert self.terminal == Counter({j["metadata"]["name"]: 1 + (j["metadata"]["name"] in superseded) for j in jobs.values()}), \
            "one terminal transition per job"
        self._assert_counted_once(store, jobs.values())
        assert {q: depth(q) for q in all_queues()} == {q: (0, 0) for q in all_queues()}, "every queue drained"
        return jobs

    @staticmethod
    def _assert_counted_once(store, jobs) -> None:
        # Jobs ingest failed itself (never enqueued) are not in the throughput stats: no worker spent time on them.
        workloads = job.workloads_by_op(store)
        want, got = Counter(), Counter()
        for record in jobs:
            if record["status"]["enqueuedAt"]:
                ref = job.stats_ref(record["spec"]["op"], workloads)
                want[(ref, "arrived")] += 1
                want[(ref, record["status"]["phase"].lower())] += 1
        since = datetime.now(timezone.utc) - timedelta(minutes=10)
        for ref in {ref for ref, _ in want}:
            # An arrival is written, or held by ingest's tally for its next write (one a second), never both.
            got[(ref, "arrived")] += ingest.arrivals.held(ref)
            namespace, name = ref
            for bucket in store.read_stats(name, since, namespace=namespace):
                for counter in ("arrived", "done", "failed"):
                    got[(ref, counter)] += bucket.get(counter, 0)
        assert +got == +want, "each job counted once in the stats"


@pytest.fixture
def ledger(monkeypatch):
    ledger = Ledger()
    ledger.install(monkeypatch)
    return ledger


@pytest.fixture
def versioned(stack):
    """Output writes are counted as object versions, so a second write of the same bytes is still seen."""
    boto3.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})


def body_of(message: dict) -> dict:
    return json.loads(message["Body"])
