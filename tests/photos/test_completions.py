import copy
import json
from collections import Counter
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.photos import job
from tests.conftest import load_event
from tests.pipeline import BUCKET, workload

DONE_ID, FAILED_ID, DEAD_ID = "a" * 32, "b" * 32, "c" * 32
POISON_MESSAGE_ID = "2e1424d4-f796-459a-8184-9c92662be6da"


def make_job(store, job_id, op, name, enqueued_at="2026-11-25T06:00:00+00:00"):
    key = f"input/{op}/u-local/{name}"
    manifest = job.manifest(BUCKET, key, op, f"output/{op}/u-local/{name}", 100, "etag", "etag",
                            {**job.queued(), "enqueuedAt": enqueued_at})
    manifest["metadata"]["name"] = job_id
    return store.create(manifest)


def status(store, job_id):
    return store.get("Job", "u-local", job_id)["status"]


@pytest.fixture
def queued(store):
    make_job(store, DONE_ID, "grayscale", "beach.jpg")
    make_job(store, FAILED_ID, "thumbnail", "notes.png", "2026-11-25T06:00:00.500000+00:00")
    make_job(store, DEAD_ID, "watermark", "huge.jpg")


def test_poison_completion_fails_alone_and_the_others_finish(client, store, queued):
    response = client.lambda_.invoke("on_completion", load_event("sqs_completions")).payload
    assert response == {"batchItemFailures": [{"itemIdentifier": POISON_MESSAGE_ID}]}
    assert status(store, DONE_ID) == {
        "phase": "Done", "reason": None,
        "output": {"key": "output/grayscale/u-local/beach.jpg", "bytes": 30117, "width": 640, "height": 480},
        "enqueuedAt": "2026-11-25T06:00:00+00:00", "finishedAt": "2026-11-25T06:00:01.120000+00:00",
        "durationMs": 120, "worker": "worker-grayscale-1"}
    failed = status(store, FAILED_ID)
    assert (failed["phase"], failed["reason"], failed["output"]) == ("Failed", "not an image (cannot identify image file)", None)


@pytest.mark.parametrize("body", [
    pytest.param("{not json", id="bad-json"),
    pytest.param(json.dumps({"status": "done", "key": "input/grayscale/x.jpg"}), id="missing-job-id"),
    pytest.param(json.dumps({"jobId": "d" * 32, "status": "done", "key": "input/grayscale/x.jpg",
                             "outputKey": "output/grayscale/x.jpg"}), id="unknown-job"),
    pytest.param(json.dumps({"jobId": "a" * 32, "status": "maybe", "key": "input/grayscale/u-local/beach.jpg"}),
                 id="unknown-status"),
])
def test_each_kind_of_poison_completion_is_reported(client, store, queued, body):
    event = load_event("sqs_completions")
    event["Records"][1]["body"] = body
    response = client.lambda_.invoke("on_completion", event).payload
    assert response == {"batchItemFailures": [{"itemIdentifier": POISON_MESSAGE_ID}]}


def test_a_repeated_completion_changes_nothing(client, store, queued):
    event = load_event("sqs_completions")
    client.lambda_.invoke("on_completion", event)
    first = store.get("Job", "u-local", DONE_ID)
    client.lambda_.invoke("on_completion", event)
    assert store.get("Job", "u-local", DONE_ID) == first
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert sum(s.get("done", 0) for s in store.read_stats("op:grayscale", since)) == 1


def test_an_out_of_order_failure_or_dead_letter_after_success_changes_nothing(client, store, queued):
    event = load_event("sqs_completions")
    client.lambda_.invoke("on_completion", event)
    late = copy.deepcopy(event)
    body = json.loads(late["Records"][0]["body"])
    late["Records"][0]["body"] = json.dumps({**body, "status": "failed", "reason": "timed out", "outputKey": None})
    client.lambda_.invoke("on_completion", late)
    client.lambda_.invoke("on_dead_letter", {"Records": [{**late["Records"][0], "body": json.dumps(body)}]})
    assert status(store, DONE_ID)["phase"] == "Done"


