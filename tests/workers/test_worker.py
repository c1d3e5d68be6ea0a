"""workers/worker.py against moto: the message lifecycle, idempotence, stop, heartbeat and poison handling."""
import dataclasses
import json
import os
import queue
import random
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import boto3
from botocore.exceptions import ClientError
import pytest
from moto.server import ThreadedMotoServer

from local import photos
from tests.workers.conftest import completions, encode, gradient, open_bytes, output, queue_depth, upload
from workers import ops, worker
from workers.protection import Protection
from workers.settings import Settings

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = {"jobId": str, "op": str, "status": str, "reason": (str, type(None)), "bucket": str, "key": str,
            "outputKey": (str, type(None)), "bytesIn": int, "bytesOut": int, "width": (int, type(None)),
            "height": (int, type(None)), "durationMs": float, "receivedAt": str, "finishedAt": str,
            "enqueuedAt": str, "receiveCount": int, "workerId": str}


def jpeg(size=(640, 480)) -> bytes:
    return encode(gradient(size), "JPEG")


class SlowApply:
    """Stands in for ops.apply: signals when an image starts, holds the first one (or the hold_call-th) until released,
    then does the work."""

    def __init__(self, hold_s: float, fail_after_hold: bool = False, hold_call: int = 1):
        self.hold_s, self.fail_after_hold, self.hold_call = hold_s, fail_after_hold, hold_call
        self.started, self.release = threading.Event(), threading.Event()
        self.calls = 0
        self.real = ops.apply

    def __call__(self, *args, **kwargs):
        self.calls += 1
        if self.started.is_set() or self.calls < self.hold_call:
            return self.real(*args, **kwargs)
        self.started.set()
        self.release.wait(self.hold_s)
        if self.fail_after_hold:
            raise RuntimeError("the test is over")
        return self.real(*args, **kwargs)


PROTECT = {"ProtectionEnabled": True, "ExpiresInMinutes": 10}
RELEASE = {"ProtectionEnabled": False}


def failing_agent(ecs_agent, how: str | None) -> str | None:
    """ECS_AGENT_URI of an agent that refuses every protection (as without ecs:UpdateTaskProtection), or of none."""
    if how is None:
        return None
    ecs_agent.answer = (400, json.dumps({"error": {"Code": "AccessDeniedException", "Message": "denied"}}).encode())
    if how == "unreachable":
        ecs_agent.server.shutdown()
        ecs_agent.server.server_close()
    return ecs_agent.uri


def test_batch_is_processed_into_outputs_deleted_and_completed_per_contract(aws):
    bodies = [upload(aws, "thumbnail", f"p{i}.jpg", jpeg()) for i in range(3)]
    tally = worker.drain(aws.settings("thumbnail"), sqs=aws.sqs, s3=aws.s3)
    done = sorted(completions(aws), key=lambda c: c["jobId"])
    assert (tally.done, queue_depth(aws)) == (3, (0, 0))
    for body, completion in zip(bodies, done):
        assert set(completion) == set(CONTRACT)
        assert [name for name, kind in CONTRACT.items() if not isinstance(completion[name], kind)] == []
        stored = open_bytes(output(aws, body["outputKey"]))
        assert (completion["status"], completion["reason"], completion["outputKey"], completion["enqueuedAt"],
                completion["receiveCount"], completion["workerId"]) == (
            "done", None, body["outputKey"], body["enqueuedAt"], 1, "test-worker")
        assert (completion["width"], completion["height"], stored.size, stored.format) == (
            256, 192, (256, 192), "JPEG")
        assert completion["bytesOut"] == len(output(aws, body["outputKey"])) and completion["bytesIn"] > 0


def test_each_receive_is_reported_started_with_its_jobs_before_any_of_them_completes(aws):
    bodies = [upload(aws, "grayscale", f"s{i}.jpg", jpeg((64, 48))) for i in range(4)]
    aws.sqs.send_message(QueueUrl=aws.work, MessageBody="not json")  # no job to show: left out of the report
    worker.drain(aws.settings("grayscale"), sqs=aws.sqs, s3=aws.s3)
    order = []
    for message in aws.sqs.receive_message(QueueUrl=aws.completions, MaxNumberOfMessages=10)["Messages"]:
        body = json.loads(message["Body"])
        order += [("started", j["jobId"], j["key"]) for j in body.get("jobs", [])] or [(body["status"], body["jobId"],
                                                                                          body["key"])]
        if body["status"] == "started":
            assert (body["workerId"], set(body)) == ("test-worker", {"status", "jobs", "receivedAt", "workerId"})
    assert sorted(order) == sorted([(s, b["jobId"], b["key"]) for b in bodies for s in ("done", "started")])
    for body in bodies:  # moto's queue keeps sending order: each job's start was sent before its completion
        assert order.index(("started", body["jobId"], body["key"])) < order.index(("done", body["jobId"], body["key"]))


