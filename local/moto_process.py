"""The local runtime's AWS in a process of its own: moto's server, plus the one write moto offers no API for.

    python -m local.moto_process    # prints its port, serves until its stdin closes

A process, not a thread of the runtime: moto serves every upload, queue and table request of the pump's Lambdas, the
workers and the controller, and on the runtime's interpreter it took turns with those Lambdas for one lock (the GIL).
Served by cheroot, not moto's werkzeug server: werkzeug closes every connection after one response and starts a thread
per connection, so each request paid a TCP handshake, a thread start and a 10 ms drain, on both sides; cheroot keeps
connections open (as AWS's endpoints do) and serves them from a pool of threads: a fifth less CPU per request, for
moto and for its clients alike.
ECS's running and pending counts come from the ECS agents of the instances, which moto does not have: the local node
agent plays them and posts the counts to REPORT_PATH, which writes them into moto's records as ECS would.
Conditional writes are atomic here as in AWS (see Serialised): moto checks a condition and applies the write as two
steps, and cheroot serves requests on many threads at once.
"""
from __future__ import annotations

import json
import os
import sys
import threading

from collections import defaultdict

from cheroot import wsgi
from moto.core.request import PRESERVED_HEADER_NAMES_ENVIRON_KEY, environ_key_for_header, should_preserve_original_header_name
from moto.ecs.models import ecs_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

from local import moto_speedups

REPORT_PATH = "/_local/ecs/service-counts"


def report(counts: dict) -> None:
    """{"account", "region", "cluster", "services": {name: {"running", "pending", "desired"}}} into moto's services."""
    backend = ecs_backends[counts["account"]][counts["region"]]
    for service, count in counts["services"].items():
        record = backend.services.get(f"{counts['cluster']}:{service}")
        if record is None:
            continue
        record.running_count, record.pending_count = count["running"], count["pending"]
        for deployment in record.deployments[:1]:
            deployment["runningCount"], deployment["pendingCount"] = count["running"], count["pending"]
            deployment["rolloutState"] = "COMPLETED" if count["running"] == count["desired"] else "IN_PROGRESS"


class App:
    """moto's WSGI application, with REPORT_PATH in front of it."""

    def __init__(self, moto_app):
        self._moto_app = moto_app

    def __call__(self, environ, start_response):
        if environ.get("PATH_INFO") != REPORT_PATH or environ.get("REQUEST_METHOD") != "POST":
            return self._moto_app(environ, start_response)
        length = int(environ.get("CONTENT_LENGTH") or 0)
        try:
            report(json.loads(environ["wsgi.input"].read(length)))
        except (ValueError, KeyError, TypeError) as error:
            start_response("400 Bad Request", [("Content-Type", "text/plain")])
            return [f"bad service counts: {error!r}".encode()]
        start_response("204 No Content", [])
        return []


class Serialised:
    """moto's application with DynamoDB's promise kept: a conditional write is checked and applied as one step.

    moto evaluates a ConditionExpression, then applies the write, with nothing between the two steps to stop another
    request thread: 20 threads updating one Workload through the API lost 5 % of the acknowledged updates, and two
    controllers could both take the lease. Every DynamoDB request takes one lock (reads too, so none sees an item
    half-updated; transactions span tables, so one lock rather than one per table): moto's DynamoDB is a few
    milliseconds of Python a request, which the process's one interpreter ran one at a time anyway.
    S3's conditional writes (If-None-Match, If-Match: a job's output written once) have the same gap: every write of an
    object (PUT, DELETE) takes a lock of its own path, so only writes of the same key wait for each other, and an
    upload's body, read while the lock is held, never holds up another key's.
    """

    DYNAMODB_TARGET = "DynamoDB_"  # X-Amz-Target of every DynamoDB request: DynamoDB_20120810.UpdateItem
    OBJECT_WRITES = ("PUT", "DELETE")

    def __init__(self, app):
        self._app = app
        self._dynamodb = threading.Lock()
        self._objects_lock = threading.Lock()
        self._objects: defaultdict[tuple[str, str], threading.Lock] = defaultdict(threading.Lock)

    def __call__(self, environ, start_response):
        lock = self._lock_of(environ)
        if lock is None:
            return self._app(environ, start_response)
        with lock:
            # The whole answer inside the lock: moto may build the body lazily, and the write with it.
            return list(self._app(environ, start_response))

    def _lock_of(self, environ) -> threading.Lock | None:
        if environ.get("HTTP_X_AMZ_TARGET", "").startswith(self.DYNAMODB_TARGET):
            return self._dynamodb
        if environ.get("REQUEST_METHOD") in self.OBJECT_WRITES and self._is_s3_object(environ):
            with self._objects_lock:  # a lock per key ever written: a few hundred bytes each, for the process's life
                return self._objects[(environ.get("HTTP_HOST", ""), environ.get("PATH_INFO", ""))]
        return None

    @staticmethod
    def _is_s3_object(environ) -> bool:
        """Path-style (/bucket/key, how botocore addresses a loopback endpoint) or virtual-hosted (bucket.s3…/key)."""
        authorization = environ.get("HTTP_AUTHORIZATION", "") + environ.get("QUERY_STRING", "")
        if "/s3/aws4_request" not in authorization and "%2Fs3%2Faws4_request" not in authorization:
            return False
        path = environ.get("PATH_INFO", "").lstrip("/")
        return "/" in path.rstrip("/") or ".s3" in environ.get("HTTP_HOST", "")