def test_dead_letter_fails_the_job_with_the_deliveries(client, store, queued):
    response = client.lambda_.invoke("on_dead_letter", load_event("sqs_dead_letters")).payload
    assert response == {"batchItemFailures": []}
    dead = status(store, DEAD_ID)
    assert (dead["phase"], dead["reason"]) == ("Failed", "gave up after 3 deliveries (worker crashed or timed out)")


def completion_for(dead_letter_event: dict, status: str, **fields) -> dict:
    """The worker's completion for the dead-lettered job, as it lands late: a fresh SQS record on the completions queue."""
    record = copy.deepcopy(dead_letter_event["Records"][0])
    body = json.loads(record["body"])
    record.update(messageId="5d0c2f9e-3b7a-4c1e-8f2d-6a9b0c1d2e3f", body=json.dumps({
        **body, "status": status, "finishedAt": "2026-11-25T06:20:00+00:00", "durationMs": 900, "workerId": "slow-1",
        "width": 800, "height": 600, "bytesOut": 5000, **fields}),
        eventSourceARN=record["eventSourceARN"].replace("dead-letters", "completions"))
    return {"Records": [record]}


def test_a_late_success_after_a_dead_letter_marks_the_job_done(client, store, queued):
    dead_letters = load_event("sqs_dead_letters")
    client.lambda_.invoke("on_dead_letter", dead_letters)
    assert status(store, DEAD_ID)["deadLettered"] is True

    # A late failure (the slow worker's second thought) changes nothing: giving up already said the job failed.
    late_failure = completion_for(dead_letters, "failed", reason="timed out", outputKey=None)
    assert client.lambda_.invoke("on_completion", late_failure).payload == {"batchItemFailures": []}
    assert status(store, DEAD_ID)["reason"].startswith("gave up after 3 deliveries")

    late_success = completion_for(dead_letters, "done")
    assert client.lambda_.invoke("on_completion", late_success).payload == {"batchItemFailures": []}
    done = status(store, DEAD_ID)
    assert (done["phase"], done["reason"], done["worker"], done["finishedAt"]) == (
        "Done", None, "slow-1", "2026-11-25T06:20:00+00:00")
    assert done["output"] == {"key": "output/watermark/u-local/huge.jpg", "bytes": 5000, "width": 800, "height": 600}
    assert "deadLettered" not in done
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    totals = Counter()
    for minute in store.read_stats("op:watermark", since):
        totals.update({counter: minute.get(counter, 0) for counter in ("done", "failed")})
    assert totals == {"done": 1, "failed": 0}  # counted once, by its final phase

    # Done is final again: neither the dead letter coming back nor the success repeated moves it.
    before = store.get("Job", "u-local", DEAD_ID)
    client.lambda_.invoke("on_dead_letter", dead_letters)
    client.lambda_.invoke("on_completion", late_success)
    assert store.get("Job", "u-local", DEAD_ID) == before


def test_stats_add_up_per_workload(client, store, queued):
    workload(store, "grayscale", name="gray-fleet")
    client.lambda_.invoke("on_completion", load_event("sqs_completions"))
    client.lambda_.invoke("on_dead_letter", load_event("sqs_dead_letters"))
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    [gray] = store.read_stats("gray-fleet", since)
    assert {k: v for k, v in gray.items() if k != "minute"} == {"done": 1, "busyMs": 120, "queueMs": 1120}
    [thumb] = store.read_stats("op:thumbnail", since)
    assert {k: v for k, v in thumb.items() if k != "minute"} == {"failed": 1, "busyMs": 4, "queueMs": 1504}
    [dead] = store.read_stats("op:watermark", since)
    assert dead["failed"] == 1


