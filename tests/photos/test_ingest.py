from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.core import tracking
from chalicelib.photos import ingest, job
from chalicelib.errors import Unavailable
from tests.conftest import load_event
from tests.pipeline import BUCKET, drain, s3_event, workload


def jobs(store, namespace="default"):
    return {j["spec"]["key"]: j for j in store.list_all("Job", namespace)}


def test_every_record_of_the_golden_event_is_handled(client, store):
    client.lambda_.invoke("on_upload", load_event("s3_object_created"))
    made = {**jobs(store), **jobs(store, "u-local")}
    assert set(made) == {"input/grayscale/summer holiday 2026.jpg", "input/thumbnail/café 写真+1.png",
                         "input/watermark/u-local/beach.jpg", "input/grayscale/empty.jpg"}
    sent = drain("ballast-dev-grayscale") + drain("ballast-dev-thumbnail") + drain("ballast-dev-watermark")
    assert sorted(m["key"] for m in sent) == ["input/grayscale/summer holiday 2026.jpg",
                                             "input/thumbnail/café 写真+1.png", "input/watermark/u-local/beach.jpg"]


def test_work_message_follows_the_contract(client, store):
    client.lambda_.invoke("on_upload", s3_event(("input/thumbnail/u-local/a b+c.jpg", 10)))
    [message] = drain("ballast-dev-thumbnail")
    record = store.get("Job", "u-local", message["jobId"])
    assert message == {"jobId": record["metadata"]["name"], "bucket": BUCKET, "key": "input/thumbnail/u-local/a b+c.jpg",
                       "op": "thumbnail", "outputKey": "output/thumbnail/u-local/a b+c.jpg",
                       "enqueuedAt": record["status"]["enqueuedAt"]}
    assert datetime.fromisoformat(message["enqueuedAt"]).tzinfo == timezone.utc
    assert record["spec"] == {"bucket": BUCKET, "key": "input/thumbnail/u-local/a b+c.jpg", "op": "thumbnail",
                              "outputKey": "output/thumbnail/u-local/a b+c.jpg", "size": 10,
                              "eTag": s3_event(("input/thumbnail/u-local/a b+c.jpg", 10))["Records"][0]["s3"]["object"]["eTag"]}
    assert record["status"]["phase"] == "Queued"


def test_keys_are_url_decoded_with_plus_as_space_and_utf8(client, store):
    client.lambda_.invoke("on_upload", load_event("s3_object_created"))
    [message] = drain("ballast-dev-thumbnail")
    assert message["key"] == "input/thumbnail/café 写真+1.png"
    assert message["outputKey"] == "output/thumbnail/café 写真+1.png"


def test_s3_test_event_is_ignored(client, store, caplog):
    client.lambda_.invoke("on_upload", load_event("s3_test_event"))
    assert jobs(store) == {}
    assert "ignored S3 test event" in caplog.messages


def test_unknown_operation_is_ignored_with_a_log_line(client, store, caplog):
    client.lambda_.invoke("on_upload", s3_event(("input/sepia/old.jpg", 10)))
    assert jobs(store) == {}
    [line] = [r for r in caplog.records if r.getMessage() == "ignored upload"]
    assert (line.key, line.why) == ("input/sepia/old.jpg", "operation 'sepia' is not one of grayscale, watermark, thumbnail")


@pytest.mark.parametrize("key", [
    pytest.param("input/grayscale/../etc/passwd", id="dot-dot-segment"),
    pytest.param("input/grayscale/a\x07b.jpg", id="control-character"),
    pytest.param("input/grayscale/" + "x" * 600, id="longer-than-512-bytes"),
    pytest.param("input/grayscale/", id="no-name"),
    pytest.param("input/grayscale/a//b.jpg", id="empty-segment"),
])
def test_invalid_keys_are_ignored(client, store, key):
    client.lambda_.invoke("on_upload", s3_event((key, 10)))
    assert jobs(store) == {}
    assert drain("ballast-dev-grayscale") == []


