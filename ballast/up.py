"""`ballast up`: hands the terminal to the emulated AWS (`python -m local.up`), a process of its own.

The user's tools never import the emulated AWS: `local` plays AWS and uses the tools' API client, so the boundary
between the two is a process, as it is between `ballast` and a deployed stage.
"""
from __future__ import annotations

import os
import sys


def run_up(args) -> None:
    command = [sys.executable, "-m", "local.up", "--out", args.out] + (["--fresh"] if args.fresh else [])
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, command)


def add_commands(commands) -> None:
    up = commands.add_parser("up", help="run the local runtime (moto, API server, pump, node agent) until Ctrl-C",
                             epilog="examples:\n  ballast up &            # prints the variables to export, then runs until Ctrl-C\n"
                                    "  ballast up --out /tmp/ballast")
    up.add_argument("--out", default="out", help="where the logs (lambda.log), the workers' output and moto's objects go")
    # Local state lives in memory: a directory left by an earlier run is refused unless this clears it.
    up.add_argument("--fresh", action="store_true", help="clear an earlier run's files from --out and start empty")
    up.set_defaults(run=None, start=run_up)