def test_a_batch_writes_its_stats_once_per_workload(client, store, monkeypatch):
    from chalicelib.adapters.store import Store
    workload(store, "grayscale", name="gray-fleet")
    ids = [f"{n}" * 32 for n in "def"]
    for job_id in ids:
        make_job(store, job_id, "grayscale", f"{job_id[0]}.jpg")
    writes = []
    add_stats = Store.add_stats

    def recording_add_stats(self, name, at, counters, stamp=None, namespace="default"):
        writes.append((name, counters))
        return add_stats(self, name, at, counters, stamp, namespace)
    monkeypatch.setattr(Store, "add_stats", recording_add_stats)
    event = load_event("sqs_completions")
    done = json.loads(event["Records"][0]["body"])
    event["Records"] = [{**event["Records"][0], "messageId": f"m-{job_id[0]}",
                         "body": json.dumps({**done, "jobId": job_id, "key": f"input/grayscale/u-local/{job_id[0]}.jpg",
                                             "outputKey": f"output/grayscale/u-local/{job_id[0]}.jpg"})}
                        for job_id in ids]
    assert client.lambda_.invoke("on_completion", event).payload == {"batchItemFailures": []}
    assert writes == [("gray-fleet", {"done": 3, "busyMs": 360, "queueMs": 3 * 1120})]


def test_a_throttled_stats_write_loses_the_counts_not_the_batch(client, store, queued, monkeypatch, caplog):
    from chalicelib.adapters.store import Store
    from chalicelib.errors import Unavailable

    def throttled(*args, **kwargs):
        raise Unavailable("the store is unavailable: ProvisionedThroughputExceededException")
    monkeypatch.setattr(Store, "add_stats", throttled)
    response = client.lambda_.invoke("on_completion", load_event("sqs_completions")).payload
    assert response == {"batchItemFailures": [{"itemIdentifier": POISON_MESSAGE_ID}]}  # the poison one alone
    assert status(store, DONE_ID)["phase"] == "Done" and status(store, FAILED_ID)["phase"] == "Failed"
    assert "throughput stats lost" in caplog.messages


def test_completion_emits_one_metrics_line(client, store, queued, capsys):
    client.lambda_.invoke("on_completion", load_event("sqs_completions"))
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    assert len(lines) == 1
    assert (lines[0]["JobsCompleted"], lines[0]["JobsFailed"]) == ([1.0], [1.0])


def test_a_batch_of_repeats_emits_no_metrics_and_no_warning(client, store, queued, capsys, recwarn):
    event = load_event("sqs_completions")
    client.lambda_.invoke("on_completion", event)
    capsys.readouterr()
    event["Records"] = [event["Records"][0]]
    client.lambda_.invoke("on_completion", event)
    assert '"_aws"' not in capsys.readouterr().out
    assert not [w for w in recwarn if "No application metrics" in str(w.message)]


@pytest.mark.parametrize("body", [
    pytest.param("{not json", id="bad-json"),
    pytest.param(json.dumps({"jobId": "d" * 32, "key": "input/grayscale/x.jpg"}), id="unknown-job"),
])
def test_a_dead_letter_naming_no_job_is_dropped_not_retried(client, store, queued, body, caplog):
    event = load_event("sqs_dead_letters")
    event["Records"][0]["body"] = body
    assert client.lambda_.invoke("on_dead_letter", event).payload == {"batchItemFailures": []}
    assert "dead letter dropped" in caplog.messages


def started_event(event, *entries, worker="worker-grayscale-1", received_at="2026-11-25T06:00:00.800+00:00"):
    """The completions event's first record carrying a worker's "started" report for these (jobId, key) entries."""
    record = copy.deepcopy(event["Records"][0])
    record["body"] = json.dumps({"status": "started", "jobs": [{"jobId": i, "key": k} for i, k in entries],
                                 "receivedAt": received_at, "workerId": worker})
    return {"Records": [record]}


BEACH, NOTES = (DONE_ID, "input/grayscale/u-local/beach.jpg"), (FAILED_ID, "input/thumbnail/u-local/notes.png")


