"""The local runtime's AWS: a moto server on a free 127.0.0.1 port that this process and its workers reach through AWS_ENDPOINT_URL."""
from __future__ import annotations

import logging
import os

from moto.moto_server.threaded_moto_server import ThreadedMotoServer

import infra
from local import moto_speedups

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account: ARNs built here must match the ones moto returns
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


class MotoServer:
    """Started in-process so the node agent can play the ECS scheduler on moto's own ECS records (see agent.py)."""

    def __init__(self, stage: str = "dev"):
        self.stage = stage
        self._server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        self._saved: dict[str, str | None] = {}
        self.endpoint = ""

    def start(self) -> "MotoServer":
        # werkzeug logs every request at INFO; thousands of worker polls would drown the progress view.
        logging.getLogger("werkzeug").setLevel(logging.ERROR)
        moto_speedups.install()
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        self._export(self.environment())
        return self

    def environment(self) -> dict[str, str]:
        """What every process of the local runtime needs: the stage's Lambda variables, moto's address, fake credentials."""
        return {**infra.stage_environment(self.stage), **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}

    def stop(self) -> None:
        self._server.stop()
        moto_speedups.uninstall()
        for key, value in self._saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        self._saved.clear()

    def _export(self, env: dict[str, str]) -> None:
        for key, value in env.items():
            self._saved.setdefault(key, os.environ.get(key))
            os.environ[key] = value
        # A profile from the user's ~/.aws would otherwise win over the fake credentials.
        self._saved.setdefault("AWS_PROFILE", os.environ.pop("AWS_PROFILE", None))

    def __enter__(self) -> "MotoServer":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
