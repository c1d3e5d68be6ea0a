"""End-to-end images/s through the whole local runtime versus the workers' raw throughput measured in the same run.

Raw: the workload is pinned at zero (`ballast scale --replicas 0`) while the batch lands and is ingested, so the whole
batch waits in the queue; then it is pinned at every slot the local nodes hold, and the rate from the moment all those
workers run and each has finished an image to the last image is what the workers and moto do with no control plane in
the way. End to end: the autoscaler has the workload at zero, the same photos land under new names, and Ballast scales
it up from zero, adds nodes, drains and scales back. The ratio of the two rates once the fleet is up (the same moment:
full, and every worker of it done with an image) is the control plane's steady overhead (goal ≥ 0.8); the ratio of the
end-to-end makespan's rate to the raw rate also pays for ingest and the scale-up from zero.

    python bench/e2e.py [--n 600] [--op thumbnail] [--out out/bench]
"""
from __future__ import annotations

import argparse
import json
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import boto3  # noqa: E402
from rich.console import Console  # noqa: E402

from local import demo  # noqa: E402
from local.runtime import Runtime, Shape  # noqa: E402

GOAL = 0.8


def wait(predicate, timeout_s: float, what: str, period_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(period_s)
    raise SystemExit(f"bench/e2e.py: timed out after {timeout_s:.0f} s waiting for {what}")


JOBS_POLL_S = 2.0
# Completions land in bunches (a worker's batch, the completions Lambda's batching window): a rate over a shorter
# stretch than this says more about the bunching than about the throughput.
MIN_SPLIT_S = 3.0
# Listing every job goes through the moto server the system under test uses, and costs it more than the queue depths:
# the jobs are listed only once the work and completions queues hold nothing, visible or in flight.
DEPTHS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible")


def finished_jobs(store, namespace: str, n: int) -> list[dict] | None:
    done = [j for j in store.list_all("Job", namespace) if j["status"].get("phase") in ("Done", "Failed")]
    return done if len(done) == n else None


def queued(sqs, queue_url: str, depths=DEPTHS[:1]) -> int:
    attributes = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=list(depths))["Attributes"]
    return sum(int(attributes[name]) for name in depths)


def running(runtime: Runtime, service: str) -> int:
    view = runtime.agent.snapshot().services.get(service)
    return view.running if view else 0


class FleetWatch(threading.Thread):
    """When the service first ran `full` workers, to a tenth of a second."""

    def __init__(self, runtime: Runtime, service: str, full: int):
        super().__init__(name="fleet-watch", daemon=True)
        self._runtime, self._service, self._full = runtime, service, full
        self._stopped = threading.Event()
        self.full_at: float | None = None
        self.start()

    def run(self) -> None:
        while not self._stopped.wait(0.1):
            if running(self._runtime, self._service) >= self._full:
                self.full_at = time.time()
                return

    def stop(self) -> None:
        self._stopped.set()
        self.join()


def batch(runtime: Runtime, store, files: list[Path], op: str, tag: str, bucket: str, service: str, full: int,
          queued_first=None) -> dict:
    """Uploads the files as input/<op>/u-<tag>/<name>; images/s over the makespan and after the fleet was full.

    Each batch has a user segment of its own, so its jobs live in their own namespace: the second batch's polling
    lists as many jobs as the first one's did, and the two measure the same overhead.
    """
    namespace = f"u-{tag}"
    listed = [0.0]
    from chalicelib import config  # reads the stage's variables, which the runtime exports

    sqs = boto3.client("sqs")
    queues = [runtime.queue_urls[name] for name in (config.work_queue(op), config.COMPLETIONS_QUEUE)]
    # The uploads take a while (2,000 take longer than the scale-up): the fleet is watched from the first one on.
    fleet = FleetWatch(runtime, service, full)
    uploads = demo.upload([(path, f"input/{op}/{namespace}/{path.name}") for path in files], bucket)
    if queued_first:
        queued_first()

    def all_done():
        if time.monotonic() - listed[0] < JOBS_POLL_S:
            return None
        listed[0] = time.monotonic()
        if any(queued(sqs, url, DEPTHS) for url in queues):
            return None
        return finished_jobs(store, namespace, len(files))

    try:
        jobs = wait(all_done, 900, f"{tag} batch")
    finally:
        fleet.stop()
    full_at = fleet.full_at
    ends = sorted(datetime.fromisoformat(j["status"]["finishedAt"]).timestamp() for j in jobs)
    first = min(uploads.values())
    makespan = ends[-1] - first
    result = {"images": len(files), "makespan_s": round(makespan, 2), "images_per_s": round(len(files) / makespan, 3),
              "failed": sum(j["status"]["phase"] == "Failed" for j in jobs)}
    scaled_at = _working(jobs, full_at, full)
    if scaled_at:
        result.update(full_after_s=round(full_at - first, 2), working_after_s=round(scaled_at - first, 2),
                      steady_images_per_s=_rate_from(ends, scaled_at))
    # Where the end-to-end gap comes from: until the last upload is a Job, ingest shares the cores and moto with the
    # workers; after it, only the completions and the controller do.
    ingested = max(datetime.fromisoformat(j["metadata"]["creationTimestamp"]).timestamp() for j in jobs)
    result.update(ingested_after_s=round(ingested - first, 2), after_ingest_images_per_s=_rate_from(ends, ingested))
    if scaled_at and ingested > scaled_at:
        result["up_while_ingesting_s"] = round(ingested - scaled_at, 2)
        if ingested - scaled_at >= MIN_SPLIT_S:
            result["while_ingesting_images_per_s"] = _rate_between(ends, scaled_at, ingested)
    return result


