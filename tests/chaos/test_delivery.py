"""At-least-once delivery, on moto: S3 and SQS repeat events and messages, and completions arrive out of order."""
import threading

import boto3

from chalicelib import config
from chalicelib.photos import job
from chalicelib.adapters.store import Store
from chalicelib.errors import Conflict
from tests.chaos.conftest import body_of, completions, deliver, depth, ends, jpeg, pump, queue_url, receive
from tests.pipeline import BUCKET, upload
from workers import ops, worker
from workers.messages import Pace
from workers.protection import Protection
from workers.settings import Settings


def settings(op: str, name: str = "chaos", visibility_s: int = 30) -> Settings:
    return Settings(op=op, work_queue_url=queue_url(config.work_queue(op)),
                    completions_queue_url=queue_url(config.COMPLETIONS_QUEUE), bucket=BUCKET, poll_wait_s=0,
                    visibility_timeout_s=visibility_s, worker_id=name)


def drain_workers(*op_names: str) -> None:
    for op in op_names or config.OPERATIONS:
        worker.drain(settings(op), sqs=boto3.client("sqs"), s3=boto3.client("s3"))


def test_s3_delivering_an_event_twice_makes_one_job_one_message_one_output(client, store, versioned, ledger):
    event = upload(client, "input/grayscale/twice.jpg", jpeg())
    client.lambda_.invoke("on_upload", event)
    client.lambda_.invoke("on_upload", {"Records": event["Records"] * 2})  # and once more, named twice in one event
    assert depth(config.work_queue("grayscale")) == (1, 0)
    drain_workers("grayscale")
    pump(client, config.COMPLETIONS_QUEUE, "on_completion")
    ledger.assert_settled(store, {"input/grayscale/twice.jpg": "Done"})


def test_a_work_message_two_workers_receive_at_once_is_written_once_and_finishes_once(client, store, versioned, ledger,
                                                                                        monkeypatch):
    """Visibility 0: both workers hold the same message, both find no output yet and both transform the image."""
    upload(client, "input/thumbnail/both.jpg", jpeg((300, 200)))
    boto3.client("sqs").set_queue_attributes(QueueUrl=queue_url(config.work_queue("thumbnail")),
                                             Attributes={"VisibilityTimeout": "0"})
    both_transforming = threading.Barrier(2, timeout=10)
    real = ops.apply

    def in_step(*args, **kwargs):
        both_transforming.wait()
        return real(*args, **kwargs)
    monkeypatch.setattr(ops, "apply", in_step)

    def one_worker(name):
        sqs, s3, chosen = boto3.client("sqs"), boto3.client("s3"), settings("thumbnail", name, visibility_s=1)
        while not worker._poll(chosen, threading.Event(), sqs, s3, worker.Tally(), Protection(None), Pace(chosen)):
            pass  # until this worker has received the message once
    workers = [threading.Thread(target=one_worker, args=(f"w{i}",)) for i in range(2)]
    for thread in workers:
        thread.start()
    for thread in workers:
        thread.join(20)
    finished = ends(pump(client, config.COMPLETIONS_QUEUE, "on_completion"))
    assert sorted(body_of(m)["workerId"] for m in finished) == ["w0", "w1"]
    ledger.assert_settled(store, {"input/thumbnail/both.jpg": "Done"})


def test_a_completion_delivered_twice_finishes_the_job_once(client, store, versioned, ledger):
    upload(client, "input/watermark/again.jpg", jpeg())
    drain_workers("watermark")
    [message] = completions(client, visibility_s=0)
    again = receive(config.COMPLETIONS_QUEUE)  # the same message, a second receipt: SQS delivered it twice
    assert [m["MessageId"] for m in again] == [message["MessageId"]]
    assert deliver(client, "on_completion", [message], config.COMPLETIONS_QUEUE) == set()
    assert deliver(client, "on_completion", again, config.COMPLETIONS_QUEUE) == set()
    ledger.assert_settled(store, {"input/watermark/again.jpg": "Done"})