def test_zero_byte_object_is_a_failed_job_without_a_message(client, store):
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/empty.jpg", 0)))
    status = jobs(store)["input/grayscale/empty.jpg"]["status"]
    assert (status["phase"], status["reason"]) == ("Failed", "empty object")
    assert drain("ballast-dev-grayscale") == []


def test_duplicate_event_makes_one_job_and_one_message(client, store):
    event = s3_event(("input/grayscale/a.jpg", 10), ("input/grayscale/a.jpg", 10))
    client.lambda_.invoke("on_upload", event)
    client.lambda_.invoke("on_upload", event)
    assert len(jobs(store)) == 1
    assert len(drain("ballast-dev-grayscale")) == 1


def test_new_content_under_the_same_key_is_a_new_job(client, store):
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/a.jpg", 10)))
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/a.jpg", 11)))
    assert len(store.list_all("Job", "default")) == 2


def invoke_as(request_id: str, event: dict) -> None:
    """One invocation of on_upload under this request id, as Lambda's retries of one asynchronous event keep it."""
    from chalice.local import LambdaContext

    from app import app

    context = LambdaContext("on_upload", memory_size=128)
    context.aws_request_id = request_id
    app.handler_map["on_upload"](event, context)


def failing_sends(monkeypatch, queue: str, times: int) -> None:
    from chalicelib.adapters.queues import Queues
    send_batch, failures = Queues.send_batch, [times]

    def send_or_fail(queues, name, bodies):
        if name == queue and failures[0]:
            failures[0] -= 1
            raise Unavailable("SQS SendMessageBatch refused", "ServiceUnavailable")
        send_batch(queues, name, bodies)
    monkeypatch.setattr(Queues, "send_batch", send_or_fail)


def test_a_retry_of_an_invocation_whose_send_failed_sends_the_job_it_created(client, store, monkeypatch):
    failing_sends(monkeypatch, "ballast-dev-grayscale", times=1)
    event = s3_event(("input/grayscale/a.jpg", 10))
    with pytest.raises(Unavailable):
        invoke_as("request-1", event)
    [made] = store.list_all("Job", "default")
    assert made["status"]["enqueuedBy"] == "request-1" and drain("ballast-dev-grayscale") == []
    invoke_as("request-1", event)
    [message] = drain("ballast-dev-grayscale")
    assert message["jobId"] == made["metadata"]["name"] and message["enqueuedAt"] == made["status"]["enqueuedAt"]
    assert store.list_all("Job", "default") == [made]  # the retry wrote nothing


def test_another_invocation_of_an_unsent_job_sends_nothing(client, store, monkeypatch):
    # S3 delivered the event twice while the first invocation's send was failing: that invocation's retry sends it.
    failing_sends(monkeypatch, "ballast-dev-grayscale", times=1)
    event = s3_event(("input/grayscale/a.jpg", 10))
    with pytest.raises(Unavailable):
        invoke_as("request-1", event)
    invoke_as("request-2", event)
    assert drain("ballast-dev-grayscale") == []


def test_a_retry_sends_only_what_is_still_queued(client, store, monkeypatch):
    failing_sends(monkeypatch, "ballast-dev-thumbnail", times=1)
    event = s3_event(("input/grayscale/a.jpg", 10), ("input/thumbnail/b.jpg", 10))
    with pytest.raises(Unavailable):
        invoke_as("request-1", event)
    [gray] = drain("ballast-dev-grayscale")
    store.update_status("Job", "default", gray["jobId"], {**job.queued(), "phase": "Done"})  # a fast worker
    invoke_as("request-1", event)
    assert drain("ballast-dev-grayscale") == [] and [m["key"] for m in drain("ballast-dev-thumbnail")] == ["input/thumbnail/b.jpg"]


