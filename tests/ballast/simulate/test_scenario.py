"""Scenario files: the small languages, and errors that name the path of what breaks a rule."""
import random

import pytest

from ballast.simulate import scenario_file as scenarios
from ballast.simulate.scenario_file import load, scenario_from
from ballast.simulate.scenario import Scenario
from ballast.simulate.units import ScenarioError, distribution, per_second, seconds
from tests.ballast.simulate import builders


@pytest.mark.parametrize("text, want", [
    pytest.param("90s", 90, id="seconds"), pytest.param("20m", 1200, id="minutes"),
    pytest.param("1h30m", 5400, id="hours-and-minutes"), pytest.param(2.5, 2.5, id="a-bare-number-is-seconds"),
    pytest.param("20m10s", 1210, id="minutes-and-seconds"),
])
def test_durations_read_with_their_units(text, want):
    assert seconds(text, "x") == want


@pytest.mark.parametrize("text, want", [
    pytest.param("10/s", 10.0, id="per-second"), pytest.param("1/min", 1 / 60, id="per-minute"),
    pytest.param("30/h", 30 / 3600, id="per-hour"),
])
def test_rates_read_with_their_units(text, want):
    assert per_second(text, "x") == pytest.approx(want)


def test_a_rate_without_a_unit_is_refused_naming_the_path():
    with pytest.raises(ScenarioError, match=r"^arrivals\[0\]\.rate: a rate needs a unit"):
        per_second(5, "arrivals[0].rate")


@pytest.mark.parametrize("spec, mean", [
    pytest.param({"fixed": 2}, 2.0, id="fixed"), pytest.param({"uniform": [1, 3]}, 2.0, id="uniform"),
    pytest.param({"normal": {"mean": 4, "sd": 1}}, 4.0, id="normal"),
    pytest.param({"lognormal": {"mean": 90, "sd": 15}}, 90.0, id="lognormal-mean-is-the-distribution-mean"),
    pytest.param({"empirical": {"values": [1, 3], "weights": [3, 1]}}, 1.5, id="weighted-empirical"),
])
def test_distributions_sample_around_their_mean(spec, mean):
    dist = distribution(spec, "x")
    rng = random.Random(3)
    draws = [dist.sample(rng) for _ in range(4000)]
    assert dist.mean == pytest.approx(mean) and sum(draws) / len(draws) == pytest.approx(mean, rel=0.05)


@pytest.mark.parametrize("spec, path", [
    pytest.param({"normal": {"mean": -3, "sd": 1}}, "platform.taskStart.normal.mean", id="negative-latency"),
    pytest.param({"uniform": [5, 1]}, "platform.taskStart.uniform", id="uniform-upside-down"),
    pytest.param({"gamma": {"k": 2}}, "platform.taskStart", id="unknown-kind"),
    pytest.param({"lognormal": {"mean": 3}}, "platform.taskStart.lognormal.sd", id="missing-sd"),
    pytest.param({"normal": {"mean": 3, "sd": 1, "skew": 2}}, "platform.taskStart.normal.skew", id="unknown-field"),
])
def test_a_distribution_that_makes_no_sense_names_its_path(spec, path):
    with pytest.raises(ScenarioError) as error:
        distribution(spec, "platform.taskStart")
    assert error.value.path == path


def _error(**changes) -> str:
    data = builders.data()
    for key, value in changes.items():
        node = data
        *parents, last = key.split("/")
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]
        node[last] = value
    with pytest.raises(ScenarioError) as error:
        scenario_from(data)
    return str(error.value)


@pytest.mark.parametrize("change, says", [
    pytest.param({"colour": "blue"}, "colour: is not a known field", id="unknown-top-level-field"),
    pytest.param({"platform/kind": "lambda"}, "platform.kind: must be one of fargate, ecs-ec2, eks", id="platform"),
    pytest.param({"platform/nodeBoot": {"fixed": "-5s"}}, "platform.nodeBoot.fixed: must be a duration",
                 id="negative-boot"),
    pytest.param({"workloads/0/spec/maxReplicas": 0}, "workloads[0].spec.maxReplicas:", id="manifest-as-the-api"),
    pytest.param({"workloads/0/spec/replicaz": 3}, "workloads[0].spec.replicaz: is not a known field",
                 id="unknown-manifest-field"),
    pytest.param({"work/photos/serviceTime": {"fixed": -1}}, "work.photos.serviceTime.fixed:", id="negative-work"),
    pytest.param({"work/photos/speed": 3}, "work.photos.speed: is not a known field", id="unknown-work-field"),
    pytest.param({"arrivals/0/workload": "videos"}, "arrivals[0].workload: no workload named 'videos'",
                 id="unknown-workload"),
    pytest.param({"arrivals": [{"workload": "photos", "rate": 3}]}, "arrivals[0].rate: a rate needs a unit",
                 id="rate-without-unit"),
    pytest.param({"arrivals/0/burst/at": "40m"}, "arrivals[0].burst: ends at", id="burst-after-the-end"),
    pytest.param({"workloads/0/spec/nodePools": ["gpu"]}, "workloads[0].spec.nodePools[0]: no NodePool named 'gpu'",
                 id="unknown-pool"),
    pytest.param({"baselines": {"keda": {"pollingInterval": "often"}}}, "baselines.keda.pollingInterval:",
                 id="baseline-setting"),
    pytest.param({"baselines": {"karpenter": {}}}, "baselines.karpenter: is not a known baseline", id="baseline"),
])
def test_a_bad_scenario_is_one_error_naming_the_path(change, says):
    assert says in _error(**change)


def test_a_file_error_names_the_file_too(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("platform: {kind: eks}\nworkloads: []\nwork: {}\narrivals: []\n")
    with pytest.raises(ScenarioError, match=r"mine\.yaml: workloads: must be a non-empty list"):
        load(str(path))


@pytest.mark.parametrize("name", scenarios.built_in_names())
def test_every_built_in_scenario_loads(name):
    loaded = load(name)
    assert loaded.name == name and loaded.items()


def test_the_five_built_ins_are_there():
    assert set(scenarios.built_in_names()) >= {"seed-eks", "seed-fargate", "two-bursts", "night-trickle",
                                               "three-times-over"}


def test_a_burst_splits_exactly_in_proportion_and_interleaves():
    loaded = load("seed-eks")
    items = loaded.items()
    names = [name for _, name in items]
    assert (names.count("photos-grayscale"), names.count("photos-thumbnail"), names.count("photos-watermark")) == \
        (4000, 4000, 2000)
    assert set(names[:5]) == {"photos-grayscale", "photos-thumbnail", "photos-watermark"}


def test_the_same_seed_gives_the_same_items_and_another_seed_other_ones():
    trickle = load("night-trickle")
    other = Scenario(**{**trickle.__dict__, "seed": 2})
    assert trickle.items() == load("night-trickle").items() and trickle.items() != other.items()


def test_recorded_arrivals_are_played_as_recorded():
    loaded = builders.scenario(arrivals=[{"workload": "photos", "times": [3, "1m", 2.5]},
                                         {"workload": "photos", "perMinute": [2, 0, 1], "from": "10m"}])
    assert [t for t, _ in loaded.items()] == [2.5, 3.0, 60.0, 600.0, 630.0, 720.0]


def test_an_arrival_stream_has_one_form():
    with pytest.raises(ScenarioError, match=r"arrivals\[0\]: must have exactly one of burst, rate, times or perMinute"):
        builders.scenario(arrivals=[{"workload": "photos", "times": [1], "rate": "1/s"}])
