"""`ballast up`: the local runtime without a batch (moto, the API server, the pump, the node agent), until Ctrl-C.

    python -m local.up [--out out]
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from local.runtime import Runtime


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="ballast up", description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="out", help="where the logs, the workers' output and moto's objects go")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # The handlers' logs go where CloudWatch Logs would keep them; the terminal keeps the address.
    sys.stdout = open(out / "lambda.log", "a", buffering=1)
    runtime = Runtime(out).start()
    from chalicelib import config

    try:
        # No AWS credentials are needed: the CLI signs with local ones when the endpoint is on this machine.
        print(f"local runtime up: API server {runtime.api_url}, moto {runtime.moto.endpoint}\n"
              f"  export BALLAST_API_URL={runtime.api_url} AWS_ENDPOINT_URL={runtime.moto.endpoint} "
              f"BALLAST_CLUSTER={config.CLUSTER} BALLAST_LOG_FILE={(out / 'lambda.log').resolve()}\n"
              f"Ctrl-C stops it.", file=sys.__stdout__, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        print("stopped", file=sys.__stdout__)
        return 0
    finally:
        runtime.stop()


if __name__ == "__main__":
    sys.exit(main())
