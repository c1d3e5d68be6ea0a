"""What core/tracking.py carries in status between ticks: the stats as last read, arrivals, start-up timing."""
from datetime import timedelta

from chalicelib.core import tracking
from chalicelib.core.types import ThroughputSample
from tests.core.fleet import NOW

LAST_MINUTE, THIS_MINUTE = (NOW - timedelta(minutes=1)).isoformat(), NOW.isoformat()


def bucket(minute, **counters):
    return {"minute": minute, **counters}


def test_a_first_reading_learns_everything_the_two_minutes_hold():
    read = tracking.completions_from([bucket(LAST_MINUTE, done=30, failed=2, busyMs=64_000, arrived=120),
                                      bucket(THIS_MINUTE, done=5, busyMs=10_000)], {}, NOW + timedelta(seconds=20))
    assert read.samples == (ThroughputSample(32, 64.0), ThroughputSample(5, 10.0))
    assert read.arrival_per_s == 2.0
    assert read.seen == {LAST_MINUTE: [32, 64_000], THIS_MINUTE: [5, 10_000]}


def test_a_later_tick_learns_only_what_completed_since_the_last_reading():
    status = {"statsSeen": {LAST_MINUTE: [32, 64_000], THIS_MINUTE: [5, 10_000]}}
    read = tracking.completions_from([bucket(LAST_MINUTE, done=30, failed=2, busyMs=64_000),
                                      bucket(THIS_MINUTE, done=9, busyMs=18_000)], status, NOW + timedelta(seconds=35))
    assert read.samples == (ThroughputSample(4, 8.0),)


def test_a_new_minute_starts_from_nothing_and_the_finished_one_gives_the_arrival_rate():
    status = {"statsSeen": {LAST_MINUTE: [32, 64_000], THIS_MINUTE: [5, 10_000]}}
    later = NOW + timedelta(minutes=1, seconds=5)
    read = tracking.completions_from([bucket(THIS_MINUTE, done=12, busyMs=24_000, arrived=30),
                                      bucket(later.replace(second=0).isoformat(), done=1, busyMs=2_000)], status, later)
    assert read.samples == (ThroughputSample(7, 14.0), ThroughputSample(1, 2.0))
    assert read.arrival_per_s == 0.5


def test_the_latest_arrival_stamp_of_either_minute_is_the_last_arrival():
    stamps = [(NOW - timedelta(seconds=50)).isoformat(), (NOW + timedelta(seconds=3)).isoformat()]
    read = tracking.completions_from([bucket(LAST_MINUTE, arrived=1, lastArrivalAt=stamps[0]),
                                      bucket(THIS_MINUTE, arrived=1, lastArrivalAt=stamps[1])], {}, NOW + timedelta(seconds=5))
    assert read.last_arrival_at == NOW + timedelta(seconds=3) and read.samples == ()


def test_unreadable_stats_keep_the_last_reading_and_learn_nothing():
    status = {"statsSeen": {THIS_MINUTE: [5, 10_000]}, "arrivalPerSecond": 1.5}
    read = tracking.unchanged(status)
    assert (read.samples, read.arrival_per_s, read.seen) == ((), 1.5, {THIS_MINUTE: [5, 10_000]})


def test_a_scale_up_that_waited_for_nodes_is_no_task_start_up():
    timing = {"since": (NOW - timedelta(seconds=95)).isoformat(), "replicas": 4, "withNodes": True}
    assert tracking.scale_up_seconds(timing, 4, 4, NOW) == 95.0  # done: the timing ends
    assert tracking.task_startup_seconds(timing, 4, 4, NOW) is None  # but the boot is not learned as a start-up
    plain = {key: value for key, value in timing.items() if key != "withNodes"}
    assert tracking.task_startup_seconds(plain, 4, 4, NOW) == 95.0


def test_a_new_scale_up_is_timed_and_marked_when_it_waits_for_nodes():
    timing = tracking.scale_up_timing(None, False, 0, 4, True, NOW, with_nodes=True)
    assert timing == {"since": NOW.isoformat(), "replicas": 4, "withNodes": True}
    assert tracking.scale_up_timing(timing, True, 4, 4, False, NOW) is None  # measured: timing ends
    assert tracking.scale_up_timing(timing, False, 2, 2, False, NOW) is None  # undone by a scale-in