def test_a_start_that_cannot_be_reported_does_not_stop_the_work(aws):
    upload(aws, "grayscale", "a.jpg", jpeg((64, 48)))
    sqs = boto3.client("sqs")
    real_send = sqs.send_message

    def refuse_starts(**request):
        if json.loads(request["MessageBody"])["status"] == "started":
            raise ClientError({"Error": {"Code": "ServiceUnavailable", "Message": "try later"}}, "SendMessage")
        return real_send(**request)
    sqs.send_message = refuse_starts
    tally = worker.drain(aws.settings("grayscale"), sqs=sqs, s3=aws.s3)
    assert (tally.done, [c["status"] for c in completions(aws)], queue_depth(aws)) == (1, ["done"], (0, 0))


@pytest.mark.parametrize("kind", photos.BAD_KINDS)
def test_poison_input_ends_as_failed_completion_and_its_message_is_deleted(aws, kind):
    data, _ = photos.render(kind, photos.SIZES["small"], random.Random(3))
    upload(aws, "grayscale", f"bad.{kind}", data)
    tally = worker.drain(aws.settings("grayscale"), sqs=aws.sqs, s3=aws.s3)
    [completion] = completions(aws)
    assert (tally.failed, completion["status"], completion["outputKey"], queue_depth(aws)) == (1, "failed", None, (0, 0))
    assert completion["reason"] and completion["bytesIn"] == len(data)
    assert aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="output/")["KeyCount"] == 0


def test_duplicate_message_writes_one_output_and_completes_twice(aws):
    aws.s3.put_bucket_versioning(Bucket=aws.bucket, VersioningConfiguration={"Status": "Enabled"})
    body = upload(aws, "watermark", "dup.jpg", jpeg())
    aws.sqs.send_message(QueueUrl=aws.work, MessageBody=json.dumps(body))
    worker.drain(aws.settings("watermark"), sqs=aws.sqs, s3=aws.s3)
    versions = aws.s3.list_object_versions(Bucket=aws.bucket, Prefix=body["outputKey"])["Versions"]
    first, second = completions(aws)
    assert (len(versions), queue_depth(aws)) == (1, (0, 0))
    assert (first["status"], second["status"], first["bytesOut"], first["width"]) == (
        "done", "done", second["bytesOut"], second["width"])


def test_a_completion_that_cannot_be_sent_keeps_the_message_and_the_retry_reuses_the_output(aws):
    body = upload(aws, "grayscale", "q.jpg", jpeg())
    aws.sqs.set_queue_attributes(QueueUrl=aws.work, Attributes={"VisibilityTimeout": "1"})
    unreachable = dataclasses.replace(aws.settings("grayscale", visibility_timeout_s=1),
                                      completions_queue_url=aws.completions + "-gone")
    first = worker.drain(unreachable, sqs=aws.sqs, s3=aws.s3)
    assert (first.done, first.retried, queue_depth(aws)) == (0, 1, (0, 1))
    stored = output(aws, body["outputKey"])
    time.sleep(1.2)
    second = worker.drain(aws.settings("grayscale", visibility_timeout_s=1), sqs=aws.sqs, s3=aws.s3)
    [completion] = completions(aws)
    assert (second.done, queue_depth(aws), completion["jobId"], completion["durationMs"]) == (1, (0, 0), body["jobId"], 0.0)
    assert output(aws, body["outputKey"]) == stored


def test_a_new_job_under_an_old_name_replaces_the_old_output(aws):
    upload(aws, "grayscale", "same.jpg", jpeg((640, 480)), job_id="job-1")
    worker.drain(aws.settings("grayscale"), sqs=aws.sqs, s3=aws.s3)
    body = upload(aws, "grayscale", "same.jpg", jpeg((320, 240)), job_id="job-2")
    worker.drain(aws.settings("grayscale"), sqs=aws.sqs, s3=aws.s3)
    assert open_bytes(output(aws, body["outputKey"])).size == (320, 240)


