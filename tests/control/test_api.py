"""The API server through chalice.test.Client: every route, every status code, bad input that never reaches the table."""
import copy
import json
import threading
from datetime import datetime, timedelta, timezone
from urllib.parse import quote

import boto3
import pytest

from chalicelib import config
from chalicelib.control import api
from chalicelib.adapters.store import Store
from chalicelib.errors import Conflict
from chalicelib.control.openapi import EXAMPLES

JSON = "application/json"
MERGE_PATCH = "application/merge-patch+json"


def send(client, method, path, body=None, content_type=JSON):
    """(status code, parsed JSON body); a str or bytes body goes as is, anything else as JSON."""
    raw = body if isinstance(body, (str, bytes)) or body is None else json.dumps(body)
    headers = {"Content-Type": content_type} if content_type else {}
    response = client.http.request(method, path, headers=headers, body=raw or b"")
    return response.status_code, json.loads(response.body) if response.body else None


def workload(name="photos-thumbnail", **spec):
    """The example Workload named `name`, scaling a service of that name (one Workload per target)."""
    manifest = copy.deepcopy(EXAMPLES["Workload"])
    manifest["metadata"]["name"] = name
    manifest["spec"]["target"]["service"] = name
    manifest["spec"].update(spec)
    return manifest


def nodepool(name="general", **spec):
    """The example NodePool named `name`, sizing an Auto Scaling group of that name (one NodePool per group)."""
    manifest = copy.deepcopy(EXAMPLES["NodePool"])
    manifest["metadata"]["name"] = name
    manifest["spec"]["provider"]["autoScalingGroupName"] = f"ballast-dev-{name}"
    manifest["spec"].update(spec)
    return manifest


def table_items():
    return boto3.resource("dynamodb").Table(config.TABLE).scan()["Items"]


def assert_failure(status, body, code, field=None):
    assert status == code, body
    assert body["kind"] == "Status" and body["status"] == "Failure" and body["code"] == code
    assert body["reason"] and body["message"]
    if field is not None:
        assert body["details"]["field"] == field, body


@pytest.fixture
def calls(store):
    """The DynamoDB operations the store's client makes, counted with a botocore before-call hook."""
    made = []
    events = store._table.meta.client.meta.events
    handler = lambda model, **_: made.append(model.name)  # noqa: E731
    events.register("before-call.dynamodb", handler)
    yield made
    events.unregister("before-call.dynamodb", handler)


# ---- create, get, list --------------------------------------------------------------------------


@pytest.mark.parametrize("path, manifest", [("/workloads", workload()), ("/nodepools", nodepool())], ids=["workload", "nodepool"])
def test_create_is_201_with_server_metadata_and_defaults(client, path, manifest):
    status, body = send(client, "POST", path, manifest)
    assert status == 201
    assert body["metadata"]["resourceVersion"] == "1" and body["metadata"]["generation"] == 1
    assert body["metadata"]["namespace"] == "default" and body["metadata"]["uid"]
    assert body["status"] == {}
    assert send(client, "GET", f"{path}/{manifest['metadata']['name']}")[1] == body


