"""The local runtime's moto process: its dispatcher's memory of hosts, its server, and a start failure that says why."""
import http.client
import os
import threading
from concurrent.futures import ThreadPoolExecutor

import boto3
import pytest
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local import moto_server
from local.moto_process import Dispatcher

HOSTS = ["s3.us-east-1.amazonaws.com", "photos.s3.us-east-1.amazonaws.com", "sqs.us-east-1.amazonaws.com",
         "dynamodb.us-east-1.amazonaws.com", "ecs.us-east-1.amazonaws.com", "127.0.0.1:5000", None]


def test_dispatcher_answers_as_moto_and_works_each_host_out_once(monkeypatch):
    stock = DomainDispatcherApplication(create_backend_app)
    dispatcher = Dispatcher(create_backend_app)
    first = [dispatcher.get_backend_for_host(host) for host in HOSTS]
    assert first == [stock.get_backend_for_host(host) for host in HOSTS]
    assert first[:5] == ["s3", "s3", "sqs", "dynamodb", "ecs"]

    def worked_out_again(self, host):
        raise AssertionError(f"{host} worked out again")
    monkeypatch.setattr(DomainDispatcherApplication, "get_backend_for_host", worked_out_again)
    assert [dispatcher.get_backend_for_host(host) for host in HOSTS] == first


def test_a_moto_process_that_cannot_start_says_why(monkeypatch):
    monkeypatch.setattr(moto_server, "PROCESS_MODULE", "local.no_such_module")
    with pytest.raises(RuntimeError, match=r"did not start \(exit code 1\).*No module named local.no_such_module"):
        moto_server.MotoServer().start()


@pytest.fixture(scope="module")
def moto():
    server = moto_server.MotoServer().start()
    yield server
    server.stop()


def test_s3_metadata_names_keep_their_underscores(moto):
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="metadata-names")
    s3.put_object(Bucket="metadata-names", Key="k", Body=b"1", Metadata={"my_key": "a", "plain": "c"})
    assert s3.head_object(Bucket="metadata-names", Key="k")["Metadata"] == {"my_key": "a", "plain": "c"}
    # One WSGI name for both: as with moto's own server, the dashed one keeps its value.
    s3.put_object(Bucket="metadata-names", Key="both", Body=b"1", Metadata={"my-key": "b", "my_key": "a"})
    assert s3.head_object(Bucket="metadata-names", Key="both")["Metadata"]["my-key"] == "b"


def test_connections_are_kept_alive(moto):
    """Several requests, one connection: the server does not close it after each response as werkzeug's does."""
    host, port = moto.endpoint.removeprefix("http://").split(":")
    connection = http.client.HTTPConnection(host, int(port), timeout=5)
    for _ in range(3):
        connection.request("GET", "/", headers={"Host": "s3.us-east-1.amazonaws.com"})
        response = connection.getresponse()
        response.read()
        assert response.status == 200
        assert response.getheader("Connection", "").lower() != "close"
    first_socket = connection.sock
    connection.request("GET", "/", headers={"Host": "s3.us-east-1.amazonaws.com"})
    connection.getresponse().read()
    assert connection.sock is first_socket
    connection.close()


def test_objects_beyond_the_memory_limit_go_to_files_in_the_object_directory(tmp_path):
    """`make demo N=10000` held 13 GB of photos in moto's memory; with an object directory, large ones live in files."""
    objects = tmp_path / "objects"
    server = moto_server.MotoServer(object_dir=objects).start()
    try:
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket="spilled")
        photo, note = bytes(range(256)) * 1024, b"small"  # 256 KiB, beyond OBJECT_MEMORY_BYTES; 5 bytes
        s3.put_object(Bucket="spilled", Key="photo.jpg", Body=photo)
        s3.put_object(Bucket="spilled", Key="note.txt", Body=note)

        fd_dir = f"/proc/{server._process.pid}/fd"
        files = [os.readlink(f"{fd_dir}/{fd}") for fd in os.listdir(fd_dir)]
        assert len([f for f in files if f.startswith(str(objects))]) == 1, files  # the photo's; the note stays in memory
        assert list(objects.iterdir()) == []  # unlinked at once: gone with the process, whatever way it ends
        assert s3.get_object(Bucket="spilled", Key="photo.jpg")["Body"].read() == photo
        assert s3.get_object(Bucket="spilled", Key="note.txt")["Body"].read() == note
    finally:
        server.stop()


def test_of_writers_racing_to_create_one_object_exactly_one_succeeds(tmp_path):
    """A job's output is written once: S3's If-None-Match is checked and applied as one step, as AWS does.

    With the runtime's object directory, as `make demo` runs: a photo's bytes go to a file between moto's check and
    its write, and other requests run meanwhile."""
    server = moto_server.MotoServer(object_dir=tmp_path).start()
    s3 = boto3.client("s3")
    s3.create_bucket(Bucket="once")
    racers, rounds = 8, 20
    start = threading.Barrier(racers, timeout=10)

    def race(writer: int) -> list[bool]:
        won = []
        for n in range(rounds):
            start.wait()  # all at once at each key
            try:
                s3.put_object(Bucket="once", Key=f"out/{n}.jpg", Body=b"%d" % writer * 2**17, IfNoneMatch="*")
                won.append(True)
            except s3.exceptions.ClientError as error:
                assert error.response["Error"]["Code"] in ("PreconditionFailed", "ConditionalRequestConflict"), error
                won.append(False)
        return won

    try:
        with ThreadPoolExecutor(racers) as pool:
            results = list(pool.map(race, range(racers)))
    finally:
        server.stop()
    assert [sum(column) for column in zip(*results)] == [1] * rounds