def _working(jobs: list[dict], full_at: float | None, full: int) -> float | None:
    """When the full fleet was working: it ran `full` workers, and as many had each finished an image.

    A worker process needs a second or two before its first image (interpreter, Pillow, the first receive). Workers
    that start one by one (the raw phase, mostly) are warm when the last one starts; four started at once by a scale
    from zero are not: counted from the start, the end-to-end window held two seconds in which nothing could finish.
    """
    if full_at is None:
        return None
    firsts: dict[str, float] = {}
    for record in jobs:
        worker, at = record["status"].get("worker"), datetime.fromisoformat(record["status"]["finishedAt"]).timestamp()
        if worker:
            firsts[worker] = min(firsts.get(worker, at), at)
    if len(firsts) < full:
        return None
    return max(full_at, sorted(firsts.values())[full - 1])


def _rate_from(ends: list[float], start: float) -> float | None:
    return _rate_between(ends, start, ends[-1])


def _rate_between(ends: list[float], start: float, stop: float) -> float | None:
    inside = [e for e in ends if start <= e <= stop]
    span = stop - start
    return round(len(inside) / span, 3) if span > 0 and len(inside) > 1 else None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=600, help="enough that the fleet is full for a while; 200 drain before it is")
    parser.add_argument("--op", default="thumbnail")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--out", type=Path, default=Path("out/bench"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    console = Console(file=sys.__stdout__)
    sys.stdout = open(args.out / "lambda.log", "w", buffering=1)
    photos = demo.generated_photos(args.out, args.n, args.seed, (), 0.0, console)
    files = sorted(p for p in photos.iterdir() if p.is_file() and not p.name.startswith("."))
    shape = Shape()
    slots = min(shape.max_replicas, shape.nodes * (shape.node_cpu_millicores // shape.task_cpu_millicores))
    runtime = Runtime(args.out, shape).start()
    try:
        from chalicelib import config, wiring

        store, workload, service = wiring.store(), f"photos-{args.op}", runtime.services[args.op]
        queue_url = runtime.queue_urls[config.work_queue(args.op)]

        def all_queued_then_full_fleet():
            sqs = boto3.client("sqs")
            wait(lambda: queued(sqs, queue_url) >= len(files), 300, f"{len(files)} messages queued")
            runtime.api.put(f"/workloads/{workload}/scale", {"spec": {"replicas": slots}})

        with console.status(f"raw: {len(files)} photos queued with {workload} held at zero, then {slots} workers …"):
            runtime.api.put(f"/workloads/{workload}/scale", {"spec": {"replicas": 0}})
            raw = batch(runtime, store, files, args.op, "raw", config.BUCKET, service, slots, all_queued_then_full_fleet)
        with console.status("handing the workload back to the autoscaler and waiting for zero …"):
            runtime.api.patch(f"/workloads/{workload}", {"spec": {"replicas": None}})
            wait(lambda: running(runtime, service) == 0 and runtime.agent.snapshot().nodes_ready == 0, 300, "zero workers and nodes")
        with console.status(f"end to end: the same {len(files)} photos, scaled from zero by Ballast …"):
            e2e = batch(runtime, store, files, args.op, "e2e", config.BUCKET, service, slots)
    finally:
        runtime.stop()
    raw_rate = raw["steady_images_per_s"]
    steady = (e2e.get("steady_images_per_s") or 0) / raw_rate
    result = {"op": args.op, "slots": slots, "cpus": shape.nodes, "raw": raw, "end_to_end": e2e,
              "ratio_makespan": round(e2e["images_per_s"] / raw_rate, 3), "ratio_scaled_up": round(steady, 3), "goal": GOAL}
    (args.out / "e2e.json").write_text(json.dumps(result, indent=2))
    console.print(f"raw: {slots} workers on a full queue {raw_rate:.2f} images/s · end to end from zero: "
                  f"{e2e['images_per_s']:.2f} images/s over the makespan (full fleet after {e2e.get('full_after_s', '-')} s, every "
                  f"worker of it done with an image after {e2e.get('working_after_s', '-')} s, "
                  f"then {e2e.get('steady_images_per_s') or 0:.2f} images/s)")
    if not e2e.get("full_after_s"):
        console.print("the end-to-end fleet never filled: the queue drained as fast as ingest fed it, so the autoscaler "
                      "rightly kept fewer workers; the makespan ratio is then the ingest path's rate against the workers'")
    console.print(f"ratio once scaled up {steady:.2f} (goal ≥ {GOAL}) · ratio over the makespan {result['ratio_makespan']:.2f} · "
                  f"{args.out / 'e2e.json'}")
    if e2e.get("while_ingesting_images_per_s"):
        console.print(f"with the fleet up while uploads were still being ingested: {e2e['while_ingesting_images_per_s']:.2f} "
                      f"images/s (ratio {e2e['while_ingesting_images_per_s'] / raw_rate:.2f}; ingest, S3 and the workers share "
                      f"{shape.nodes} cores and one moto)")
    elif e2e.get("up_while_ingesting_s"):
        console.print(f"the fleet was up for {e2e['up_while_ingesting_s']} s before the last upload became a job: "
                      f"too short for a rate of its own")
    if e2e.get("after_ingest_images_per_s"):
        console.print(f"the last upload became a job {e2e['ingested_after_s']} s in; from then on "
                      f"{e2e['after_ingest_images_per_s']:.2f} images/s end to end (ratio {e2e['after_ingest_images_per_s'] / raw_rate:.2f})")
    return 0 if steady >= GOAL else 1


if __name__ == "__main__":
    sys.exit(main())
