"""Poison input, on moto: corrupt images, unusable completions, and objects or images that declare enormous sizes."""
import resource
import struct
import zlib

import boto3

from chalicelib import config
from chalicelib.photos import ingest
from tests.chaos.conftest import body_of, deliver, depth, ends, jpeg, pump, queue_url, receive
from tests.chaos.test_delivery import drain_workers
from tests.pipeline import BUCKET, s3_event, upload
from workers import process

FIVE_GB = 5 * 2**30
COMPLETIONS_DLQ = f"{config.COMPLETIONS_QUEUE}-dlq"


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width × height pixels and whose data holds a single row."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A real small JPEG whose frame header (SOF0) is rewritten to claim width × height."""
    data = bytearray(jpeg((16, 16)))
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_a_corrupt_image_fails_its_job_with_a_reason_and_the_rest_of_the_batch_is_done(client, store, versioned, ledger):
    upload(client, "input/grayscale/poison.jpg", b"\xff\xd8\xff\xe0 this is not a JPEG after all")
    upload(client, "input/grayscale/fine.jpg", jpeg())
    drain_workers("grayscale")
    pump(client, config.COMPLETIONS_QUEUE, "on_completion")
    ledger.assert_settled(store, {"input/grayscale/poison.jpg": "Failed", "input/grayscale/fine.jpg": "Done"})


def test_a_poison_completion_is_retried_alone_then_rests_in_its_dead_letter_queue(client, store, versioned, ledger):
    upload(client, "input/watermark/good.jpg", jpeg())
    drain_workers("watermark")
    sqs, completions = boto3.client("sqs"), queue_url(config.COMPLETIONS_QUEUE)
    sqs.set_queue_attributes(QueueUrl=completions, Attributes={"VisibilityTimeout": "0"})
    sqs.send_message(QueueUrl=completions, MessageBody="{not json")
    sqs.send_message(QueueUrl=completions, MessageBody='{"jobId": "' + "f" * 32 + '", "key": "input/watermark/x.jpg", '
                                                       '"status": "done", "outputKey": "output/watermark/x.jpg"}')
    reported = []
    for _ in range(10):  # the redrive policy allows 5 receives; the 6th moves the poison to the dead-letter queue
        messages = receive(config.COMPLETIONS_QUEUE)
        if not messages:
            break
        failed = deliver(client, "on_completion", messages, config.COMPLETIONS_QUEUE)
        reported.append(len(failed))
        assert len(failed) == len([m for m in messages if "good.jpg" not in m["Body"]])
    assert reported[0] == 2 and depth(config.COMPLETIONS_QUEUE) == (0, 0)
    resting = receive(COMPLETIONS_DLQ)
    assert sorted(m["Body"][:9] for m in resting) == ['{"jobId":', "{not json"]
    for message in resting:  # a human read them; the suite's ledger wants every queue empty
        sqs.delete_message(QueueUrl=queue_url(COMPLETIONS_DLQ), ReceiptHandle=message["ReceiptHandle"])
    ledger.assert_settled(store, {"input/watermark/good.jpg": "Done"})


def test_a_5_gb_declared_object_is_refused_at_ingest_whether_it_is_small_or_absent(client, store, versioned, ledger):
    s3 = boto3.client("s3")
    s3.put_object(Bucket=BUCKET, Key="input/thumbnail/liar.jpg", Body=jpeg())
    client.lambda_.invoke("on_upload", s3_event(("input/thumbnail/liar.jpg", FIVE_GB), ("input/thumbnail/ghost.jpg", FIVE_GB)))
    assert depth(config.work_queue("thumbnail")) == (0, 0)  # no worker delivery spent on either
    jobs = ledger.assert_settled(store, {"input/thumbnail/liar.jpg": "Failed", "input/thumbnail/ghost.jpg": "Failed"})
    assert {j["status"]["reason"] for j in jobs.values()} == {f"file too large: {FIVE_GB} bytes, limit {ingest.MAX_INPUT_BYTES}"}


def test_ingest_refuses_exactly_what_the_workers_would():
    assert ingest.MAX_INPUT_BYTES == process.MAX_INPUT_BYTES


def test_an_object_larger_than_its_event_said_is_refused_by_the_worker_unread(client, store, versioned, ledger,
                                                                             monkeypatch):
    """The event may be stale (the object replaced since): the worker checks the real length before reading."""
    monkeypatch.setattr(process, "MAX_INPUT_BYTES", 1000)
    data = jpeg((400, 400), (10, 20, 30)) + b"\0" * 2000
    upload(client, "input/grayscale/grown.jpg", data)
    drain_workers("grayscale")
    pump(client, config.COMPLETIONS_QUEUE, "on_completion")
    jobs = ledger.assert_settled(store, {"input/grayscale/grown.jpg": "Failed"})
    assert jobs["input/grayscale/grown.jpg"]["status"]["reason"] == f"file too large: {len(data)} bytes, limit 1000"


def test_images_declaring_100000_pixel_widths_are_refused_without_decoding(client, store, versioned, ledger):
    before = peak_rss_mib()
    bombs = {"input/thumbnail/wide.png": png_claiming(100_000, 100_000),
             "input/watermark/wide.png": png_claiming(100_000, 1_000),
             "input/grayscale/tall.jpg": jpeg_claiming(65_500, 65_500)}  # JPEG sizes stop at 65,535
    for key, data in bombs.items():
        upload(client, key, data)
    drain_workers()
    finished = ends(pump(client, config.COMPLETIONS_QUEUE, "on_completion"))
    jobs = ledger.assert_settled(store, dict.fromkeys(bombs, "Failed"))
    assert all("pixels" in j["status"]["reason"] for j in jobs.values()), [j["status"]["reason"] for j in jobs.values()]
    assert sorted(body_of(m)["status"] for m in finished) == ["failed"] * 3
    # Decoding any of them would need 10-30 GB; the process's peak grew by a few MiB at most.
    assert peak_rss_mib() - before < 100


def test_a_jpeg_whose_data_ends_early_is_a_failed_job_not_a_gray_output(client, store, versioned, ledger):
    """7000x7000 declared, 400 bytes of pixel data, an end marker: Pillow alone made a gray 7000x7000 "done" of it."""
    whole = jpeg((7000, 7000))
    cut = whole[:whole.index(b"\xff\xda") + 400] + b"\xff\xd9"
    keys = {f"input/{op}/cut.jpg": "Failed" for op in config.OPERATIONS}
    for key in keys:
        upload(client, key, cut)
    drain_workers()
    pump(client, config.COMPLETIONS_QUEUE, "on_completion")
    jobs = ledger.assert_settled(store, keys)
    assert {j["status"]["reason"] for j in jobs.values()} == {"corrupt image: data ends early"}
    assert boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix="output/")["KeyCount"] == 0
