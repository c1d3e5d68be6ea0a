"""The local runtime's store keeps DynamoDB's promise: a conditional write is checked and applied as one step.

Racing writers through the real local runtime (its moto process, its API server): read-modify-write updates of one
Workload, controllers racing for the lease, a worker's success racing a dead letter for the same Job.
"""
import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone

import boto3
import pytest
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord

from ballast.api_client import Api, ApiError
from chalicelib import config, wiring
from chalicelib.adapters.store import Store
from chalicelib.errors import LeaseHeld
from chalicelib.photos import completions, job
from local.runtime import Runtime, Shape, workload_manifest

pytestmark = pytest.mark.filterwarnings("ignore:IAMAuthorizer is not a supported in local mode")

WRITERS, WRITE_S = 12, 4
# On a loaded machine four seconds may see fewer writes than writers: they go on until there are enough to race.
ENOUGH_WRITES, WRITE_MAX_S = 2 * WRITERS, 30
ACQUIRERS, LEASE_TTL_S, RACE_S = 16, 0.02, 3
JOBS, RACERS = 150, 8
NAMESPACE = "race"  # the controller reconciles "default"; nothing but the racers writes here


@pytest.fixture(scope="module")
def runtime(tmp_path_factory):
    from app import app

    served_as = app.__class__
    local = Runtime(tmp_path_factory.mktemp("race"), register=False).start()
    yield local
    local.stop()
    assert app.__class__ is served_as
    wiring.reset()


def fresh_store() -> Store:
    """A store with a client of its own, as each Lambda invocation and controller has."""
    return Store(boto3.resource("dynamodb").Table(config.TABLE))


def test_every_acknowledged_update_is_kept_and_each_resource_version_has_one_winner(runtime):
    manifest = workload_manifest("grayscale", "c", "s", "q", Shape())
    manifest["metadata"].update(name="contended", labels={})
    Api(runtime.api_url).post(f"/workloads?namespace={NAMESPACE}", manifest)
    path = f"/workloads/contended?namespace={NAMESPACE}"
    acknowledged: list[tuple[int, str]] = []  # (writer, resourceVersion the API answered)
    lock = threading.Lock()
    started = time.monotonic()

    def writing() -> bool:
        elapsed = time.monotonic() - started
        return elapsed < WRITE_S or (len(acknowledged) < ENOUGH_WRITES and elapsed < WRITE_MAX_S)

    def write(writer: int) -> None:
        api, label = Api(runtime.api_url), f"w{writer}"
        while writing():
            current = api.get(path)
            labels = current["metadata"].get("labels") or {}
            labels[label] = str(int(labels.get(label, "0")) + 1)
            current["metadata"]["labels"] = labels
            try:
                written = api.put(path, current)  # conditional on the resourceVersion just read
            except ApiError as error:
                assert error.code == 409, error
                continue
            with lock:
                acknowledged.append((writer, written["metadata"]["resourceVersion"]))

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))

    final = Api(runtime.api_url).get(path)["metadata"]["labels"]
    per_writer = {f"w{w}": str(sum(1 for who, _ in acknowledged if who == w)) for w in range(WRITERS)}
    assert len(acknowledged) >= WRITERS, "too few updates to race"
    assert {k: v for k, v in final.items()} == {k: v for k, v in per_writer.items() if v != "0"}, "an update was lost"
    versions = [rv for _, rv in acknowledged]
    assert len(set(versions)) == len(versions), "two acknowledgements share a resourceVersion"


def test_the_lease_has_one_holder_at_a_time_under_racing_acquirers(runtime):
    held: list[tuple[float, float, int]] = []  # (from, until, holder) of every acquisition that succeeded
    lock = threading.Lock()
    ends_at = time.monotonic() + RACE_S

    def acquire(holder: int) -> None:
        store = fresh_store()
        while time.monotonic() < ends_at:
            now = datetime.now(timezone.utc)
            try:
                until = store.acquire_lease("race", f"h{holder}", LEASE_TTL_S, now)
            except LeaseHeld:
                continue
            with lock:
                held.append((now.timestamp(), until.timestamp(), holder))
            time.sleep(LEASE_TTL_S * 1.5)  # let it lapse: the others race for it at once

    with ThreadPoolExecutor(ACQUIRERS) as pool:
        list(pool.map(acquire, range(ACQUIRERS)))

    held.sort()
    assert len({holder for _, _, holder in held}) > 1, "the lease never changed hands"
    overlaps = [(a, b) for a, b in zip(held, held[1:]) if a[2] != b[2] and b[0] < a[1]]
    assert overlaps == [], f"{len(overlaps)} times two controllers held the lease at once"


def test_a_workers_success_racing_its_dead_letter_always_ends_the_job_done(runtime):
    """The dead letter's Failed gives way to a success; a success overwritten by a racing dead letter would be lost."""
    store = fresh_store()
    jobs = {}
    for index in range(JOBS):
        key = f"input/grayscale/race-{index}.jpg"
        manifest = job.manifest(config.BUCKET, key, "grayscale", "output/" + key[len("input/"):], 10, f"e{index}",
                                f"e{index}", {**job.queued(), "enqueuedAt": datetime.now(timezone.utc).isoformat()})
        jobs[store.create(manifest)["metadata"]["name"]] = key
    starts = {name: threading.Barrier(2, timeout=10) for name in jobs}

    def deliver(kind: str, name: str) -> None:
        key = jobs[name]
        body = {"jobId": name, "key": key, "op": "grayscale", "status": "done", "outputKey": "output/" + key[6:],
                "bytesOut": 5, "width": 1, "height": 1}
        # As Lambda hands them over: the dead letter's receive count is the work message's, plus its own receive.
        record = SQSRecord({"messageId": f"{kind}-{name}", "body": json.dumps(body),
                            "attributes": {"ApproximateReceiveCount": "4"}})
        batch = completions.Batch()
        starts[name].wait()  # the two land together
        batch.complete(record) if kind == "done" else batch.dead_letter(record)

    with ThreadPoolExecutor(RACERS) as pool:  # each pair is taken together: the queue hands them out in order
        futures = [pool.submit(deliver, kind, name) for name in jobs for kind in ("done", "dead letter")]
        for future in futures:
            future.result()

    phases = {name: store.get(job.KIND, "default", name)["status"]["phase"] for name in jobs}
    assert phases == dict.fromkeys(jobs, job.DONE), "a success was lost to a racing dead letter"