# A refused or unreachable task-protection endpoint changes nothing: the drain, not protection, is what keeps work.
@pytest.mark.parametrize("agent", [None, "refusing", "unreachable"])
def test_stop_mid_image_finishes_it_and_gives_the_rest_of_the_batch_back(aws, ecs_agent, monkeypatch, agent):
    uri = failing_agent(ecs_agent, agent)
    upload(aws, "grayscale", "first.jpg", jpeg())  # taken alone: the worker's pace is not known yet
    for i in range(4):
        upload(aws, "grayscale", f"s{i}.jpg", jpeg())
    slow = SlowApply(hold_s=0.5, hold_call=2)  # the first of the batch the measured pace allowed: all four
    monkeypatch.setattr(ops, "apply", slow)
    stop = threading.Event()
    tallies = []
    runner = threading.Thread(target=lambda: tallies.append(worker.run(aws.settings("grayscale", agent_uri=uri), stop,
                                                                        sqs=aws.sqs, s3=aws.s3)))
    runner.start()
    assert slow.started.wait(5)
    stop.set()
    runner.join(5)
    done = completions(aws)
    assert (runner.is_alive(), slow.calls, tallies[0].done, tallies[0].released) == (False, 2, 2, 3)
    assert ([c["status"] for c in done], queue_depth(aws)) == (["done"] * 2, (3, 0))  # back at once, not after 30 s
    assert all(output(aws, c["outputKey"]) for c in done)


def test_stop_deadline_gives_back_an_image_that_would_outlive_it(aws, monkeypatch):
    upload(aws, "grayscale", "huge.jpg", jpeg())
    slow = SlowApply(hold_s=30, fail_after_hold=True)
    monkeypatch.setattr(ops, "apply", slow)
    stop = threading.Event()
    runner = threading.Thread(target=worker.run, args=(aws.settings("grayscale", stop_timeout_s=2.0), stop),
                              kwargs={"sqs": aws.sqs, "s3": aws.s3})
    runner.start()
    assert slow.started.wait(5)
    stopped_at = time.monotonic()
    stop.set()
    runner.join(5)
    exited_after_s = time.monotonic() - stopped_at
    slow.release.set()
    assert (runner.is_alive(), exited_after_s < 2.0, queue_depth(aws), completions(aws)) == (False, True, (1, 0), [])


def test_heartbeat_keeps_a_slow_image_invisible_beyond_the_visibility_timeout(aws, monkeypatch):
    upload(aws, "thumbnail", "slow.jpg", jpeg())
    upload(aws, "thumbnail", "next.jpg", jpeg())
    slow = SlowApply(hold_s=3.0)
    monkeypatch.setattr(ops, "apply", slow)
    settings = aws.settings("thumbnail", visibility_timeout_s=2)
    aws.sqs.set_queue_attributes(QueueUrl=aws.work, Attributes={"VisibilityTimeout": "2"})
    runner = threading.Thread(target=worker.drain, args=(settings,), kwargs={"sqs": aws.sqs, "s3": aws.s3})
    runner.start()
    assert slow.started.wait(5)
    time.sleep(2.5)  # past the 2 s timeout: without heartbeats the slow image's message would be visible again
    probe = aws.sqs.receive_message(QueueUrl=aws.work, MaxNumberOfMessages=10, VisibilityTimeout=0)
    runner.join(10)
    # The other one was never taken (the worker's pace was unknown: one message a receive), so it is visible.
    assert ([json.loads(m["Body"])["key"] for m in probe.get("Messages", [])], [c["status"] for c in completions(aws)],
            queue_depth(aws)) == (["input/thumbnail/next.jpg"], ["done", "done"], (0, 0))


def test_unexpected_error_leaves_the_message_to_return_after_the_visibility_timeout(aws, monkeypatch):
    upload(aws, "grayscale", "flaky.jpg", jpeg())
    aws.sqs.set_queue_attributes(QueueUrl=aws.work, Attributes={"VisibilityTimeout": "1"})
    real = ops.apply
    attempts = []

    def flaky(*args, **kwargs):
        attempts.append(1)
        if len(attempts) == 1:
            raise RuntimeError("S3 hiccup or a bug: not the image's fault")
        return real(*args, **kwargs)
    monkeypatch.setattr(ops, "apply", flaky)
    settings = aws.settings("grayscale", visibility_timeout_s=1)
    first = worker.drain(settings, sqs=aws.sqs, s3=aws.s3)
    assert (first.retried, completions(aws)) == (1, [])
    time.sleep(1.2)
    second = worker.drain(settings, sqs=aws.sqs, s3=aws.s3)
    [completion] = completions(aws)
    assert (second.done, completion["status"], completion["receiveCount"], queue_depth(aws)) == (1, "done", 2, (0, 0))


