"""Workers as real processes (`python -m workers.worker`) against a moto server, killed and stopped mid-image."""
import functools
import os
import queue
import signal
import subprocess
import sys
import threading
import time

import boto3
import pytest
import requests
from chalice.test import Client

import infra
from app import app
from chalicelib import config, wiring
from local.moto_server import MotoServer
from tests.chaos.conftest import body_of, depth, ends, jpeg, pump, queue_url
from tests.pipeline import BUCKET, upload

VISIBILITY_S = 2
STOP_TIMEOUT_S = 6  # the worker's long poll is then 1 s, so a stop is never stuck in a receive
# The worker exactly as `python -m workers.worker` runs it, its transform slowed so a signal lands mid-image.
SLOW_WORKER = """
import runpy, sys, time
from workers import ops
real, hold_s = ops.apply, float(sys.argv[1])
def slow(*args, **kwargs):
    time.sleep(hold_s)
    return real(*args, **kwargs)
ops.apply = slow
sys.argv = ["workers.worker"]
runpy.run_module("workers.worker", run_name="__main__")
"""


class Worker:
    """One worker process and its log lines, read as they come."""

    def __init__(self, op: str, hold_s: float | None = None):
        env = {**os.environ, "BALLAST_OP": op, "WORK_QUEUE_URL": queue_url(config.work_queue(op)),
               "COMPLETIONS_QUEUE_URL": queue_url(config.COMPLETIONS_QUEUE), "BALLAST_BUCKET": BUCKET,
               "VISIBILITY_TIMEOUT_S": str(VISIBILITY_S), "STOP_TIMEOUT_S": str(STOP_TIMEOUT_S)}
        command = ["-m", "workers.worker"] if hold_s is None else ["-c", SLOW_WORKER, str(hold_s)]
        self.process = subprocess.Popen([sys.executable, *command], cwd=infra.ROOT, env=env, stderr=subprocess.PIPE,
                                        text=True)
        self.lines: queue.Queue = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in self.process.stderr], daemon=True).start()

    def wait_for(self, phrase: str, timeout_s: float = 20) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            try:
                if phrase in self.lines.get(timeout=max(0.0, deadline - time.monotonic())):
                    return
            except queue.Empty:
                break
        raise AssertionError(f"worker never logged {phrase!r}")

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        return self.process.wait(STOP_TIMEOUT_S + 5)


@pytest.fixture
def server(monkeypatch):
    """The local runtime's AWS: a moto server on 127.0.0.1 with the stack, its address exported to every process."""
    moto = MotoServer().start()
    # A moto server in this process shares moto's backends with every other one: start from nothing, leave nothing.
    reset = functools.partial(requests.post, f"{moto.endpoint}/moto-api/reset", timeout=10)
    try:
        reset().raise_for_status()
        wiring.reset()
        infra.create_stack(boto3.client("cloudformation"), infra.stage_environment("dev"))
        boto3.client("s3").put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
        for op in config.OPERATIONS:
            boto3.client("sqs").set_queue_attributes(QueueUrl=queue_url(config.work_queue(op)),
                                                     Attributes={"VisibilityTimeout": str(VISIBILITY_S)})
        with Client(app, stage_name="dev") as client:
            yield client
    finally:
        reset()
        wiring.reset()
        moto.stop()


@pytest.fixture
def workers():
    started: list[Worker] = []

    def start(op: str, hold_s: float | None = None) -> Worker:
        started.append(Worker(op, hold_s))
        return started[-1]
    yield start
    for worker in started:  # only the processes this test started
        if worker.process.poll() is None:
            worker.process.kill()
            worker.process.wait()


def wait_until(condition, timeout_s: float = 20) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.2)


def finished_so_far(server, seen: list[dict]) -> int:
    """Hands the completions queue to its handler, keeping what it saw in seen: how many done or failed so far."""
    seen += pump(server, config.COMPLETIONS_QUEUE, "on_completion")
    return len(ends(seen))


