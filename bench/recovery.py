"""Benchmark of recovery from a killed worker: the tail from a SIGKILL mid-batch to the batch's last image done.

Real worker processes on the local runtime's moto process, at the production settings: a worker of 2.5 s an image
(a large PNG) is killed after its third image has started, and a second worker starts at once. The baseline, in the same
run, is the policy before: the queue's visibility timeout at 60 s and every receive taking ten messages (SQS's most),
so the dead worker's unstarted messages stay invisible for a whole timeout. Ballast's: 30 s, extended by the
heartbeat, and a receive takes what the worker starts within one heartbeat interval.

    python bench/recovery.py [--images 12]
"""
from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script (make bench) or as -m bench.recovery

import boto3  # noqa: E402

import infra  # noqa: E402

os.environ.update(infra.stage_environment("dev"))  # the names chalicelib reads at import

from chalicelib import config  # noqa: E402
from local import photos  # noqa: E402
from local.moto_server import MotoServer  # noqa: E402

OP = "grayscale"
HOLD_S = 2.5  # a slow image (a large PNG): the pace then takes four a receive, the old policy ten
# The worker as `python -m workers.worker` runs it, each image held HOLD_S; "before" restores the old receive.
WORKER = """
import runpy, sys, time
from workers import messages, ops
real, policy = ops.apply, sys.argv[1]
def slow(*args, **kwargs):
    time.sleep(%s)
    return real(*args, **kwargs)
ops.apply = slow
if policy == "before":
    messages.Pace.batch = lambda self: messages.MAX_BATCH
sys.argv = ["workers.worker"]
runpy.run_module("workers.worker", run_name="__main__")
""" % HOLD_S
POLICIES = {"before": 60, "ballast": 30}  # visibility timeout, s


def queue_url(name: str) -> str:
    return boto3.client("sqs").get_queue_url(QueueName=name)["QueueUrl"]


def start_worker(policy: str, visibility_s: int, slow: bool) -> subprocess.Popen:
    env = {**os.environ, "BALLAST_OP": OP, "WORK_QUEUE_URL": queue_url(config.work_queue(OP)),
           "COMPLETIONS_QUEUE_URL": queue_url(config.COMPLETIONS_QUEUE), "BALLAST_BUCKET": config.BUCKET,
           "VISIBILITY_TIMEOUT_S": str(visibility_s), "STOP_TIMEOUT_S": "10"}
    command = ["-c", WORKER, policy] if slow else ["-m", "workers.worker"]
    return subprocess.Popen([sys.executable, *command], cwd=infra.ROOT, env=env, stderr=subprocess.PIPE, text=True)


def completed() -> int:
    attributes = boto3.client("sqs").get_queue_attributes(QueueUrl=queue_url(config.COMPLETIONS_QUEUE),
                                                          AttributeNames=["ApproximateNumberOfMessages"])
    return int(attributes["Attributes"]["ApproximateNumberOfMessages"])


def tail(policy: str, images: int, photo: bytes) -> tuple[float, int]:
    """(seconds from the kill to the last image done, messages the killed worker held)."""
    sqs, s3, visibility_s = boto3.client("sqs"), boto3.client("s3"), POLICIES[policy]
    for queue in (config.work_queue(OP), config.COMPLETIONS_QUEUE):
        sqs.purge_queue(QueueUrl=queue_url(queue))
    sqs.set_queue_attributes(QueueUrl=queue_url(config.work_queue(OP)), Attributes={"VisibilityTimeout": str(visibility_s)})
    for index in range(images):
        key = f"input/{OP}/{policy}-{index}.jpg"
        s3.put_object(Bucket=config.BUCKET, Key=key, Body=photo)
        sqs.send_message(QueueUrl=queue_url(config.work_queue(OP)), MessageBody=json.dumps(
            {"jobId": f"{policy}{index:027d}", "bucket": config.BUCKET, "key": key, "op": OP,
             "outputKey": "output/" + key[len("input/"):]}))
    doomed = start_worker(policy, visibility_s, slow=True)
    started = 0
    for line in doomed.stderr:
        started += "image started" in line
        if started == 3:
            break
    doomed.send_signal(signal.SIGKILL)
    killed_at = time.monotonic()
    doomed.wait()
    held = int(sqs.get_queue_attributes(QueueUrl=queue_url(config.work_queue(OP)),
                                        AttributeNames=["ApproximateNumberOfMessagesNotVisible"])["Attributes"]
               ["ApproximateNumberOfMessagesNotVisible"])
    rescuer = start_worker(policy, visibility_s, slow=False)
    try:
        while completed() < images:
            if time.monotonic() - killed_at > visibility_s * 3:
                raise RuntimeError(f"{policy}: only {completed()} of {images} done")
            time.sleep(0.2)
        return time.monotonic() - killed_at, held
    finally:
        rescuer.send_signal(signal.SIGTERM)
        rescuer.wait(20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=12)
    args = parser.parse_args()
    photo, _ = photos.render("jpeg", photos.SIZES["small"], __import__("random").Random(1))
    with MotoServer() as moto:
        infra.create_stack(boto3.client("cloudformation"), moto.environment())
        results = {policy: tail(policy, args.images, photo) for policy in POLICIES}
    for policy, (seconds, held) in results.items():
        print(f"{policy:8} visibility {POLICIES[policy]:3d} s: {held:2d} messages stranded by the kill, "
              f"last of {args.images} images done {seconds:5.1f} s after it")
    print(f"tail ratio before / ballast: {results['before'][0] / results['ballast'][0]:.2f}x (same run, same machine)")


if __name__ == "__main__":
    main()
