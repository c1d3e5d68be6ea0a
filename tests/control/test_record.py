"""status.samples: the step series of the last hour that the console's chart draws, kept small by the record step."""
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.control.record import SAMPLES_KEPT_S, SAMPLES_MAX, sampled

T0 = datetime(2026, 11, 25, 2, 0, 0, tzinfo=timezone.utc)
E0 = int(T0.timestamp())


@pytest.mark.parametrize("previous, values, seconds_later, want", [
    pytest.param(None, [3, 1, 0, 0], 0, [[E0, 3, 1, 0, 0]], id="first-tick-starts-the-series"),
    pytest.param([[E0, 3, 1, 0, 0]], [3, 1, 0, 0], 15, [[E0, 3, 1, 0, 0]], id="an-unchanged-tick-adds-nothing"),
    pytest.param([[E0, 3, 1, 0, 0]], [3, 1, 1, 1], 15, [[E0, 3, 1, 0, 0], [E0 + 15, 3, 1, 1, 1]], id="a-change-is-appended"),
    pytest.param([[E0, 9, 2, 2, 2], [E0 + 60, 0, 0, 0, 0]], [4, 1, 0, 0], SAMPLES_KEPT_S + 600,
                 [[E0 + 60, 0, 0, 0, 0], [E0 + SAMPLES_KEPT_S + 600, 4, 1, 0, 0]],
                 id="older-than-the-hour-are-dropped-but-the-value-the-window-starts-with"),
])
def test_samples_record_changes_only_for_the_last_hour(previous, values, seconds_later, want):
    assert sampled(previous, values, T0 + timedelta(seconds=seconds_later)) == want


def test_samples_never_exceed_their_cap():
    samples = None
    for tick in range(SAMPLES_MAX + 50):
        samples = sampled(samples, [tick, 1, 1, 1], T0 + timedelta(seconds=tick))
    assert len(samples) == SAMPLES_MAX and samples[-1][1] == SAMPLES_MAX + 49
