"""`ballast`: kubectl for Ballast's API server (workloads, node pools, events, images), over SigV4-signed HTTP.

    export BALLAST_API_URL=https://…/api     # from `chalice deploy`, or printed by `ballast up` for the local runtime
    ballast get workloads
    ballast describe workload photos-thumbnail
    ballast apply -f workloads.yaml          # Ballast's own kinds, HorizontalPodAutoscalers and KEDA ScaledObjects
    ballast upload photos/ --op thumbnail

Exit codes: 0 when everything asked for succeeded, 1 when something tried failed, 2 for a command line that cannot run.
"""
from __future__ import annotations

import argparse
import os
import sys
import traceback

from ballast import apply, completion, dashboard, edit, logs, objects, photos, top, up
from ballast.simulate import command as simulate
from ballast.api_client import TIMEOUT_S, Api, ApiError
from ballast.errors import Failed, UsageError

# One module per group of subcommands, each with add_commands(commands); the order is --help's.
GROUPS = (objects, apply, edit, logs, top, photos, dashboard, simulate, up, completion)
BROKEN_PIPE_EXIT = 141  # what a shell reports for a process ended by SIGPIPE, as `yes | head` does


class Parser(argparse.ArgumentParser):
    """argparse, but a mistake is one line naming where to look, and examples keep their layout."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("formatter_class", argparse.RawDescriptionHelpFormatter)
        super().__init__(*args, **kwargs)

    def error(self, message: str):
        raise UsageError(f"{message} (see `{self.prog} --help`)")


def add_global_flags(parser: argparse.ArgumentParser, defaults: bool) -> None:
    """kubectl's habit: these flags work anywhere on the line, before or after the subcommand."""
    def default(value):
        return value if defaults else argparse.SUPPRESS

    group = parser.add_argument_group("global flags (anywhere on the line)")
    group.add_argument("-n", "--namespace", default=default("default"), help="the objects' namespace (default: default)")
    group.add_argument("--endpoint", default=default(os.environ.get("BALLAST_API_URL")),
                       help="the API's URL (default: $BALLAST_API_URL)")
    group.add_argument("--profile", default=default(None), help="the AWS profile that signs requests (default: $AWS_PROFILE)")
    group.add_argument("--region", default=default(None), help="the region to sign for (default: the endpoint's, else the profile's)")
    group.add_argument("--request-timeout", type=float, default=default(TIMEOUT_S), metavar="SECONDS",
                       help=f"give up on an answer after this long (default: {TIMEOUT_S})")


def parser() -> argparse.ArgumentParser:
    root = Parser(prog="ballast", description=__doc__)
    add_global_flags(root, defaults=True)
    commands = root.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    commands.required = True
    for group in GROUPS:
        group.add_commands(commands)
    for sub in _subparsers(root):
        add_global_flags(sub, defaults=False)
    return root


def _subparsers(parser: argparse.ArgumentParser):
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield sub
                yield from _subparsers(sub)


def main(argv: list[str] | None = None) -> int:
    try:
        return _run(argv)
    except BrokenPipeError:
        # The reader (head, less) went away: stop quietly, and keep Python's exit flush from raising again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return BROKEN_PIPE_EXIT


def _run(argv: list[str] | None) -> int:
    try:
        root = parser()
        args = root.parse_args(argv)
        args.parser = root  # `completion` writes its script from it
        if getattr(args, "start", None):  # a command that needs no API server
            output = args.start(args)
        else:
            api = (Api(args.endpoint, args.region, profile=args.profile, timeout_s=args.request_timeout)
                   if args.endpoint else NoApi(args.region))
            output = args.run(api, args)
    except UsageError as error:
        return _fail(error, 2)
    except (ApiError, Failed) as error:
        if isinstance(error, Failed) and error.output:
            print(error.output, flush=True)
        return _fail(error, 1)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        raise
    except Exception as error:  # a bug of ours: still one line, the traceback only on request
        if os.environ.get("BALLAST_DEBUG"):
            traceback.print_exc()
        return _fail(f"internal error, please report it: {type(error).__name__}: {error} (BALLAST_DEBUG=1 shows where)", 1)
    output, code = output if isinstance(output, tuple) else (output, 0)  # `diff` says "different" with exit 1
    if output:
        print(output, flush=True)
    return code


class NoApi:
    """What commands get without an endpoint: those that need no server (apply --dry-run=client) never notice."""

    def __init__(self, region: str | None):
        self.region = region

    def __getattr__(self, name: str):
        raise UsageError("no API server: pass --endpoint or set BALLAST_API_URL (`ballast up` prints one for the "
                         "local runtime)")


def _fail(error: object, code: int) -> int:
    sys.stdout.flush()
    print(f"error: {error}", file=sys.stderr, flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
