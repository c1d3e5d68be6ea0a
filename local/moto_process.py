"""The local runtime's AWS in a process of its own: moto's server, plus the one write moto offers no API for.

    python -m local.moto_process    # prints its port, serves until its stdin closes

A process, not a thread of the runtime: moto serves every upload, queue and table request of the pump's Lambdas, the
workers and the controller, and on the runtime's interpreter it took turns with those Lambdas for one lock (the GIL).
ECS's running and pending counts come from the ECS agents of the instances, which moto does not have: the local node
agent plays them and posts the counts to REPORT_PATH, which writes them into moto's records as ECS would.
"""
from __future__ import annotations

import json
import sys
import threading

from moto.ecs.models import ecs_backends
from moto.moto_server.werkzeug_app import DomainDispatcherApplication, MotoRequestHandler, create_backend_app
from werkzeug.serving import make_server

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


class RequestHandler(MotoRequestHandler):
    """No log line per request (an eighth of the process's time); errors are still logged, on stderr."""

    def log_request(self, code="-", size="-") -> None:
        pass


def main() -> None:
    moto_speedups.install()
    server = make_server("127.0.0.1", 0, App(Dispatcher(create_backend_app)), threaded=True,
                         request_handler=RequestHandler)
    threading.Thread(target=server.serve_forever, name="moto", daemon=True).start()
    print(server.server_address[1], flush=True)
    # The runtime holds the other end of stdin: end of file means it stopped, or died without a chance to say so.
    sys.stdin.read()
    server.shutdown()


if __name__ == "__main__":
    main()
