"""`ballast`: kubectl for Ballast's API server (workloads, node pools, events, images), over SigV4-signed HTTP.

    export BALLAST_API_URL=https://…/api     # from `chalice deploy`, or printed by `ballast up` for the local runtime
    ballast get workloads
    ballast describe workload photos-thumbnail
    ballast apply -f workloads.yaml
    ballast scale workload photos-thumbnail --replicas 3     (--auto hands it back to the autoscaler)
    ballast upload photos/ --op thumbnail
"""
from __future__ import annotations

import argparse
import os
import sys

from ballast import dashboard, objects, photos, up
from ballast.api_client import Api, ApiError
from ballast.errors import UsageError


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ballast", description=__doc__.splitlines()[0])
    root.add_argument("--endpoint", default=os.environ.get("BALLAST_API_URL"), help="the API's URL (default: $BALLAST_API_URL)")
    root.add_argument("--region", default=None, help="for signing (default: the AWS configuration's)")
    root.add_argument("-n", "--namespace", default="default")
    commands = root.add_subparsers(dest="command", required=True)
    for group in (objects, photos, up, dashboard):
        group.add_commands(commands)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if getattr(args, "start", None):  # a command that needs no API server
            args.start(args)
            return 0
        if not args.endpoint:
            raise UsageError("no API server: pass --endpoint or set BALLAST_API_URL (`ballast up` prints one for the local runtime)")
        output = args.run(Api(args.endpoint, args.region), args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
