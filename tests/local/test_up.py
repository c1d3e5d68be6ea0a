"""`ballast up` says its state lives in memory, and never starts on an earlier run's directory as if it resumed it."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from local import up

ROOT = Path(__file__).resolve().parents[2]


def start(out: Path, *flags: str) -> subprocess.Popen:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AWS_", "BALLAST_"))}
    return subprocess.Popen([sys.executable, "-m", "local.up", "--out", str(out), *flags], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_restart_after_a_crash_is_refused_without_fresh_and_never_while_the_first_runs(tmp_path):
    first = start(tmp_path)
    try:
        banner = [first.stdout.readline() for _ in range(3)]
        assert banner[0].startswith("local runtime up"), banner + [first.stderr.read() if first.poll() else ""]
        assert "lives in memory: it is gone when this stops or dies" in banner[2]

        second = start(tmp_path, "--fresh")  # --fresh never takes a running runtime's directory
        _, err = second.communicate(timeout=30)
        assert second.returncode == 1 and "in use by a running `ballast up`" in err and len(err.splitlines()) == 1
    finally:
        first.send_signal(signal.SIGKILL)  # a crash: nothing of it gets to clean up
        first.wait(10)
        first.stdout.close(), first.stderr.close()

    again = start(tmp_path)
    _, err = again.communicate(timeout=30)
    assert again.returncode == 1, err
    assert err.count("\n") == 1 and "did not stop cleanly" in err and "are gone" in err and "--fresh" in err


def test_fresh_clears_only_what_a_run_left_and_marks_the_directory_as_this_runs(tmp_path):
    (tmp_path / "workers").mkdir()
    (tmp_path / "workers" / "grayscale-1.log").write_text("{}")
    (tmp_path / "lambda.log").write_text("old")
    (tmp_path / "results").mkdir()  # the user's downloads: not the run's
    (tmp_path / up.MARK).write_text(json.dumps({"pid": 2**22 + 7, "startedAt": "2026-01-01T00:00:00+00:00",
                                                "stoppedAt": "2026-01-01T01:00:00+00:00"}))
    with pytest.raises(up.Refused, match="started at 2026-01-01T00:00:00.*which stopped at 2026-01-01T01:00:00"):
        up.prepare(tmp_path, fresh=False)
    up.prepare(tmp_path, fresh=True)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([up.MARK, "results"])
    mark = json.loads((tmp_path / up.MARK).read_text())
    assert mark["pid"] == os.getpid() and mark["stoppedAt"] is None


@pytest.mark.parametrize("left", ["lambda.log", "workers", "moto-objects"])
def test_the_files_of_a_demo_or_an_older_run_count_as_an_earlier_run(tmp_path, left):
    (tmp_path / left).mkdir() if left != "lambda.log" else (tmp_path / left).write_text("")
    with pytest.raises(up.Refused, match=f"an earlier local run \\({left}\\)"):
        up.prepare(tmp_path, fresh=False)


def test_an_empty_or_new_directory_starts_without_fresh(tmp_path):
    up.prepare(tmp_path / "new", fresh=False)
    assert (tmp_path / "new" / up.MARK).exists()
