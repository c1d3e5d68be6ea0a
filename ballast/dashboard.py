"""`ballast dashboard`: the console, a live web view of workloads, node pools, events and photos, on 127.0.0.1.

It serves the page and forwards the page's calls to the API signed with your AWS credentials (as `kubectl proxy`
does for the Kubernetes Dashboard): nothing to deploy, and no credentials in the browser.
"""
from __future__ import annotations

import os
import sys
import webbrowser

from ballast.api_client import Api
from ballast.console.server import Console
from ballast.errors import UsageError


def cmd_dashboard(api: Api, args) -> str:
    try:
        console = Console(api, args.namespace, args.port)
    except (OSError, OverflowError) as error:  # in use, or not a port at all
        raise UsageError(f"cannot listen on 127.0.0.1:{args.port} ({getattr(error, 'strerror', None) or error}): "
                         "choose another --port (1 to 65535), or 0 for a free one") from None
    print(f"Ballast console: {console.url}\n"
          f"  forwarding to {api.endpoint}, signed with your AWS credentials; Ctrl-C stops it", flush=True)
    if not args.no_browser:
        if has_display():
            webbrowser.open(console.url)
        else:
            print("  no display here: open the address above in a browser (an SSH tunnel to the port works too)", flush=True)
    try:
        console.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        console.stop()
    return "console stopped"


def has_display() -> bool:
    """Whether webbrowser would open a window; without one it would run a text browser in this very terminal."""
    return sys.platform in ("darwin", "win32") or bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def add_commands(commands) -> None:
    dashboard = commands.add_parser(
        "dashboard", help="the console: a live web view on 127.0.0.1, through your credentials",
        description="Serves the console on 127.0.0.1 and forwards its calls to the API, signed with your credentials.",
        epilog="examples:\n  ballast dashboard\n  ballast dashboard --port 8001 --no-browser\n"
               "  ballast dashboard -n team --endpoint https://abc123.execute-api.eu-west-1.amazonaws.com/api")
    dashboard.add_argument("--port", type=int, default=0, help="the port to listen on (default: a free one)")
    dashboard.add_argument("--no-browser", action="store_true", help="print the address, do not open a browser")
    dashboard.set_defaults(run=cmd_dashboard)