def test_nothing_after_the_send_fails_the_invocation(client, store, monkeypatch):
    # A failed invocation would be retried, and its retry would send its jobs again.
    from chalicelib.adapters.queues import Queues
    from chalicelib.adapters.store import Store
    workload(store, "grayscale", name="gray-fleet")

    def unavailable(*args, **kwargs):
        raise Unavailable("throttled", "ProvisionedThroughputExceededException")
    monkeypatch.setattr(Store, "add_stats", unavailable)
    monkeypatch.setattr(Queues, "send", unavailable)
    invoke_as("request-1", s3_event(("input/grayscale/a.jpg", 10)))
    assert len(drain("ballast-dev-grayscale")) == 1 and ingest.arrivals.held(("default", "gray-fleet")) == 1


def test_a_finished_job_is_never_sent_again(client, store):
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/a.jpg", 10)))
    [message] = drain("ballast-dev-grayscale")
    store.update_status("Job", "default", message["jobId"], {**job.queued(), "phase": "Done"})
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/a.jpg", 10)))
    assert drain("ballast-dev-grayscale") == []


def test_nudge_is_sent_only_for_a_workload_at_zero(client, store):
    workload(store, "grayscale", current=0, desired=0)
    workload(store, "thumbnail", current=2, desired=2)
    workload(store, "watermark", current=0, desired=3)  # the controller already decided to scale up
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/a.jpg", 10), ("input/grayscale/b.jpg", 10),
                                                ("input/thumbnail/c.jpg", 10), ("input/watermark/d.jpg", 10)))
    [nudge] = drain("ballast-dev-nudge")
    assert (nudge["workload"], nudge["namespace"]) == ("photos-grayscale", "default")
    assert nudge["reason"] and datetime.fromisoformat(nudge["at"])


def test_a_workload_the_controller_has_not_seen_yet_is_nudged(client, store):
    workload(store, "thumbnail")
    client.lambda_.invoke("on_upload", s3_event(("input/thumbnail/c.jpg", 10)))
    assert [n["workload"] for n in drain("ballast-dev-nudge")] == ["photos-thumbnail"]


def test_a_burst_lists_the_workloads_once_a_second_and_sees_a_wake_after_that(client, store, monkeypatch):
    from chalicelib.photos import job as job_module
    from chalicelib.adapters.store import Store
    now = [1000.0]
    monkeypatch.setattr(job_module.time, "monotonic", lambda: now[0])
    listed = []
    list_all = Store.list_all

    def recording_list_all(self, kind, namespace=None):
        listed.append(kind)
        return list_all(self, kind, namespace)
    monkeypatch.setattr(Store, "list_all", recording_list_all)
    workload(store, "thumbnail", current=0, desired=0)
    for n in range(5):
        client.lambda_.invoke("on_upload", s3_event((f"input/thumbnail/{n}.jpg", 10)))
    assert listed.count("Workload") == 1
    store.update_status("Workload", "default", "photos-thumbnail", {"currentReplicas": 0, "desiredReplicas": 2})
    drain("ballast-dev-nudge")
    now[0] += 1.5
    client.lambda_.invoke("on_upload", s3_event(("input/thumbnail/late.jpg", 10)))
    assert listed.count("Workload") == 2 and drain("ballast-dev-nudge") == []  # the controller's wake is seen


def test_a_paused_workload_is_not_nudged(client, store):
    created = workload(store, "thumbnail", current=0, desired=0)
    store.replace({**created, "spec": {**created["spec"], "replicas": 0}}, created["metadata"]["resourceVersion"])
    client.lambda_.invoke("on_upload", s3_event(("input/thumbnail/c.jpg", 10)))
    assert drain("ballast-dev-nudge") == []


def test_no_nudge_when_nothing_was_enqueued(client, store):
    workload(store, "grayscale", current=0, desired=0)
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/empty.jpg", 0)))
    assert drain("ballast-dev-nudge") == []


def test_arrivals_are_counted_under_the_workload_or_the_op(client, store):
    workload(store, "grayscale", name="gray-fleet")
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/a.jpg", 10), ("input/grayscale/b.jpg", 10),
                                                ("input/thumbnail/c.jpg", 10)))
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert sum(s["arrived"] for s in store.read_stats("gray-fleet", since)) == 2
    assert sum(s["arrived"] for s in store.read_stats("op:thumbnail", since)) == 1