def test_invalid_message_is_left_for_the_dead_letter_queue(aws):
    aws.sqs.send_message(QueueUrl=aws.work, MessageBody="not json")
    tally = worker.drain(aws.settings("grayscale"), sqs=aws.sqs, s3=aws.s3)
    assert (tally.invalid, completions(aws), queue_depth(aws)) == (1, [], (0, 1))


@pytest.mark.parametrize("change, reason", [
    pytest.param({"outputKey": "input/grayscale/x.jpg"}, "outside output/grayscale/", id="output-over-the-original"),
    pytest.param({"outputKey": "output/grayscale/../../input/x.jpg"}, "outside output/grayscale/", id="dot-dot"),
    pytest.param({"op": "thumbnail"}, "reached the 'grayscale' worker", id="other-op"),
    pytest.param({"bucket": "someone-elses"}, "this worker serves", id="other-bucket"),
])
def test_misrouted_message_fails_without_touching_any_object(aws, change, reason):
    original = jpeg()
    body = upload(aws, "grayscale", "x.jpg", original)
    aws.sqs.purge_queue(QueueUrl=aws.work)
    aws.sqs.send_message(QueueUrl=aws.work, MessageBody=json.dumps({**body, **change}))
    worker.drain(aws.settings("grayscale"), sqs=aws.sqs, s3=aws.s3)
    [completion] = completions(aws)
    assert (completion["status"], reason in completion["reason"], output(aws, body["key"])) == ("failed", True, original)
    assert aws.s3.list_objects_v2(Bucket=aws.bucket, Prefix="output/")["KeyCount"] == 0


def test_input_deleted_before_processing_fails_the_job(aws):
    body = upload(aws, "grayscale", "gone.jpg", jpeg())
    aws.s3.delete_object(Bucket=aws.bucket, Key=body["key"])
    worker.drain(aws.settings("grayscale"), sqs=aws.sqs, s3=aws.s3)
    [completion] = completions(aws)
    assert (completion["status"], "no longer exists" in completion["reason"], queue_depth(aws)) == (
        "failed", True, (0, 0))


def test_task_is_protected_once_for_all_its_batches_and_released_when_the_queue_is_empty(aws, ecs_agent):
    for i in range(12):  # two receives of at most ten
        upload(aws, "thumbnail", f"p{i}.jpg", jpeg((64, 48)))
    tally = worker.drain(aws.settings("thumbnail", agent_uri=ecs_agent.uri), sqs=aws.sqs, s3=aws.s3)
    assert (tally.done, ecs_agent.requests) == (12, [("PUT", ecs_agent.path, "application/json", PROTECT),
                                                     ("PUT", ecs_agent.path, "application/json", RELEASE)])


def test_protection_is_renewed_while_one_image_outlasts_two_thirds_of_it(aws, ecs_agent, monkeypatch):
    upload(aws, "grayscale", "slow.jpg", jpeg())
    slow = SlowApply(hold_s=10)
    monkeypatch.setattr(ops, "apply", slow)
    clock = [0.0]
    protection = Protection(ecs_agent.uri, clock=lambda: clock[0])
    runner = threading.Thread(target=worker.drain, args=(aws.settings("grayscale"),),
                              kwargs={"sqs": aws.sqs, "s3": aws.s3, "protection": protection})
    runner.start()
    assert slow.started.wait(5)
    clock[0] = 400.0  # two thirds of ten minutes into the image
    deadline = time.monotonic() + 5
    while len(ecs_agent.requests) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    slow.release.set()
    runner.join(10)
    assert (ecs_agent.bodies(), [c["status"] for c in completions(aws)]) == ([PROTECT, PROTECT, RELEASE], ["done"])


@pytest.mark.parametrize("agent", ["refusing", "unreachable"])
def test_a_failing_protection_endpoint_does_not_stop_the_work(aws, ecs_agent, agent):
    uri = failing_agent(ecs_agent, agent)
    for i in range(3):
        upload(aws, "grayscale", f"p{i}.jpg", jpeg((64, 48)))
    tally = worker.drain(aws.settings("grayscale", agent_uri=uri), sqs=aws.sqs, s3=aws.s3)
    assert (tally.done, queue_depth(aws)) == (3, (0, 0))
    assert ecs_agent.bodies() == ([PROTECT] if agent == "refusing" else [])  # tried once, nothing to release


ENV = {"BALLAST_OP": "grayscale", "WORK_QUEUE_URL": "https://sqs/work", "COMPLETIONS_QUEUE_URL": "https://sqs/done",
       "BALLAST_BUCKET": "photos"}


