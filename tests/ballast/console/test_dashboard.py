"""`ballast dashboard`: prints the console's address, serves it on loopback until Ctrl-C, and a port in use is one line."""
import os
import signal
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def dashboard(*argv):
    env = {**os.environ, "BALLAST_API_URL": "http://127.0.0.1:9"}
    # A shell's background job ignores SIGINT; a terminal's foreground job, which Ctrl-C reaches, does not.
    return subprocess.Popen([sys.executable, "-m", "ballast.cli", "dashboard", "--no-browser", *argv], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))


def test_dashboard_prints_its_loopback_address_serves_the_page_and_stops_on_ctrl_c():
    running = dashboard()
    try:
        first = running.stdout.readline()
        assert first.startswith("Ballast console: http://127.0.0.1:"), first + running.stderr.read()
        address = first.split(": ", 1)[1].strip()
        assert "forwarding to http://127.0.0.1:9" in running.stdout.readline()
        with urllib.request.urlopen(address, timeout=5) as page:  # the token's redirect, then the page
            assert page.status == 200 and b"Ballast console" in page.read()
        running.send_signal(signal.SIGINT)
        out, err = running.communicate(timeout=30)  # generous for a loaded machine; a hang is still a failure
    finally:
        if running.poll() is None:
            running.kill()
    assert running.returncode == 0 and "console stopped" in out and "Traceback" not in err


@pytest.mark.parametrize("port", [pytest.param("taken", id="a-port-in-use"), pytest.param("70000", id="not-a-port")])
def test_a_port_it_cannot_listen_on_is_one_line_and_exit_code_2(port):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        running = dashboard("--port", str(taken.getsockname()[1]) if port == "taken" else port)
        out, err = running.communicate(timeout=20)
    assert running.returncode == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: cannot listen on 127.0.0.1:") and "--port" in err