def test_workload_defaults_are_applied_as_kubernetes_does(client):
    _, body = send(client, "POST", "/workloads", workload())
    assert body["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert body["spec"]["metrics"][0]["backlog"]["activationThreshold"] == 0
    # No fixed cooldown is filled in: unset, an idle workload keeps its replicas for the break-even time.
    assert "cooldownSeconds" not in body["spec"] and "latencyBoundSeconds" not in body["spec"]


def test_create_of_an_existing_name_is_409_and_keeps_the_first(client):
    send(client, "POST", "/workloads", workload(maxReplicas=20))
    status, body = send(client, "POST", "/workloads", workload(maxReplicas=30))
    assert_failure(status, body, 409)
    assert "already exists" in body["message"]
    assert send(client, "GET", "/workloads/photos-thumbnail")[1]["spec"]["maxReplicas"] == 20


def test_get_of_a_missing_object_is_404(client):
    status, body = send(client, "GET", "/workloads/nothing-here")
    assert_failure(status, body, 404)
    assert body["reason"] == "NotFound"


def test_namespaces_keep_objects_apart(client):
    assert send(client, "POST", "/workloads?namespace=team-a", workload())[0] == 201
    assert send(client, "GET", "/workloads/photos-thumbnail?namespace=team-a")[0] == 200
    assert send(client, "GET", "/workloads/photos-thumbnail")[0] == 404
    assert send(client, "GET", "/workloads?namespace=team-a")[1]["items"][0]["metadata"]["namespace"] == "team-a"


def test_list_filters_by_label_selector(client):
    for name, op in (("a", "thumbnail"), ("b", "grayscale"), ("c", "thumbnail")):
        manifest = workload(name)
        manifest["metadata"]["labels"] = {"app": "photos", "op": op}
        send(client, "POST", "/workloads", manifest)
    status, body = send(client, "GET", "/workloads?labelSelector=app%3Dphotos,op%3D%3Dthumbnail")
    assert status == 200 and body["kind"] == "WorkloadList"
    assert [i["metadata"]["name"] for i in body["items"]] == ["a", "c"]


def test_list_pages_with_limit_and_continue(client):
    for index in range(5):
        send(client, "POST", "/nodepools", nodepool(f"pool-{index}"))
    names, token = [], None
    while True:
        path = "/nodepools?limit=2" + (f"&continue={token}" if token else "")
        status, body = send(client, "GET", path)
        assert status == 200 and len(body["items"]) <= 2
        names += [i["metadata"]["name"] for i in body["items"]]
        token = body["metadata"]["continue"]
        if not token:
            break
    assert names == [f"pool-{i}" for i in range(5)]


@pytest.mark.parametrize("query, field", [
    pytest.param("labelSelector=app%21%3Dphotos", "labelSelector", id="set-based-selector"),
    pytest.param("labelSelector=app", "labelSelector", id="selector-without-value"),
    pytest.param("limit=0", "limit", id="zero-limit"),
    pytest.param("limit=-3", "limit", id="negative-limit"),
    pytest.param("limit=ten", "limit", id="limit-not-a-number"),
    pytest.param("continue=not-a-token", "continue", id="forged-continue"),
    pytest.param("namespace=Team_A", "namespace", id="namespace-not-dns-1123"),
])
def test_a_bad_list_query_is_400_naming_the_parameter(client, query, field):
    assert_failure(*send(client, "GET", f"/workloads?{query}"), 400, field)


# ---- replace and patch --------------------------------------------------------------------------


def test_replace_with_the_read_version_is_200_and_moves_version_and_generation(client):
    _, created = send(client, "POST", "/workloads", workload())
    manifest = copy.deepcopy(created)
    manifest["spec"]["maxReplicas"] = 40
    status, body = send(client, "PUT", "/workloads/photos-thumbnail", manifest)
    assert status == 200
    assert body["spec"]["maxReplicas"] == 40
    assert body["metadata"]["resourceVersion"] == "2" and body["metadata"]["generation"] == 2
    assert body["metadata"]["uid"] == created["metadata"]["uid"]


def test_replace_with_a_stale_version_is_409_and_writes_nothing(client):
    _, created = send(client, "POST", "/workloads", workload())
    first, second = copy.deepcopy(created), copy.deepcopy(created)
    first["spec"]["maxReplicas"], second["spec"]["maxReplicas"] = 30, 40
    assert send(client, "PUT", "/workloads/photos-thumbnail", first)[0] == 200
    status, body = send(client, "PUT", "/workloads/photos-thumbnail", second)
    assert_failure(status, body, 409)
    assert "resourceVersion is now 2" in body["message"]
    assert send(client, "GET", "/workloads/photos-thumbnail")[1]["spec"]["maxReplicas"] == 30


def test_replace_of_a_missing_object_is_404(client):
    assert_failure(*send(client, "PUT", "/workloads/photos-thumbnail", workload()), 404)


def test_replace_with_a_name_other_than_the_url_is_400(client):
    send(client, "POST", "/workloads", workload())
    assert_failure(*send(client, "PUT", "/workloads/photos-thumbnail", workload("other")), 400, "metadata.name")


def test_two_patches_from_the_same_version_exactly_one_wins(store):
    api.create(store, "Workload", "default", workload())
    outcomes = []
    barrier = threading.Barrier(2)

    def patch(replicas):
        barrier.wait()
        try:
            api.patch(store, "Workload", "default", "photos-thumbnail",
                      {"metadata": {"resourceVersion": "1"}, "spec": {"maxReplicas": replicas}})
            outcomes.append(("won", replicas))
        except Conflict:
            outcomes.append(("lost", replicas))

    threads = [threading.Thread(target=patch, args=(n,)) for n in (30, 40)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcome for outcome, _ in outcomes) == ["lost", "won"]
    winner = next(replicas for outcome, replicas in outcomes if outcome == "won")
    assert store.get("Workload", "default", "photos-thumbnail")["spec"]["maxReplicas"] == winner


def test_merge_patch_merges_nested_objects_and_null_deletes_a_key(client):
    manifest = workload()
    manifest["metadata"]["labels"] = {"app": "photos", "op": "thumbnail"}
    send(client, "POST", "/workloads", manifest)
    patch = {"metadata": {"labels": {"op": None, "tier": "batch"}}, "spec": {"resources": {"cpuMillicores": 2048}}}
    status, body = send(client, "PATCH", "/workloads/photos-thumbnail", patch, MERGE_PATCH)
    assert status == 200
    assert body["metadata"]["labels"] == {"app": "photos", "tier": "batch"}
    assert body["spec"]["resources"] == {"cpuMillicores": 2048, "memoryMiB": 2048}
    assert body["spec"]["maxReplicas"] == 20
    assert body["metadata"]["generation"] == 2


def test_merge_patch_replaces_arrays_whole(client):
    send(client, "POST", "/workloads", workload(nodePools=["a", "b"]))
    _, body = send(client, "PATCH", "/workloads/photos-thumbnail", {"spec": {"nodePools": ["c"]}}, MERGE_PATCH)
    assert body["spec"]["nodePools"] == ["c"]


def test_a_patch_that_breaks_the_spec_is_400_and_writes_nothing(client):
    send(client, "POST", "/workloads", workload())
    before = table_items()
    status, body = send(client, "PATCH", "/workloads/photos-thumbnail", {"spec": {"minReplicas": 50}}, MERGE_PATCH)
    assert_failure(status, body, 400, "spec.maxReplicas")
    assert_failure(*send(client, "PATCH", "/workloads/photos-thumbnail", {"spec": {"target": None}}, MERGE_PATCH), 400, "spec.target")
    assert table_items() == before


def test_a_patch_cannot_rename_or_move_an_object(client):
    send(client, "POST", "/workloads", workload())
    assert_failure(*send(client, "PATCH", "/workloads/photos-thumbnail", {"metadata": {"name": "x"}}, MERGE_PATCH), 400, "metadata.name")
    assert_failure(*send(client, "PATCH", "/workloads/photos-thumbnail", {"metadata": {"namespace": "x"}}, MERGE_PATCH),
                   400, "metadata.namespace")


def test_a_patch_with_a_stale_version_is_409(client):
    send(client, "POST", "/workloads", workload())
    send(client, "PATCH", "/workloads/photos-thumbnail", {"spec": {"maxReplicas": 30}}, MERGE_PATCH)
    status, body = send(client, "PATCH", "/workloads/photos-thumbnail",
                        {"metadata": {"resourceVersion": "1"}, "spec": {"maxReplicas": 40}}, MERGE_PATCH)
    assert_failure(status, body, 409)


def test_a_patch_of_a_missing_object_is_404(client):
    assert_failure(*send(client, "PATCH", "/nodepools/nothing", {"spec": {"maxNodes": 3}}, MERGE_PATCH), 404)


def test_a_patch_sent_as_plain_json_is_415(client):
    send(client, "POST", "/workloads", workload())
    assert_failure(*send(client, "PATCH", "/workloads/photos-thumbnail", {"spec": {"maxReplicas": 3}}, JSON), 415)


# ---- status: only the controller writes it ---------------------------------------------------------


def test_a_client_sent_status_never_overwrites_the_controllers(client, store):
    manifest = workload()
    manifest["status"] = {"desiredReplicas": 99}
    _, created = send(client, "POST", "/workloads", manifest)
    assert created["status"] == {}
    store.update_status("Workload", "default", "photos-thumbnail", {"desiredReplicas": 4, "currentReplicas": 3})
    current = send(client, "GET", "/workloads/photos-thumbnail")[1]
    current["status"] = {"desiredReplicas": 0}
    assert send(client, "PUT", "/workloads/photos-thumbnail", current)[1]["status"]["desiredReplicas"] == 4
    patched = send(client, "PATCH", "/workloads/photos-thumbnail", {"status": {"desiredReplicas": 0}}, MERGE_PATCH)[1]
    assert patched["status"] == {"desiredReplicas": 4, "currentReplicas": 3}


def test_status_subresource_shows_the_controllers_status_and_users_cannot_write_it(client, store):
    send(client, "POST", "/workloads", workload())
    store.update_status("Workload", "default", "photos-thumbnail", {"desiredReplicas": 4})
    status, body = send(client, "GET", "/workloads/photos-thumbnail/status")
    assert status == 200 and body["status"] == {"desiredReplicas": 4}
    assert_failure(*send(client, "PUT", "/workloads/photos-thumbnail/status", body), 405)
    assert_failure(*send(client, "PATCH", "/workloads/photos-thumbnail/status", {"status": {}}, MERGE_PATCH), 405)
    assert_failure(*send(client, "GET", "/workloads/nothing/status"), 404)


# ---- scale: paused replicas ---------------------------------------------------------------------


def test_scale_reports_the_controllers_desired_and_current_counts(client, store):
    send(client, "POST", "/workloads", workload())
    store.update_status("Workload", "default", "photos-thumbnail", {"desiredReplicas": 7, "currentReplicas": 5})
    status, body = send(client, "GET", "/workloads/photos-thumbnail/scale")
    assert status == 200 and body["kind"] == "Scale"
    assert body["spec"] == {"replicas": 7}
    assert body["status"] == {"replicas": 5, "paused": False}


def test_put_scale_pauses_at_the_count_and_a_null_patch_resumes_autoscaling(client, store):
    send(client, "POST", "/workloads", workload())
    store.update_status("Workload", "default", "photos-thumbnail", {"desiredReplicas": 7, "currentReplicas": 5})
    status, body = send(client, "PUT", "/workloads/photos-thumbnail/scale", {"spec": {"replicas": 2}})
    assert status == 200 and body["spec"] == {"replicas": 2} and body["status"]["paused"] is True
    assert send(client, "GET", "/workloads/photos-thumbnail")[1]["spec"]["replicas"] == 2
    _, resumed = send(client, "PATCH", "/workloads/photos-thumbnail", {"spec": {"replicas": None}}, MERGE_PATCH)
    assert "replicas" not in resumed["spec"]
    assert send(client, "GET", "/workloads/photos-thumbnail/scale")[1]["spec"] == {"replicas": 7}


@pytest.mark.parametrize("body, field", [
    pytest.param({"spec": {"replicas": 21}}, "spec.replicas", id="above-maxReplicas"),
    pytest.param({"spec": {"replicas": -1}}, "spec.replicas", id="negative"),
    pytest.param({"spec": {"replicas": "3"}}, "spec.replicas", id="string"),
    pytest.param({"spec": {}}, "spec", id="missing-replicas"),
    pytest.param({"kind": "Deployment", "spec": {"replicas": 1}}, "kind", id="not-a-scale"),
    pytest.param({"metadata": {"resourceVersion": "x1"}, "spec": {"replicas": 1}}, "metadata.resourceVersion", id="bad-version"),
])
def test_a_bad_scale_is_400_and_writes_nothing(client, body, field):
    send(client, "POST", "/workloads", workload())
    before = table_items()
    assert_failure(*send(client, "PUT", "/workloads/photos-thumbnail/scale", body), 400, field)
    assert table_items() == before


def test_scale_with_a_stale_version_is_409_and_of_a_missing_workload_404(client):
    send(client, "POST", "/workloads", workload())
    send(client, "PUT", "/workloads/photos-thumbnail/scale", {"spec": {"replicas": 2}})
    stale = {"metadata": {"resourceVersion": "1"}, "spec": {"replicas": 3}}
    assert_failure(*send(client, "PUT", "/workloads/photos-thumbnail/scale", stale), 409)
    assert_failure(*send(client, "GET", "/workloads/nothing/scale"), 404)
    assert_failure(*send(client, "PUT", "/workloads/nothing/scale", {"spec": {"replicas": 1}}), 404)


@pytest.mark.parametrize("method, path, body, content_type, field", [
    pytest.param("PUT", "/workloads/photos-thumbnail/scale", {"spec": {"replicas": 2}}, JSON, "replicas", id="pause"),
    pytest.param("PATCH", "/workloads/photos-thumbnail", {"spec": {"maxReplicas": 12}}, MERGE_PATCH, "maxReplicas",
                 id="patch"),
])
def test_a_status_write_between_the_read_and_the_write_does_not_refuse_an_unpinned_change(client, store, monkeypatch,
                                                                                          method, path, body,
                                                                                          content_type, field):
    """The controller records status every tick; a pause or patch that pins no version applies to what is current."""
    send(client, "POST", "/workloads", workload())
    get, ticks = Store.get, []

    def a_tick_lands_after_the_read(self, kind, namespace, name):
        found = get(self, kind, namespace, name)
        if kind == "Workload" and not ticks:
            ticks.append(self.update_status("Workload", namespace, name, {"desiredReplicas": 4, "currentReplicas": 4}))
        return found
    monkeypatch.setattr(Store, "get", a_tick_lands_after_the_read)
    status, _ = send(client, method, path, body, content_type)
    monkeypatch.setattr(Store, "get", get)
    current = send(client, "GET", "/workloads/photos-thumbnail")[1]
    assert (status, len(ticks), current["status"]["desiredReplicas"]) == (200, 1, 4)
    assert current["spec"][field] == body["spec"][field]
    assert int(current["metadata"]["resourceVersion"]) == int(ticks[0]["metadata"]["resourceVersion"]) + 1


def test_a_patch_pinned_to_a_version_a_status_write_moved_past_is_409(client, store):
    created = send(client, "POST", "/workloads", workload())[1]
    store.update_status("Workload", "default", "photos-thumbnail", {"desiredReplicas": 4})
    pinned = {"metadata": {"resourceVersion": created["metadata"]["resourceVersion"]}, "spec": {"maxReplicas": 12}}
    assert_failure(*send(client, "PATCH", "/workloads/photos-thumbnail", pinned, MERGE_PATCH), 409)
    assert send(client, "GET", "/workloads/photos-thumbnail")[1]["spec"]["maxReplicas"] == 20


# ---- delete ---------------------------------------------------------------------------------------


def test_delete_checks_the_version_then_the_object_is_gone(client):
    send(client, "POST", "/nodepools", nodepool())
    send(client, "PATCH", "/nodepools/general", {"spec": {"maxNodes": 8}}, MERGE_PATCH)
    assert_failure(*send(client, "DELETE", "/nodepools/general?resourceVersion=1"), 409)
    assert_failure(*send(client, "DELETE", "/nodepools/general", {"preconditions": {"resourceVersion": "1"}}), 409)
    status, body = send(client, "DELETE", "/nodepools/general", {"preconditions": {"resourceVersion": "2"}})
    assert status == 200 and body["status"] == "Success"
    assert_failure(*send(client, "GET", "/nodepools/general"), 404)
    assert_failure(*send(client, "DELETE", "/nodepools/general"), 404)


def test_delete_without_a_precondition_deletes_whatever_version(client):
    send(client, "POST", "/workloads", workload())
    assert send(client, "DELETE", "/workloads/photos-thumbnail", content_type=None)[0] == 200
    assert table_items() == []


def test_delete_with_a_malformed_version_is_400(client):
    send(client, "POST", "/workloads", workload())
    assert_failure(*send(client, "DELETE", "/workloads/photos-thumbnail?resourceVersion=abc"), 400, "resourceVersion")
    assert len(table_items()) == 2  # the workload, and the claim on its target


# ---- events -----------------------------------------------------------------------------------------


def test_events_are_listed_newest_first_for_the_involved_object(client, store):
    def event(name, time, reason):
        return {"type": "Normal", "reason": reason, "message": reason, "time": time,
                "involvedObject": {"kind": "Workload", "name": name}, "data": {}}
    store.record_events("default", [event("a", "2026-01-01T00:00:00+00:00", "First"),
                                    event("a", "2026-01-01T00:01:00+00:00", "Second"),
                                    event("b", "2026-01-01T00:02:00+00:00", "Other")], ttl_s=3600)
    status, body = send(client, "GET", "/events?involvedObject=Workload/a")
    assert status == 200 and [e["reason"] for e in body["items"]] == ["Second", "First"]
    assert [e["reason"] for e in send(client, "GET", "/events?kind=Workload&name=b")[1]["items"]] == ["Other"]
    assert [e["reason"] for e in send(client, "GET", "/events")[1]["items"]] == ["Other", "Second", "First"]
    assert [e["reason"] for e in send(client, "GET", "/events?limit=1")[1]["items"]] == ["Other"]


def test_events_of_one_type_are_its_newest_even_behind_many_of_the_other(client, store):
    def event(minute, kind):
        return {"type": kind, "reason": f"{kind}{minute}", "message": "m", "time": f"2026-01-01T00:{minute:02d}:00+00:00",
                "involvedObject": {"kind": "Workload", "name": "a"}, "data": {}}
    store.record_events("default", [event(0, "Warning")] + [event(m, "Normal") for m in range(1, 6)], ttl_s=3600)
    assert [e["reason"] for e in send(client, "GET", "/events?type=Warning&limit=2")[1]["items"]] == ["Warning0"]
    assert [e["reason"] for e in send(client, "GET", "/events?type=Normal&limit=2")[1]["items"]] == ["Normal5", "Normal4"]


@pytest.mark.parametrize("query, field", [
    pytest.param("involvedObject=Widget/a", "involvedObject", id="unknown-kind"),
    pytest.param("kind=Widget&name=a", "kind", id="unknown-kind-param"),
    pytest.param("involvedObject=Workload/Not_A_Name", "involvedObject", id="name-not-dns-1123"),
    pytest.param("name=a", "kind", id="name-without-kind"),
    pytest.param("type=Error", "type", id="unknown-type"),
])
def test_a_bad_events_query_is_400(client, query, field):
    assert_failure(*send(client, "GET", f"/events?{query}"), 400, field)


def test_a_workloads_stats_are_its_minutes_since_the_time_asked(client, store):
    send(client, "POST", "/workloads", workload())
    now = datetime.now(timezone.utc)
    store.add_stats("photos-thumbnail", now - timedelta(minutes=90), {"arrived": 7})
    store.add_stats("photos-thumbnail", now - timedelta(minutes=20), {"arrived": 5, "done": 4, "busyMs": 4000})
    store.add_stats("photos-thumbnail", now, {"done": 1}, stamp="lastArrivalAt")
    store.add_stats("other", now, {"arrived": 99})
    status, body = send(client, "GET", "/workloads/photos-thumbnail/stats")
    assert status == 200 and body["kind"] == "WorkloadStats"
    assert [(b.get("arrived"), b.get("done")) for b in body["items"]] == [(5, 4), (None, 1)]
    assert body["items"][0]["busyMs"] == 4000 and "lastArrivalAt" in body["items"][1]
    assert [b.get("arrived") for b in send(client, "GET", "/workloads/photos-thumbnail/stats?since=2h")[1]["items"]] == [7, 5, None]
    since = (now - timedelta(minutes=30)).isoformat()
    assert len(send(client, "GET", f"/workloads/photos-thumbnail/stats?since={quote(since)}")[1]["items"]) == 2


@pytest.mark.parametrize("query", [
    pytest.param("since=yesterday", id="not-a-time"),
    pytest.param("since=10x", id="unknown-unit"),
    pytest.param("since=25h", id="older-than-the-stats-are-kept"),
    pytest.param("since=2026-01-01T00:00:00", id="time-without-zone"),
])
def test_a_bad_stats_query_is_400_naming_since(client, query):
    send(client, "POST", "/workloads", workload())
    assert_failure(*send(client, "GET", f"/workloads/photos-thumbnail/stats?{query}"), 400, "since")


def test_stats_of_a_workload_that_does_not_exist_are_404(client):
    assert_failure(*send(client, "GET", "/workloads/nobody/stats"), 404)


# ---- one owner per scale target (KEDA's admission webhook: one ScaledObject per workload) --------------------------


def test_a_second_workload_for_one_target_is_409_naming_the_owner_and_writes_nothing(client):
    assert send(client, "POST", "/workloads?namespace=team-a", workload("first", target={
        "kind": "ECSService", "cluster": "ballast-dev", "service": "thumbnail"}))[0] == 201
    before = table_items()
    status, body = send(client, "POST", "/workloads", workload("second", target={
        "kind": "ECSService", "cluster": "arn:aws:ecs:us-east-1:123456789012:cluster/ballast-dev", "service": "thumbnail"}))
    assert_failure(status, body, 409)
    assert body["message"] == "the ECSService ballast-dev/thumbnail is already managed by Workload team-a/first"
    assert table_items() == before


@pytest.mark.parametrize("path, first, second, owner", [
    pytest.param("/workloads", workload("a", target={"kind": "Deployment", "cluster": "eks", "namespace": "photos",
                                                     "name": "thumbnail"}),
                 workload("b", target={"kind": "Deployment", "cluster": "eks", "namespace": "photos",
                                       "name": "thumbnail"}), "Workload default/a", id="eks-deployment"),
    pytest.param("/nodepools", nodepool("a", provider={"kind": "AutoScalingGroup", "autoScalingGroupName": "nodes"}),
                 nodepool("b", provider={"kind": "AutoScalingGroup", "autoScalingGroupName": "nodes"}),
                 "NodePool default/a", id="auto-scaling-group"),
    pytest.param("/nodepools", nodepool("a", provider={"kind": "EKSNodegroup", "cluster": "eks", "nodegroup": "ng"}),
                 nodepool("b", provider={"kind": "EKSNodegroup", "cluster": "eks", "nodegroup": "ng"}),
                 "NodePool default/a", id="eks-nodegroup"),
])
def test_every_kind_of_target_has_one_owner(client, path, first, second, owner):
    assert send(client, "POST", path, first)[0] == 201
    status, body = send(client, "POST", path, second)
    assert_failure(status, body, 409)
    assert body["message"].endswith(f"is already managed by {owner}")


def test_local_pools_own_no_group(client):
    local = {"kind": "Local"}
    assert send(client, "POST", "/nodepools", nodepool("a", provider=local))[0] == 201
    assert send(client, "POST", "/nodepools", nodepool("b", provider=local))[0] == 201


def test_concurrent_creates_for_one_target_exactly_one_wins(store):
    """Both creates are in flight before either is written (a barrier in front of the write): a check that read the
    owner first would let both through; the conditional write on the ownership item lets one."""
    outcomes, barrier = [], threading.Barrier(2)
    events = store._table.meta.client.meta.events

    def handler(**_):
        barrier.wait(timeout=10)  # returns None: a value from a before-call hook would stand in for the response

    events.register("before-call.dynamodb.TransactWriteItems", handler)

    def create(name):
        try:
            api.create(store, "Workload", "default", workload(name, target={
                "kind": "ECSService", "cluster": "ballast-dev", "service": "thumbnail"}))
            outcomes.append(("won", name))
        except Conflict as error:
            outcomes.append(("lost", error.message))

    threads = [threading.Thread(target=create, args=(name,)) for name in ("left", "right")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    events.unregister("before-call.dynamodb.TransactWriteItems", handler)
    assert sorted(outcome for outcome, _ in outcomes) == ["lost", "won"]
    winner = next(name for outcome, name in outcomes if outcome == "won")
    assert [w["metadata"]["name"] for w in store.list_all("Workload", "default")] == [winner]
    assert next(m for o, m in outcomes if o == "lost").endswith(f"managed by Workload default/{winner}")


def test_an_update_moves_the_claim_and_refuses_a_target_owned_by_another(client):
    send(client, "POST", "/workloads", workload("a"))
    send(client, "POST", "/workloads", workload("b"))
    _, a = send(client, "GET", "/workloads/a")
    a["spec"]["target"]["service"] = "b"
    status, body = send(client, "PUT", "/workloads/a", a)
    assert_failure(status, body, 409)
    assert "managed by Workload default/b" in body["message"]
    assert send(client, "GET", "/workloads/a")[1]["spec"]["target"]["service"] == "a"
    patched = {"spec": {"target": {"service": "c"}}}
    assert send(client, "PATCH", "/workloads/a", patched, MERGE_PATCH)[0] == 200
    # The old target was released with the move: another workload may take it now.
    assert send(client, "POST", "/workloads", workload("d", target={**a["spec"]["target"], "service": "a"}))[0] == 201


def test_deleting_the_owner_releases_its_target(client):
    send(client, "POST", "/workloads", workload("a"))
    assert send(client, "POST", "/workloads", workload("b", target=workload("a")["spec"]["target"]))[0] == 409
    assert send(client, "DELETE", "/workloads/a")[0] == 200
    assert send(client, "POST", "/workloads", workload("b", target=workload("a")["spec"]["target"]))[0] == 201


def test_a_workloads_series_is_its_hour_of_samples_its_pools_nodes_stats_and_resizes(client, store):
    send(client, "POST", "/workloads", workload(nodePools=["general", "spare"]))
    send(client, "POST", "/nodepools", nodepool())
    now = datetime.now(timezone.utc).replace(microsecond=0)
    epoch = int(now.timestamp())
    store.update_status("Workload", "default", "photos-thumbnail", {"samples": [
        [epoch - 7200, 0, 0, 0, 0], [epoch - 600, 40, 4, 0, 0], [epoch - 300, 40, 4, 4, 3]]})
    store.update_status("NodePool", "default", "general", {"samples": [[epoch - 590, 2, 2, 0, 4]]})
    store.add_stats("photos-thumbnail", now - timedelta(minutes=5), {"arrived": 40, "done": 12})

    def resize(kind, name, reason, minutes_ago):
        return {"type": "Normal", "reason": reason, "message": reason, "data": {"from": 0, "to": 4},
                "time": (now - timedelta(minutes=minutes_ago)).isoformat(), "involvedObject": {"kind": kind, "name": name}}
    store.record_events("default", [resize("Workload", "photos-thumbnail", "SuccessfulRescale", 10),
                                    resize("NodePool", "general", "TriggeredScaleUp", 9),
                                    resize("Workload", "photos-thumbnail", "SuccessfulRescale", 120),
                                    resize("Workload", "photos-thumbnail", "FailedGetScale", 8),
                                    resize("Workload", "other", "SuccessfulRescale", 7)], ttl_s=3600)
    status, body = send(client, "GET", "/workloads/photos-thumbnail/series?since=30m")
    assert status == 200 and body["kind"] == "WorkloadSeries"
    # The sample in force 30 minutes ago (two hours old) opens the window, so the chart starts at its value.
    assert [(p["backlog"], p["desired"], p["current"], p["ready"]) for p in body["replicas"]] == [(0, 0, 0, 0), (40, 4, 0, 0), (40, 4, 4, 3)]
    assert body["replicas"][1]["time"] == (now - timedelta(seconds=600)).isoformat()
    assert body["nodes"] == {"general": [{"time": (now - timedelta(seconds=590)).isoformat(), "desired": 2, "current": 2,
                                          "ready": 0, "tasks": 4}], "spare": []}
    assert [m["arrived"] for m in body["stats"]] == [40]
    assert [(e["involvedObject"]["name"], e["reason"]) for e in body["scaleEvents"]] == [
        ("photos-thumbnail", "SuccessfulRescale"), ("general", "TriggeredScaleUp")]


def test_the_series_of_a_workload_never_reconciled_is_empty_and_of_none_is_404(client):
    send(client, "POST", "/workloads", workload(nodePools=[]))
    status, body = send(client, "GET", "/workloads/photos-thumbnail/series")
    assert status == 200 and (body["replicas"], body["nodes"], body["scaleEvents"]) == ([], {}, [])
    assert_failure(*send(client, "GET", "/workloads/photos-thumbnail/series?since=2d"), 400, "since")
    assert_failure(*send(client, "GET", "/workloads/nobody/series"), 404)


# ---- bad input: a clear 4xx, and nothing reaches the table -----------------------------------------------


def _without(manifest, *path):
    broken = copy.deepcopy(manifest)
    node = broken
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return broken


BAD_CREATES = [
    pytest.param("/workloads", _without(workload(), "spec"), JSON, 400, "spec", id="missing-spec"),
    pytest.param("/workloads", _without(workload(), "spec", "maxReplicas"), JSON, 400, "spec.maxReplicas", id="missing-maxReplicas"),
    pytest.param("/workloads", _without(workload(), "metadata", "name"), JSON, 400, "metadata.name", id="missing-name"),
    pytest.param("/workloads", _without(workload(), "spec", "target", "service"), JSON, 400, "spec.target.service", id="missing-service"),
    pytest.param("/workloads", workload(maxReplicas="ten"), JSON, 400, "spec.maxReplicas", id="wrong-type"),
    pytest.param("/workloads", workload(minReplicas=-1), JSON, 400, "spec.minReplicas", id="negative-minReplicas"),
    pytest.param("/workloads", workload(minReplicas=30), JSON, 400, "spec.maxReplicas", id="min-above-max"),
    pytest.param("/workloads", workload(surprise=1), JSON, 400, "spec.surprise", id="unknown-field"),
    pytest.param("/workloads", {**workload(), "kind": "Widget"}, JSON, 400, "kind", id="unknown-kind"),
    pytest.param("/workloads", nodepool(), JSON, 400, "kind", id="nodepool-to-workloads"),
    pytest.param("/workloads", workload("Photos_Thumbnail"), JSON, 400, "metadata.name", id="name-not-dns-1123"),
    pytest.param("/workloads", workload("a" * 64), JSON, 400, "metadata.name", id="name-too-long"),
    pytest.param("/workloads", workload("-leading-dash"), JSON, 400, "metadata.name", id="name-leading-dash"),
    pytest.param("/workloads", {**workload(), "metadata": {"name": "x", "namespace": "other"}}, JSON, 400,
                 "metadata.namespace", id="namespace-mismatch"),
    pytest.param("/workloads", {**workload(), "metadata": {"name": "x", "resourceVersion": "3"}}, JSON, 400,
                 "metadata.resourceVersion", id="resourceVersion-on-create"),
    pytest.param("/workloads", [workload()], JSON, 400, "body", id="not-an-object"),
    pytest.param("/workloads", "", JSON, 400, "body", id="empty-body"),
    pytest.param("/workloads", '{"metadata": {"name": "x"', JSON, 400, "body", id="malformed-json"),
    pytest.param("/workloads", b"\xff\xfe", JSON, 400, "body", id="not-utf8"),
    pytest.param("/workloads", "name: x", "text/yaml", 415, None, id="yaml"),
    pytest.param("/workloads", json.dumps(workload()), "text/plain", 415, None, id="json-as-text"),
    pytest.param("/workloads?namespace=Not_Valid", workload(), JSON, 400, "namespace", id="bad-namespace"),
    pytest.param("/nodepools", nodepool(maxNodes=-2), JSON, 400, "spec.maxNodes", id="negative-maxNodes"),
    pytest.param("/nodepools", nodepool(minNodes=1.5), JSON, 400, "spec.minNodes", id="fractional-minNodes"),
    pytest.param("/nodepools", _without(nodepool(), "spec", "instance"), JSON, 400, "spec.instance", id="missing-instance"),
    pytest.param("/nodepools", nodepool(provider={"kind": "Mainframe"}), JSON, 400, "spec.provider.kind", id="unknown-provider"),
]


@pytest.mark.parametrize("path, body, content_type, code, field", BAD_CREATES)
def test_bad_input_is_a_clear_4xx_and_never_reaches_the_table(client, path, body, content_type, code, field):
    assert_failure(*send(client, "POST", path, body, content_type), code, field)
    assert table_items() == []


def test_a_body_over_the_limit_is_413_and_never_reaches_the_table(client):
    manifest = workload()
    manifest["metadata"]["labels"] = {"padding": "x"}
    manifest["spec"]["target"]["service"] = "s" * config.MAX_BODY_BYTES
    assert_failure(*send(client, "POST", "/workloads", manifest), 413)
    send(client, "POST", "/workloads", workload())
    before = table_items()
    assert_failure(*send(client, "PUT", "/workloads/photos-thumbnail", manifest), 413)
    assert_failure(*send(client, "PATCH", "/workloads/photos-thumbnail", manifest, MERGE_PATCH), 413)
    assert table_items() == before


@pytest.mark.parametrize("method, path, body, content_type", [
    pytest.param("GET", "/workloads/Photos", None, JSON, id="get"),
    pytest.param("PUT", "/workloads/Photos", workload("Photos"), JSON, id="put"),
    pytest.param("PATCH", "/nodepools/under_score", {"spec": {}}, MERGE_PATCH, id="patch"),
    pytest.param("DELETE", "/nodepools/" + "a" * 64, None, JSON, id="delete"),
    pytest.param("GET", "/workloads/UPPER/scale", None, JSON, id="scale"),
    pytest.param("PUT", "/workloads/UPPER/scale", {"spec": {"replicas": 1}}, JSON, id="put-scale"),
    pytest.param("GET", "/workloads/UPPER/status", None, JSON, id="status"),
])
def test_a_name_in_the_path_that_is_not_dns_1123_is_400_naming_it(client, method, path, body, content_type):
    assert_failure(*send(client, method, path, body, content_type), 400, "name")
    assert table_items() == []


@pytest.mark.parametrize("method, path", [("GET", "/widgets"), ("POST", "/widgets"), ("GET", "/widgets/a"), ("DELETE", "/widgets/a")])
def test_an_unknown_kind_is_404_naming_what_is_served(client, method, path):
    status, body = send(client, method, path, workload() if method == "POST" else None)
    assert_failure(status, body, 404)
    assert "'widgets'" in body["message"] and "workloads" in body["message"]
    assert table_items() == []


# ---- DynamoDB calls per request (DESIGN: one read and one conditional write for an update; no scans) ---------------


def test_each_request_makes_the_fewest_dynamodb_calls(client, calls):
    # A write that claims a target is one transaction: the object and its claim, both conditional.
    send(client, "POST", "/workloads", workload())
    assert calls == ["TransactWriteItems"]
    calls.clear()
    _, current = send(client, "GET", "/workloads/photos-thumbnail")
    assert calls == ["GetItem"]
    calls.clear()
    send(client, "PUT", "/workloads/photos-thumbnail", current)
    assert calls == ["GetItem", "TransactWriteItems"]
    calls.clear()
    send(client, "PATCH", "/workloads/photos-thumbnail", {"spec": {"maxReplicas": 9}}, MERGE_PATCH)
    assert calls == ["GetItem", "TransactWriteItems"]
    calls.clear()
    send(client, "PUT", "/workloads/photos-thumbnail/scale", {"spec": {"replicas": 1}})
    assert calls == ["GetItem", "UpdateItem"]
    calls.clear()
    send(client, "GET", "/workloads")
    send(client, "GET", "/events?involvedObject=Workload/photos-thumbnail")
    assert calls == ["Query", "Query"]
    calls.clear()
    send(client, "POST", "/workloads", {"metadata": {"name": "x"}})
    assert calls == []


def test_the_lambda_context_is_attached_to_logs_on_http_requests(client):
    from chalicelib.telemetry import logger

    logger.remove_keys(["function_request_id"])
    send(client, "GET", "/workloads")
    assert logger.get_current_keys().get("function_request_id")


def test_the_logging_middleware_also_serves_event_handlers(stack):
    """The same registration as app.py's, on a probe app: SQS and pure Lambda events carry the context too."""
    from chalice import Chalice, ConvertToMiddleware
    from chalice.test import Client

    from app import app
    from chalicelib.telemetry import logger

    assert any(isinstance(middleware, ConvertToMiddleware) and middleware._wrapper == logger.inject_lambda_context
               and event_type == "all" for middleware, event_type in app.middleware_handlers)
    probe = Chalice("probe")
    probe.register_middleware(ConvertToMiddleware(logger.inject_lambda_context))
    seen = []

    @probe.on_sqs_message(queue="probe")
    def on_message(event):
        seen.append(logger.get_current_keys().get("function_request_id"))

    @probe.lambda_function()
    def plain(event, context):
        seen.append(logger.get_current_keys().get("function_request_id"))

    with Client(probe) as probe_client:
        probe_client.lambda_.invoke("on_message", probe_client.events.generate_sqs_event(["hello"], queue_name="probe"))
        probe_client.lambda_.invoke("plain", {})
    assert len(seen) == 2 and all(seen)


def test_annotations_are_kept_through_create_replace_and_patch_and_removed_by_null(client):
    original = json.dumps({"kind": "HorizontalPodAutoscaler", "spec": {"maxReplicas": 5}})
    body = workload()
    body["metadata"]["annotations"] = {"ballast.io/original": original, "team": "photos"}
    status, created = send(client, "POST", "/workloads", body)
    assert status == 201 and created["metadata"]["annotations"]["ballast.io/original"] == original
    body["metadata"]["annotations"] = {"team": "images"}
    status, replaced = send(client, "PUT", "/workloads/photos-thumbnail", body)
    assert status == 200 and replaced["metadata"]["annotations"] == {"team": "images"}
    assert replaced["metadata"]["generation"] == 1  # annotations, like labels, are not the spec
    status, patched = send(client, "PATCH", "/workloads/photos-thumbnail",
                           {"metadata": {"annotations": {"team": None, "owner": "ana"}}}, MERGE_PATCH)
    assert status == 200 and patched["metadata"]["annotations"] == {"owner": "ana"}
    assert send(client, "GET", "/workloads/photos-thumbnail")[1]["metadata"]["annotations"] == {"owner": "ana"}


def test_an_annotation_value_that_is_not_a_string_is_a_400_naming_it(client):
    body = workload()
    body["metadata"]["annotations"] = {"replicas": 3}
    status, answer = send(client, "POST", "/workloads", body)
    assert_failure(status, answer, 400)
    assert "annotations" in answer["details"]["field"]


def test_dry_run_answers_with_the_defaulted_object_and_writes_nothing(client):
    status, created = send(client, "POST", "/workloads?dryRun=All", workload(maxReplicas=7))
    assert status == 201 and created["spec"]["behavior"]["scaleDown"]["stabilizationWindowSeconds"] == 300
    assert send(client, "GET", "/workloads/photos-thumbnail")[0] == 404
    assert send(client, "POST", "/workloads", workload(maxReplicas=7))[0] == 201
    status, replaced = send(client, "PUT", "/workloads/photos-thumbnail?dryRun=All", workload(maxReplicas=9))
    assert (status, replaced["spec"]["maxReplicas"], replaced["metadata"]["generation"]) == (200, 9, 2)
    status, patched = send(client, "PATCH", "/workloads/photos-thumbnail?dryRun=All", {"spec": {"maxReplicas": 8}}, MERGE_PATCH)
    assert (status, patched["spec"]["maxReplicas"]) == (200, 8)
    stored = send(client, "GET", "/workloads/photos-thumbnail")[1]
    assert (stored["spec"]["maxReplicas"], stored["metadata"]["resourceVersion"]) == (7, "1")
    # A dry run checks what the write would: an existing name, a stale version.
    assert_failure(*send(client, "POST", "/workloads?dryRun=All", workload()), 409)
    stale = workload(maxReplicas=9)
    stale["metadata"]["resourceVersion"] = "5"
    assert_failure(*send(client, "PUT", "/workloads/photos-thumbnail?dryRun=All", stale), 409)
    assert_failure(*send(client, "POST", "/workloads?dryRun=true", workload()), 400, "dryRun")


def test_all_namespaces_lists_every_namespaces_objects_with_their_labels_filtered(client):
    send(client, "POST", "/workloads", workload("a"))
    send(client, "POST", "/workloads?namespace=team-b", workload("b"))
    send(client, "POST", "/nodepools?namespace=team-b", nodepool("pool"))
    status, listed = send(client, "GET", "/workloads?allNamespaces=true")
    assert status == 200
    assert [(i["metadata"]["namespace"], i["metadata"]["name"]) for i in listed["items"]] == [("default", "a"), ("team-b", "b")]
    assert send(client, "GET", "/workloads?allNamespaces=true&labelSelector=op=none")[1]["items"] == []
    assert_failure(*send(client, "GET", "/workloads?allNamespaces=yes"), 400, "allNamespaces")
