"""The local runtime's AWS: a moto server on a free 127.0.0.1 port that this process and its workers reach through AWS_ENDPOINT_URL."""
from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

import infra

REGION = "us-east-1"
ACCOUNT_ID = "123456789012"  # moto's default account: ARNs built here must match the ones moto returns
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_SESSION_TOKEN": "local"}


STOP_TIMEOUT_S = 5
PROCESS_MODULE = "local.moto_process"
# moto keeps every S3 object below 5 MB in memory: `make demo N=10000` grew its process to 13 GB of originals and
# outputs. With an object directory, anything above this goes to an unlinked file there (the page cache still serves
# the hot ones), and the files vanish with the process.
OBJECT_MEMORY_BYTES = 64 * 1024


class MotoServer:
    """moto in a process of its own (local/moto_process.py), which ends with this one."""

    def __init__(self, stage: str = "dev", object_dir: Path | None = None):
        self.stage = stage
        self._object_dir = object_dir
        self._process: subprocess.Popen | None = None
        self._errors = None
        self._saved: dict[str, str | None] = {}
        self.endpoint = ""

    def start(self) -> "MotoServer":
        # A file, not the terminal: moto's warnings and request errors would break into the progress view.
        self._errors = tempfile.TemporaryFile("w+")
        env = None
        if self._object_dir is not None:
            self._object_dir.mkdir(parents=True, exist_ok=True)
            env = {**os.environ, "TMPDIR": str(self._object_dir), "MOTO_S3_DEFAULT_KEY_BUFFER_SIZE": str(OBJECT_MEMORY_BYTES)}
        self._process = subprocess.Popen([sys.executable, "-m", PROCESS_MODULE], cwd=infra.ROOT, env=env,
                                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._errors, text=True)
        port = self._process.stdout.readline().strip()
        if not port.isdigit():
            self._process.kill()
            code = self._process.wait()
            self._errors.seek(0)
            why = self._errors.read()[-2000:].strip()
            self._errors.close()
            raise RuntimeError(f"the moto server did not start (exit code {code}): {why}")
        self.endpoint = f"http://127.0.0.1:{port}"
        self._export(self.environment())
        return self

    def environment(self) -> dict[str, str]:
        """What every process of the local runtime needs: the stage's Lambda variables, moto's address, fake credentials."""
        return {**infra.stage_environment(self.stage), **FAKE_CREDENTIALS, "AWS_ENDPOINT_URL": self.endpoint,
                "AWS_DEFAULT_REGION": REGION, "AWS_REGION": REGION}

    def stop(self) -> None:
        if self._process is not None:
            self._process.stdin.close()
            try:
                self._process.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        if self._errors is not None:
            self._errors.close()
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
