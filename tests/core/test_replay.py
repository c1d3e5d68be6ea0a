"""The replay entry point: a recorded burst through the core gives the recorded decisions."""
import io
import subprocess
import sys
import json
from pathlib import Path

from local import replay

BURST = Path(__file__).with_name("replay_burst.jsonl")


def _replicas():
    return [(tick["now"][11:16], tick["workloads"]["thumbnail"]["replicas"]) for tick in replay.replay(BURST.open())]


def test_replays_the_burst_into_the_recorded_decisions():
    # Activation goes straight to the backlog-sized count (400 at 20 per replica); HPA's scale-down window then holds
    # it. Last active at 12:04, the 180 s cooldown ends at 12:07 exactly: KEDA scales in only strictly after it.
    assert _replicas() == [("12:00", 0), ("12:01", 20), ("12:02", 20), ("12:03", 20), ("12:04", 20), ("12:05", 20),
                           ("12:06", 15), ("12:07", 5), ("12:08", 0)]


def test_never_scales_up_once_the_queue_is_empty():
    empty_from = [count for at, count in _replicas() if at >= "12:05"]
    assert all(later <= earlier for earlier, later in zip(empty_from, empty_from[1:]))


def test_reaches_zero_only_after_the_cooldown():
    ticks = list(replay.replay(BURST.open()))
    zero = [t for t in ticks if t["workloads"]["thumbnail"]["replicas"] == 0 and t["now"] > "2024-05-01T12:01"]
    assert zero[0]["now"] == "2024-05-01T12:08:00+00:00"
    assert zero[0]["workloads"]["thumbnail"]["reason"] == "KEDAScaleTargetDeactivated"


def test_cli_prints_one_json_line_per_tick():
    out = io.StringIO()
    assert replay.main([], stdin=io.StringIO(BURST.read_text()), stdout=out) == 0
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 9 and lines[1]["workloads"]["thumbnail"]["events"][0]["reason"] == "SuccessfulRescale"


def test_cli_stops_quietly_when_its_reader_goes_away():
    done = subprocess.run(f"{sys.executable} -m local.replay {BURST} | head -1", shell=True, capture_output=True,
                          text=True, timeout=60)
    assert done.stdout.startswith('{"now"') and "Traceback" not in done.stderr


def test_cli_names_a_file_it_cannot_read_in_one_line():
    done = subprocess.run([sys.executable, "-m", "local.replay", "no-such-file.jsonl"], capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2 and done.stderr.count("\n") == 1 and "no-such-file.jsonl" in done.stderr
