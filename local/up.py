"""`ballast up`: the local runtime without a batch (moto, the API server, the pump, the node agent), until Ctrl-C.

    python -m local.up [--out out] [--fresh]

Its state (jobs, uploads, outputs, queues) lives in the moto process's memory and ends with it, whether the runtime
stops or is killed: README.md's design notes say why it is not persisted. So that a restart is never taken for a
resumed batch, a directory that holds a previous run's files is refused unless --fresh clears them.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

MARK = ".ballast-up.json"  # {"pid", "startedAt", "stoppedAt"}: which run the directory's files are from
# What a run leaves in its directory (the demo's runs too); --fresh removes these and nothing else of the directory.
RUN_FILES = (MARK, "lambda.log", "workers", "moto-objects")
MEMORY_ONLY = "local state (jobs, uploads, outputs, queues) lives in memory: it is gone when this stops or dies"


class Refused(Exception):
    """Why this directory cannot be started on; one line for the terminal."""


def previous_run(out: Path) -> str | None:
    """What the directory holds of an earlier run, in words; None when it holds nothing of one."""
    left = [name for name in RUN_FILES if (out / name).exists()]
    if not left:
        return None
    try:
        mark = json.loads((out / MARK).read_text())
    except (OSError, ValueError):
        return f"the files of an earlier local run ({', '.join(left)})"
    if _running(mark.get("pid")):
        raise Refused(f"{out} is in use by a running `ballast up` (pid {mark['pid']}); stop it first, or use another --out")
    ended = f"stopped at {mark['stoppedAt']}" if mark.get("stoppedAt") else "did not stop cleanly (killed or crashed)"
    return f"the run of `ballast up` started at {mark.get('startedAt')}, which {ended}"


def prepare(out: Path, fresh: bool) -> None:
    """Refuses a directory with an earlier run's files unless `fresh`, which removes them; then marks it as this run's."""
    out.mkdir(parents=True, exist_ok=True)
    earlier = previous_run(out)
    if earlier and not fresh:
        raise Refused(f"{out} holds {earlier}; its jobs, uploads, outputs and queues lived in memory and are gone. "
                      f"`ballast up --fresh` clears {out} of them and starts empty (or choose another --out)")
    if earlier:
        for name in RUN_FILES:
            path = out / name
            if path.is_dir():
                shutil.rmtree(path)
            elif path.exists():
                path.unlink()
    _mark(out, {"pid": os.getpid(), "startedAt": _now(), "stoppedAt": None})


def stopped(out: Path) -> None:
    mark = json.loads((out / MARK).read_text())
    _mark(out, {**mark, "stoppedAt": _now()})


def _mark(out: Path, mark: dict) -> None:
    (out / MARK).write_text(json.dumps(mark) + "\n")


def _running(pid: object) -> bool:
    if not isinstance(pid, int) or pid == os.getpid():
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # alive, another user's
    # A pid is reused once its process is gone: only a `ballast up` counts.
    try:
        return b"local.up" in Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return True


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ballast up", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="where the logs, the workers' output and moto's objects go")
    parser.add_argument("--fresh", action="store_true", help="clear an earlier run's files from --out, and start empty")
    args = parser.parse_args(argv)
    out = Path(args.out)
    try:
        prepare(out, args.fresh)
    except Refused as refusal:
        print(f"ballast up: {refusal}", file=sys.stderr)
        return 1
    from local.runtime import Runtime  # after the check: a refusal is immediate

    # The handlers' logs go where CloudWatch Logs would keep them; the terminal keeps the address.
    sys.stdout = open(out / "lambda.log", "a", buffering=1)
    runtime = Runtime(out).start()
    from chalicelib import config

    try:
        # No AWS credentials are needed: the CLI signs with local ones when the endpoint is on this machine.
        print(f"local runtime up: API server {runtime.api_url}, moto {runtime.moto.endpoint}\n"
              f"  export BALLAST_API_URL={runtime.api_url} AWS_ENDPOINT_URL={runtime.moto.endpoint} "
              f"BALLAST_CLUSTER={config.CLUSTER} BALLAST_LOG_FILE={(out / 'lambda.log').resolve()}\n"
              f"  {MEMORY_ONLY}\n"
              f"  then `ballast dashboard` opens the console in a browser\n"
              f"Ctrl-C stops it.", file=sys.__stdout__, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", file=sys.__stdout__)
        return 0
    finally:
        runtime.stop()
        stopped(out)


if __name__ == "__main__":
    sys.exit(main())
