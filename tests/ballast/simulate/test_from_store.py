"""`ballast simulate --from-store`: the objects and stats the API serves become the scenario that is played."""
import argparse
import json
from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest

from ballast.simulate import command, from_store
from ballast.simulate.units import ScenarioError
from chalicelib.control.openapi import EXAMPLES


class ApiOverTestClient:
    """The API client's `get` answered by the real routes of app.py (chalice's test client) on moto's store."""

    def __init__(self, client):
        self.client = client

    def get(self, path, **query):
        response = self.client.http.get(f"{path}?{urlencode(query)}")
        assert response.status_code == 200, response.body
        return json.loads(response.body)


def post(client, path, manifest):
    response = client.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(manifest))
    assert response.status_code == 201, response.body


@pytest.fixture
def recorded(client, store):
    """A Workload and a NodePool through the API, and an hour of a trickle and a burst in the stats."""
    workload = {**EXAMPLES["Workload"], "spec": {**EXAMPLES["Workload"]["spec"], "nodePools": ["general"]}}
    post(client, "/workloads", workload)
    idle = {**workload["spec"], "target": {**workload["spec"]["target"], "service": "idle-fleet"}}  # one owner each
    post(client, "/workloads", {**workload, "metadata": {"name": "idle-fleet"}, "spec": idle})  # nothing recorded for it
    post(client, "/nodepools", EXAMPLES["NodePool"])
    start = datetime.now(timezone.utc).replace(second=0, microsecond=0) - timedelta(minutes=50)
    for minute in range(40):
        arrived = 300 if minute == 20 else 2
        store.add_stats("photos-thumbnail", start + timedelta(minutes=minute), {"arrived": arrived, "done": arrived,
                                                                                 "busyMs": arrived * 800})
    return ApiOverTestClient(client)


def test_the_store_is_read_as_a_trace_of_the_workloads_that_worked(recorded):
    trace = from_store.fetch(recorded, "default", "2h")
    assert [m["metadata"]["name"] for m in trace["workloads"]] == ["photos-thumbnail"]
    assert set(trace["workloads"][0]) == {"apiVersion", "kind", "metadata", "spec"}  # no status, no server fields
    assert [m["metadata"]["name"] for m in trace["nodePools"]] == ["general"]
    assert sum(s["arrived"] for s in trace["stats"]) == 39 * 2 + 300


def test_since_bounds_what_is_replayed(recorded):
    trace = from_store.fetch(recorded, "default", "25m")
    assert 0 < sum(s["arrived"] for s in trace["stats"]) < 50  # the trickle after the burst only


def test_simulate_from_store_plays_the_recorded_hour_under_every_policy(recorded, tmp_path, capsys):
    parser = argparse.ArgumentParser()
    command.add_arguments(parser)
    args = parser.parse_args(["--from-store", "--since", "2h", "--policy", "ballast,keda,lower-bound", "--no-plot",
                              "--out", str(tmp_path)])
    args.namespace = "default"
    assert command.run(args, recorded) == 0
    result = json.loads((tmp_path / "store-default.json").read_text())
    assert result["items"] == 39 * 2 + 300
    assert {run["policy"] for run in result["runs"]} == {"ballast", "keda", "lower-bound"}
    assert all(run["done"] == result["items"] for run in result["runs"])


def test_a_namespace_with_nothing_recorded_is_a_clear_error(recorded):
    with pytest.raises(ScenarioError, match="nothing to replay"):
        from_store.fetch(recorded, "team-a", "24h")