class Dispatcher(DomainDispatcherApplication):
    """moto's dispatcher, remembering which backend serves which host.

    moto works it out again for every request (a listing of its package's directory, then its URL patterns) while
    holding a lock every other request waits on: a tenth of the process's time under the local runtime's load.
    """

    def __init__(self, create_app):
        super().__init__(create_app)
        self._backend_of_host: dict = {}

    def get_backend_for_host(self, host):
        if host not in self._backend_of_host:
            self._backend_of_host[host] = super().get_backend_for_host(host)
        return self._backend_of_host[host]


class Gateway(wsgi.Gateway_10):
    """WSGI environ as moto's own server builds it: the raw request path beside the decoded one, and S3 metadata names
    that keep their underscores (x-amz-meta-my_key).

    A WSGI environ cannot tell my_key from my-key; moto's werkzeug handler passes the names aside, and so does this.
    """

    def get_environ(self) -> dict:
        environ = super().get_environ()
        # The path as sent, still percent-encoded: moto reads S3 keys from RAW_URI (werkzeug's and gunicorn's name for
        # it), else from the decoded path, where a key's %2F becomes a slash, %25 a bare % and %3F ends the path.
        environ["RAW_URI"] = self.req.uri.decode("latin-1")
        names = {}
        # Most requests have no underscored header: they pay for this one scan only.
        if any(b"_" in name for name in self.req.inheaders):
            # S3 keeps user metadata names in lower case, so the case header parsing gave them does not matter.
            headers = {name.decode("latin-1").lower(): value.decode("latin-1") for name, value in self.req.inheaders.items()}
            dashed = {environ_key_for_header(name): value for name, value in headers.items() if "_" not in name}
            for name, value in headers.items():
                if "_" not in name:
                    continue
                key = environ_key_for_header(name)
                if key in dashed:
                    # As moto's own server does: an underscored name never stands in for a dashed one.
                    environ[key] = dashed[key]
                elif should_preserve_original_header_name(name):
                    names[key], environ[key] = name, value
        environ[PRESERVED_HEADER_NAMES_ENVIRON_KEY] = names
        return environ


# Every long poll holds a thread for its wait: workers, the pump's queues, the agent. Idle threads cost only memory.
THREADS = 64
# An idle kept-alive connection is closed after this; botocore opens a new one (and retries if it raced the close).
IDLE_TIMEOUT_S = 60


def server() -> wsgi.Server:
    """Bound to a free port of the loopback address, not yet serving."""
    moto = wsgi.Server(("127.0.0.1", 0), App(Serialised(Dispatcher(create_backend_app))), numthreads=THREADS,
                       request_queue_size=THREADS, timeout=IDLE_TIMEOUT_S)
    moto.gateway = Gateway
    moto.keep_alive_conn_limit = None  # the clients are the runtime's own few processes: keep all their connections
    moto.prepare()
    return moto


def main() -> None:
    moto_speedups.install()
    moto = server()
    threading.Thread(target=moto.serve, name="moto", daemon=True).start()
    print(moto.bind_addr[1], flush=True)
    # The runtime holds the other end of stdin: end of file means it stopped, or died without a chance to say so.
    sys.stdin.read()
    # Not moto.stop(): that waits out every long poll in progress. moto's state lives in this process's memory only.
    os._exit(0)


if __name__ == "__main__":
    main()