def test_a_done_after_a_dead_letter_and_a_repeat_after_done_change_nothing(client, store, versioned, ledger):
    """Out of order: SQS gave up on one job (dead letter) before its slow worker reported done; another job's
    done is repeated after it finished. The worker's done outranks giving up: the late job ends Done with the output
    it stored; the repeated done changes nothing. Each job counts once, by its final phase."""
    upload(client, "input/grayscale/late.jpg", jpeg())
    upload(client, "input/grayscale/early.jpg", jpeg((80, 60)))
    sqs = boto3.client("sqs")
    [_, late] = sorted(receive(config.work_queue("grayscale"), visibility_s=0), key=lambda m: body_of(m)["key"])
    sqs.send_message(QueueUrl=queue_url(config.DEAD_LETTER_QUEUE), MessageBody=late["Body"])
    assert deliver(client, "on_dead_letter", receive(config.DEAD_LETTER_QUEUE), config.DEAD_LETTER_QUEUE) == set()
    drain_workers("grayscale")
    [done_early, done_late] = sorted(completions(client), key=lambda m: body_of(m)["key"])
    assert (body_of(done_late)["status"], body_of(done_early)["status"]) == ("done", "done")
    assert deliver(client, "on_completion", [done_late, done_early], config.COMPLETIONS_QUEUE) == set()
    sqs.send_message(QueueUrl=queue_url(config.COMPLETIONS_QUEUE), MessageBody=done_early["Body"])
    pump(client, config.COMPLETIONS_QUEUE, "on_completion")
    jobs = ledger.assert_settled(store, {"input/grayscale/late.jpg": "Done", "input/grayscale/early.jpg": "Done"})
    assert jobs["input/grayscale/late.jpg"]["status"]["reason"] is None
    assert ledger.dead_lettered == {jobs["input/grayscale/late.jpg"]["metadata"]["name"]}


def test_two_writers_racing_on_a_job_status_end_it_once(client, store, versioned, ledger, monkeypatch):
    """A worker's done and SQS's dead letter for one job, handled at once by two Lambdas: both read Queued, both
    write under that resourceVersion; DynamoDB's condition lets one in, the other re-reads the job. Whichever won,
    it ends Done: a dead letter re-reading Done stops; a done re-reading the dead letter's Failed outranks it."""
    upload(client, "input/grayscale/race.jpg", jpeg())
    [work] = receive(config.work_queue("grayscale"), visibility_s=0)
    drain_workers("grayscale")
    [done] = completions(client)
    boto3.client("sqs").send_message(QueueUrl=queue_url(config.DEAD_LETTER_QUEUE), MessageBody=work["Body"])
    [dead] = receive(config.DEAD_LETTER_QUEUE)

    both_read = threading.Barrier(2, timeout=10)
    reads, conflicts = [], []
    get, update_status = Store.get, Store.update_status

    def read_together(self, kind, namespace, name):
        found = get(self, kind, namespace, name)
        if kind == job.KIND and len(reads) < 2:
            reads.append(name)
            both_read.wait()
        return found

    def noting_conflicts(self, *args, **kwargs):
        try:
            return update_status(self, *args, **kwargs)
        except Conflict:
            conflicts.append(args[2])
            raise
    monkeypatch.setattr(Store, "get", read_together)
    monkeypatch.setattr(Store, "update_status", noting_conflicts)
    racers = [threading.Thread(target=deliver, args=(client, "on_completion", [done], config.COMPLETIONS_QUEUE)),
              threading.Thread(target=deliver, args=(client, "on_dead_letter", [dead], config.DEAD_LETTER_QUEUE))]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join(20)
    assert len(conflicts) == 1 and len(reads) == 2
    ledger.assert_settled(store, {"input/grayscale/race.jpg": "Done"})