def test_a_started_report_shows_its_jobs_processing_and_their_completion_keeps_when_it_started(client, store, queued):
    event = load_event("sqs_completions")
    assert client.lambda_.invoke("on_completion", started_event(event, BEACH, NOTES)).payload == {"batchItemFailures": []}
    beach = status(store, DONE_ID)
    assert (beach["phase"], beach["startedAt"], beach["worker"]) == (
        "Processing", "2026-11-25T06:00:00.800+00:00", "worker-grayscale-1")
    assert (status(store, FAILED_ID)["phase"], status(store, DEAD_ID)["phase"]) == ("Processing", "Queued")
    client.lambda_.invoke("on_completion", event)
    done = status(store, DONE_ID)
    assert (done["phase"], done["startedAt"], done["output"]["key"]) == (
        "Done", "2026-11-25T06:00:00.800+00:00", "output/grayscale/u-local/beach.jpg")
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert sum(s.get("done", 0) for s in store.read_stats("op:grayscale", since)) == 1  # a start counts nothing


def test_a_started_report_overtaken_by_its_completion_or_repeated_changes_nothing(client, store, queued):
    event = load_event("sqs_completions")
    client.lambda_.invoke("on_completion", event)
    finished = store.get("Job", "u-local", DONE_ID)
    client.lambda_.invoke("on_completion", started_event(event, BEACH))  # SQS kept no order: the start comes last
    assert store.get("Job", "u-local", DONE_ID) == finished
    client.lambda_.invoke("on_completion", started_event(event, (DEAD_ID, "input/watermark/u-local/huge.jpg")))
    started = store.get("Job", "u-local", DEAD_ID)
    client.lambda_.invoke("on_completion", started_event(event, (DEAD_ID, "input/watermark/u-local/huge.jpg")))
    assert store.get("Job", "u-local", DEAD_ID)["metadata"]["resourceVersion"] == started["metadata"]["resourceVersion"]


def test_a_redelivery_to_another_worker_moves_the_job_to_it_and_a_dead_letter_still_ends_it(client, store, queued):
    event, huge = load_event("sqs_completions"), (DEAD_ID, "input/watermark/u-local/huge.jpg")
    client.lambda_.invoke("on_completion", started_event(event, huge, worker="w-died"))
    client.lambda_.invoke("on_completion", started_event(event, huge, worker="w-rescuer",
                                                         received_at="2026-11-25T06:00:40.000+00:00"))
    moved = status(store, DEAD_ID)
    assert (moved["phase"], moved["worker"], moved["startedAt"]) == ("Processing", "w-rescuer",
                                                                     "2026-11-25T06:00:40.000+00:00")
    dead = copy.deepcopy(event["Records"][0])
    dead["body"] = json.dumps({"jobId": DEAD_ID, "key": huge[1], "op": "watermark"})
    dead["attributes"]["ApproximateReceiveCount"] = "6"
    client.lambda_.invoke("on_dead_letter", {"Records": [dead]})
    assert (status(store, DEAD_ID)["phase"], status(store, DEAD_ID)["reason"]) == (
        "Failed", "gave up after 5 deliveries (worker crashed or timed out)")


def test_a_started_report_skips_an_entry_it_cannot_use_and_starts_the_rest(client, store, queued):
    event = load_event("sqs_completions")
    store.delete("Job", "u-local", FAILED_ID)  # the user deleted the image while a worker held it
    report = started_event(event, ("e" * 32, "input/grayscale/u-local/never.jpg"), NOTES, ("not-an-id", "x"), BEACH)
    assert client.lambda_.invoke("on_completion", report).payload == {"batchItemFailures": []}
    assert status(store, DONE_ID)["phase"] == "Processing"


@pytest.mark.parametrize("jobs", [None, [], "aaaa"], ids=["no-jobs", "empty", "not-a-list"])
def test_a_started_report_with_no_jobs_is_poison_and_the_rest_of_the_batch_goes_on(client, store, queued, jobs):
    event = load_event("sqs_completions")
    poison = started_event(event)["Records"][0]
    poison["messageId"], poison["body"] = POISON_MESSAGE_ID, json.dumps({"status": "started", "jobs": jobs})
    response = client.lambda_.invoke("on_completion", {"Records": [poison, event["Records"][0]]}).payload
    assert response == {"batchItemFailures": [{"itemIdentifier": POISON_MESSAGE_ID}]}
    assert status(store, DONE_ID)["phase"] == "Done"