def test_a_worker_killed_mid_image_loses_nothing_and_a_second_worker_completes_its_batch(server, workers, ledger):
    keys = [f"input/grayscale/k{i}.jpg" for i in range(2)]
    for key in keys:
        upload(server, key, jpeg())
    doomed = workers("grayscale", hold_s=60)
    doomed.wait_for("image started")
    doomed.process.kill()
    assert doomed.process.wait(5) == -signal.SIGKILL
    # The image in hand was not deleted: it stays invisible until its (no longer extended) visibility runs out. The
    # other was never taken (a worker takes one message until it knows its pace), so it waits for no timeout.
    assert depth(config.work_queue("grayscale")) == (1, 1)
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="output/")["KeyCount"] == 0

    rescuer, seen = workers("grayscale"), []
    wait_until(lambda: finished_so_far(server, seen) == 2)
    assert rescuer.stop() == 0
    completions = [body_of(m) for m in ends(seen)]
    assert sorted((c["status"], c["receiveCount"], c["workerId"].endswith(f"-{rescuer.process.pid}"))
                  for c in completions) == [("done", 1, True), ("done", 2, True)]
    ledger.assert_settled(wiring.store(), dict.fromkeys(keys, "Done"))


def test_a_worker_stopped_while_scaling_in_finishes_the_image_in_hand_and_releases_the_rest(server, workers, ledger):
    keys = [f"input/thumbnail/s{i}.jpg" for i in range(3)]
    for key in keys:
        upload(server, key, jpeg((300, 200)))
    leaving = workers("thumbnail", hold_s=1.5)
    leaving.wait_for("image started")
    stopped_at = time.monotonic()
    assert leaving.stop() == 0  # ECS sends SIGTERM to the tasks it removes when desiredCount drops
    assert time.monotonic() - stopped_at < STOP_TIMEOUT_S
    # One image finished and reported; the two it never started are visible again at once, not after the timeout.
    seen = []
    assert (finished_so_far(server, seen), depth(config.work_queue("thumbnail"))) == (1, (2, 0))

    remaining = workers("thumbnail")
    wait_until(lambda: finished_so_far(server, seen) == 3)
    assert remaining.stop() == 0
    completions = [body_of(m) for m in ends(seen)]
    assert sorted(c["workerId"].rsplit("-", 1)[1] for c in completions) == sorted(
        [str(leaving.process.pid)] + [str(remaining.process.pid)] * 2)
    ledger.assert_settled(wiring.store(), dict.fromkeys(keys, "Done"))



def test_a_worker_killed_mid_batch_strands_only_what_it_started_and_the_tail_is_one_visibility_timeout(server, workers,
                                                                                                       ledger):
    """A worker takes what it starts within a heartbeat interval; killed, it strands that much, for one timeout."""
    keys = [f"input/grayscale/t{i}.jpg" for i in range(8)]
    for key in keys:
        upload(server, key, jpeg())
    doomed = workers("grayscale", hold_s=0.3)  # a pace of ~0.3 s an image: two a receive at a 2 s timeout
    for _ in range(3):
        doomed.wait_for("image finished")
    doomed.wait_for("image started")
    doomed.process.kill()
    killed_at = time.monotonic()
    assert doomed.process.wait(5) == -signal.SIGKILL
    stranded = depth(config.work_queue("grayscale"))[1]
    assert 1 <= stranded <= 2, f"the killed worker held {stranded} messages"

    rescuer, seen = workers("grayscale"), []
    wait_until(lambda: finished_so_far(server, seen) == len(keys), timeout_s=VISIBILITY_S + 15)
    tail_s = time.monotonic() - killed_at
    print(f"killed-worker tail: {tail_s:.1f} s with a {VISIBILITY_S} s visibility timeout, {stranded} stranded")
    assert tail_s < VISIBILITY_S + 4  # the stranded come back within one timeout; the rescuer's work is the rest
    assert rescuer.stop() == 0
    ledger.assert_settled(wiring.store(), dict.fromkeys(keys, "Done"))