@pytest.mark.parametrize("environ, op, want", [
    pytest.param(ENV, None, {"op": "grayscale", "thumbnail_size": 256, "max_pixels": 50_000_000,
                             "stop_timeout_s": 30.0, "visibility_timeout_s": 30, "poll_wait_s": 20,
                             "agent_uri": None}, id="defaults"),
    pytest.param(ENV, "thumbnail", {"op": "thumbnail"}, id="op-argument-wins"),
    pytest.param({**ENV, "THUMBNAIL_SIZE": "128", "MAX_PIXELS": "1000", "STOP_TIMEOUT_S": "10",
                  "VISIBILITY_TIMEOUT_S": "90", "WATERMARK_LOGO": "/logo.png"}, None,
                 {"thumbnail_size": 128, "max_pixels": 1000, "stop_timeout_s": 10.0, "visibility_timeout_s": 90,
                  "watermark_logo": "/logo.png", "poll_wait_s": 5}, id="knobs-and-poll-inside-stop-timeout"),
    pytest.param({**ENV, "ECS_AGENT_URI": "http://169.254.170.2/api/abc-123"}, None,
                 {"agent_uri": "http://169.254.170.2/api/abc-123"}, id="ecs-agent-uri-from-ecs"),
])
def test_settings_come_from_the_environment(environ, op, want):
    settings = Settings.from_env(environ, op=op)
    assert {name: getattr(settings, name) for name in want} == want


@pytest.mark.parametrize("environ, message", [
    pytest.param({**ENV, "BALLAST_OP": "sepia"}, "BALLAST_OP must be one of", id="unknown-op"),
    pytest.param({k: v for k, v in ENV.items() if k != "BALLAST_BUCKET"}, "BALLAST_BUCKET", id="missing-bucket"),
])
def test_settings_name_what_is_wrong(environ, message):
    with pytest.raises(ValueError, match=message):
        Settings.from_env(environ)


SLOW_WORKER = """
import sys, time
from workers import ops
real = ops.apply
def slow(*args, **kwargs):
    time.sleep(1.5)
    return real(*args, **kwargs)
ops.apply = slow
from workers.worker import main
sys.exit(main())
"""


def test_sigterm_in_a_real_process_finishes_the_image_and_releases_the_batch(monkeypatch):
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_DEFAULT_REGION": "us-east-1"}.items():
        monkeypatch.setenv(name, value)
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        endpoint = "http://%s:%d" % server.get_host_and_port()
        sqs, s3 = boto3.client("sqs", endpoint_url=endpoint), boto3.client("s3", endpoint_url=endpoint)
        s3.create_bucket(Bucket="photos")
        work = sqs.create_queue(QueueName="work", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        done = sqs.create_queue(QueueName="done")["QueueUrl"]
        for i in range(3):
            s3.put_object(Bucket="photos", Key=f"input/grayscale/{i}.jpg", Body=jpeg())
            sqs.send_message(QueueUrl=work, MessageBody=json.dumps({
                "jobId": f"j{i}", "bucket": "photos", "key": f"input/grayscale/{i}.jpg", "op": "grayscale",
                "outputKey": f"output/grayscale/{i}.jpg", "enqueuedAt": "2025-01-01T00:00:00Z"}))
        env = {**os.environ, "AWS_ENDPOINT_URL": endpoint, "WORK_QUEUE_URL": work, "COMPLETIONS_QUEUE_URL": done,
               "BALLAST_BUCKET": "photos", "STOP_TIMEOUT_S": "10"}
        process = subprocess.Popen([sys.executable, "-c", SLOW_WORKER, "--op", "grayscale"], cwd=ROOT, env=env,
                                   stderr=subprocess.PIPE, text=True)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in process.stderr], daemon=True).start()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and "image started" not in lines.get(timeout=15):
            pass
        process.send_signal(signal.SIGTERM)
        rc = process.wait(10)
        reported = [json.loads(m["Body"])["status"]
                    for m in sqs.receive_message(QueueUrl=done, MaxNumberOfMessages=10).get("Messages", [])]
        back = sqs.receive_message(QueueUrl=work, MaxNumberOfMessages=10).get("Messages", [])
        outputs = s3.list_objects_v2(Bucket="photos", Prefix="output/").get("Contents", [])
        assert (rc, sorted(reported), len(back), len(outputs)) == (0, ["done", "started"], 2, 1)
    finally:
        server.stop()
