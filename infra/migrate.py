"""`python -m infra.migrate --stage prod`: brings a stage's stored objects to the key scheme this version reads.

Run once after `chalice deploy` of a version that reconciles every namespace (Workloads and NodePools moved from a
partition per namespace to one per kind). Idempotent: a second run moves nothing. Prints how many objects moved.
"""
from __future__ import annotations

import argparse
import os
import sys

import boto3

import infra
from infra.deploy import _stages


def main(argv: list[str] | None = None, dynamodb=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.migrate", description=__doc__.split("\n")[0])
    parser.add_argument("--stage", required=True, choices=sorted(_stages()))
    args = parser.parse_args(argv)
    os.environ.update(infra.stage_environment(args.stage))
    from chalicelib.adapters.store import Store
    from chalicelib.errors import BallastError

    table = (dynamodb or boto3.resource("dynamodb")).Table(os.environ["BALLAST_TABLE"])
    try:
        moved = Store(table).migrate_namespaced_keys()
    except BallastError as error:
        print(f"migrate: {error}", file=sys.stderr)
        return 1
    print(f"{moved} objects moved to the key scheme that lists every namespace")
    return 0


if __name__ == "__main__":
    sys.exit(main())