def test_a_workload_in_its_own_namespace_gets_the_arrivals_and_the_nudge(client, store):
    workload(store, "grayscale", name="gray-fleet", namespace="team-a", current=0, desired=0)
    client.lambda_.invoke("on_upload", s3_event(("input/grayscale/a.jpg", 10)))
    since = datetime.now(timezone.utc) - timedelta(minutes=1)
    assert sum(s["arrived"] for s in store.read_stats("gray-fleet", since, namespace="team-a")) == 1
    assert store.read_stats("gray-fleet", since) == []
    [nudge] = drain("ballast-dev-nudge")
    assert (nudge["workload"], nudge["namespace"]) == ("gray-fleet", "team-a")


T0 = datetime(2026, 11, 30, 6, 0, 58, tzinfo=timezone.utc)


def arrived(store, name: str) -> tuple[int, str | None]:
    buckets = store.read_stats(name, T0 - timedelta(minutes=1))
    return sum(b.get("arrived", 0) for b in buckets), max((b[tracking.LAST_ARRIVAL] for b in buckets), default=None)


def test_a_burst_of_arrivals_is_written_once_a_second_and_a_trickle_at_once(stack, store):
    tally = ingest.ArrivalTally(every_s=1)
    tally.add(store, ("default", "w"), 1, T0)
    assert arrived(store, "w") == (1, T0.isoformat())  # the first after a quiet second: at once
    for tenths in range(1, 10):
        tally.add(store, ("default", "w"), 2, T0 + timedelta(seconds=tenths / 10))
    assert arrived(store, "w") == (1, T0.isoformat()) and tally.held(("default", "w")) == 18
    tally.add(store, ("default", "w"), 1, T0 + timedelta(seconds=1))
    assert arrived(store, "w") == (20, (T0 + timedelta(seconds=1)).isoformat()) and tally.held(("default", "w")) == 0
    tally.add(store, ("default", "w"), 1, T0 + timedelta(seconds=5))  # a trickle: every arrival a second or more apart
    assert arrived(store, "w") == (21, (T0 + timedelta(seconds=5)).isoformat())


def test_held_arrivals_go_to_their_own_minute_and_other_workloads_are_not_held_back(stack, store):
    tally = ingest.ArrivalTally(every_s=1)
    tally.add(store, ("default", "w"), 1, T0 + timedelta(seconds=1))  # 06:00:59
    tally.add(store, ("default", "w"), 3, T0 + timedelta(seconds=1.5))  # 06:00:59.5, held
    tally.add(store, ("default", "other"), 1, T0 + timedelta(seconds=1.6))
    tally.add(store, ("default", "w"), 2, T0 + timedelta(seconds=2.2))  # 06:01:00.2: writes both minutes
    minutes = {b["minute"]: b["arrived"] for b in store.read_stats("w", T0)}
    assert minutes == {"2026-11-30T06:00:00+00:00": 4, "2026-11-30T06:01:00+00:00": 2}
    assert arrived(store, "other")[0] == 1


def test_arrivals_a_failed_write_held_are_carried_by_the_next(stack, store, monkeypatch):
    from chalicelib.adapters.store import Store
    tally, add_stats = ingest.ArrivalTally(every_s=1), Store.add_stats

    def throttled(*args, **kwargs):
        raise Unavailable("throttled", "ProvisionedThroughputExceededException")
    monkeypatch.setattr(Store, "add_stats", throttled)
    tally.add(store, ("default", "w"), 3, T0)
    assert tally.held(("default", "w")) == 3
    monkeypatch.setattr(Store, "add_stats", add_stats)
    tally.add(store, ("default", "w"), 1, T0 + timedelta(seconds=1))
    assert arrived(store, "w") == (4, (T0 + timedelta(seconds=1)).isoformat()) and tally.held(("default", "w")) == 0
