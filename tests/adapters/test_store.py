import threading
from datetime import datetime, timedelta, timezone

import pytest

from chalicelib.errors import Conflict, LeaseHeld, NotFound
from chalicelib.model import Event
from chalicelib.spec import parse_spec

NOW = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)


def workload(name="photos-thumbnail", labels=None, max_replicas=10):
    return parse_spec("Workload", {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"target": {"kind": "ECSService", "cluster": "ballast-dev", "service": name},
                 "queue": {"name": "ballast-dev-thumbnail"}, "minReplicas": 0, "maxReplicas": max_replicas},
    })


def test_create_sets_metadata_and_get_returns_it(store):
    created = store.create(workload())
    meta = created["metadata"]
    assert (meta["resourceVersion"], meta["generation"], meta["namespace"]) == ("1", 1, "default")
    assert meta["uid"] and meta["creationTimestamp"]
    assert store.get("Workload", "default", "photos-thumbnail") == created


def test_create_of_an_existing_name_is_a_conflict(store):
    store.create(workload())
    with pytest.raises(Conflict, match="already exists"):
        store.create(workload())


def test_get_of_a_missing_object_is_not_found(store):
    with pytest.raises(NotFound):
        store.get("Workload", "default", "nothing")


def test_replace_with_the_read_version_moves_version_and_generation(store):
    created = store.create(workload())
    changed = workload(max_replicas=20)
    updated = store.replace(changed, created["metadata"]["resourceVersion"])
    assert updated["spec"]["maxReplicas"] == 20
    assert (updated["metadata"]["resourceVersion"], updated["metadata"]["generation"]) == ("2", 2)


def test_generation_moves_only_when_the_spec_changes(store):
    created = store.create(workload())
    relabelled = workload(labels={"team": "photos"})
    updated = store.replace(relabelled, created["metadata"]["resourceVersion"])
    assert updated["metadata"]["labels"] == {"team": "photos"}
    assert (updated["metadata"]["resourceVersion"], updated["metadata"]["generation"]) == ("2", 1)


def test_replace_with_a_stale_version_is_a_conflict_and_writes_nothing(store):
    store.create(workload())
    store.replace(workload(max_replicas=20), "1")
    with pytest.raises(Conflict, match="resourceVersion is now 2"):
        store.replace(workload(max_replicas=30), "1")
    assert store.get("Workload", "default", "photos-thumbnail")["spec"]["maxReplicas"] == 20


def test_two_updates_from_the_same_version_exactly_one_wins(store):
    # Both writers read version 1, then both write. moto applies requests from threads without a lock, so the
    # interleaving is made explicit here; DynamoDB evaluates each condition atomically with its write.
    read = store.create(workload())
    store.replace(workload(max_replicas=20), read["metadata"]["resourceVersion"])
    with pytest.raises(Conflict):
        store.replace(workload(max_replicas=30), read["metadata"]["resourceVersion"])
    assert store.get("Workload", "default", "photos-thumbnail")["spec"]["maxReplicas"] == 20


def test_status_write_never_touches_spec_and_spec_write_never_touches_status(store):
    created = store.create(workload())
    with_status = store.update_status("Workload", "default", "photos-thumbnail", {"replicas": 3})
    assert with_status["spec"] == created["spec"]
    assert with_status["metadata"]["generation"] == 1
    replaced = store.replace(workload(max_replicas=20), with_status["metadata"]["resourceVersion"])
    assert replaced["status"] == {"replicas": 3}


def test_writes_from_a_read_object_return_what_a_read_returns_after_them(store):
    # Given the object they start from, writes ask DynamoDB only for what changed and merge it into that object.
    read = store.create(workload())
    with_status = store.update_status("Workload", "default", "photos-thumbnail", {"replicas": 3}, current=read)
    assert with_status == store.get("Workload", "default", "photos-thumbnail")
    assert with_status["metadata"]["resourceVersion"] == "2" and with_status["status"] == {"replicas": 3}
    same_status = store.update_status("Workload", "default", "photos-thumbnail", {"replicas": 3}, current=with_status)
    assert same_status == store.get("Workload", "default", "photos-thumbnail")
    relabelled = workload(labels={"team": "photos"}, max_replicas=20)
    replaced = store.replace(relabelled, None, current=same_status)
    assert replaced == store.get("Workload", "default", "photos-thumbnail")
    assert (replaced["metadata"]["generation"], replaced["metadata"]["labels"]) == (2, {"team": "photos"})
    unchanged_spec = store.replace(relabelled, None, current=replaced)
    assert unchanged_spec == store.get("Workload", "default", "photos-thumbnail")
    assert unchanged_spec["metadata"]["generation"] == 2


def test_status_write_from_a_stale_read_is_a_conflict(store):
    read = store.create(workload())
    store.replace(workload(max_replicas=20), "1")
    with pytest.raises(Conflict):
        store.update_status("Workload", "default", "photos-thumbnail", {"replicas": 3}, current=read)


def test_status_write_with_a_stale_version_is_a_conflict(store):
    store.create(workload())
    store.replace(workload(max_replicas=20), "1")
    with pytest.raises(Conflict):
        store.update_status("Workload", "default", "photos-thumbnail", {"replicas": 3}, resource_version="1")


def test_status_write_of_a_missing_object_is_not_found(store):
    with pytest.raises(NotFound):
        store.update_status("Workload", "default", "gone", {"replicas": 3})


def test_delete_checks_the_version_and_then_the_object_is_gone(store):
    store.create(workload())
    with pytest.raises(Conflict):
        store.delete("Workload", "default", "photos-thumbnail", resource_version="7")
    store.delete("Workload", "default", "photos-thumbnail", resource_version="1")
    with pytest.raises(NotFound):
        store.get("Workload", "default", "photos-thumbnail")
    with pytest.raises(NotFound):
        store.delete("Workload", "default", "photos-thumbnail")


def test_list_pages_through_every_object_once(store):
    names = [f"w{i:02d}" for i in range(7)]
    for name in names:
        store.create(workload(name))
    seen, token = [], None
    while True:
        page, token = store.list("Workload", "default", limit=3, continue_token=token)
        assert len(page) <= 3
        seen += [o["metadata"]["name"] for o in page]
        if not token:
            break
    assert seen == names


def test_list_filters_by_labels_including_dotted_keys(store):
    store.create(workload("a", {"team": "photos", "app.kubernetes.io/name": "thumb"}))
    store.create(workload("b", {"team": "photos"}))
    store.create(workload("c", {"team": "video"}))
    photos, _ = store.list("Workload", "default", labels={"team": "photos"})
    assert [o["metadata"]["name"] for o in photos] == ["a", "b"]
    thumbs, _ = store.list("Workload", "default", labels={"app.kubernetes.io/name": "thumb"})
    assert [o["metadata"]["name"] for o in thumbs] == ["a"]


def test_list_is_scoped_to_kind_and_namespace(store):
    store.create(workload("a"))
    other = workload("a")
    other["metadata"]["namespace"] = "other"
    store.create(other)
    assert [o["metadata"]["namespace"] for o in store.list("Workload", "other")[0]] == ["other"]
    assert store.list("NodePool", "default")[0] == []


def test_a_forged_continue_token_is_refused(store):
    with pytest.raises(Conflict, match="continue token"):
        store.list("Workload", "default", continue_token="bm90LWpzb24=")


def test_events_are_listed_newest_first_per_involved_object_and_expire(store, stack):
    def event(name, minute):
        return Event("Normal", "SuccessfulRescale", f"New size: {minute}", "Workload", name, NOW + timedelta(minutes=minute)).to_dict()

    store.record_events("default", [event("a", 1), event("a", 2), event("b", 3), event("ab", 4)], ttl_s=3600)
    for_a = store.list_events("default", "Workload", "a")
    assert [e["message"] for e in for_a] == ["New size: 2", "New size: 1"]
    assert len(store.list_events("default")) == 4
    import boto3

    items = boto3.resource("dynamodb").Table(stack["TableName"]).scan()["Items"]
    ttls = sorted(int(i["expiresAt"]) for i in items if "expiresAt" in i)
    assert ttls[0] == int((NOW + timedelta(minutes=1)).timestamp()) + 3600


def test_one_objects_newest_events_are_read_as_one_page_backwards(store):
    many = [Event("Warning", "FailedGetScale", f"tick {m}", "Workload", "a", NOW + timedelta(seconds=15 * m)).to_dict()
            for m in range(60)]
    store.record_events("default", many + [Event("Normal", "X", "other", "Workload", "b", NOW).to_dict()], ttl_s=3600)
    read = []
    client = store._table.meta.client
    client.meta.events.register("after-call.dynamodb.Query", lambda parsed, **_: read.append(parsed["Count"]))
    newest = store.list_events("default", "Workload", "a", limit=5)
    assert [e["message"] for e in newest] == [f"tick {m}" for m in (59, 58, 57, 56, 55)]
    assert read == [5]


def test_lease_is_exclusive_until_it_expires(store):
    store.acquire_lease("controller", "one", ttl_s=30, now=NOW)
    with pytest.raises(LeaseHeld):
        store.acquire_lease("controller", "two", ttl_s=30, now=NOW + timedelta(seconds=10))
    store.acquire_lease("controller", "one", ttl_s=30, now=NOW + timedelta(seconds=20))  # renewal
    with pytest.raises(LeaseHeld):
        store.acquire_lease("controller", "two", ttl_s=30, now=NOW + timedelta(seconds=40))
    store.acquire_lease("controller", "two", ttl_s=30, now=NOW + timedelta(seconds=51))  # holder one died
    assert store.lease_holder("controller")["holder"] == "two"


def test_release_lets_the_next_contender_in_and_never_frees_someone_elses_lease(store):
    store.acquire_lease("controller", "one", ttl_s=30, now=NOW)
    store.release_lease("controller", "two")
    assert store.lease_holder("controller")["holder"] == "one"
    store.release_lease("controller", "one")
    store.acquire_lease("controller", "two", ttl_s=30, now=NOW)
    assert store.lease_holder("controller")["holder"] == "two"


def test_contenders_that_saw_the_lease_free_never_both_hold_it(store):
    seen_free = [store.lease_holder("controller") for _ in range(8)]
    assert seen_free == [None] * 8
    winners = []
    for holder in (f"h{i}" for i in range(8)):
        try:
            store.acquire_lease("controller", holder, ttl_s=30, now=NOW)
            winners.append(holder)
        except LeaseHeld:
            pass
    assert winners == ["h0"]
    assert store.lease_holder("controller")["holder"] == "h0"


def test_a_wake_request_reaches_the_holder_and_survives_its_renewal(store):
    assert store.request_wake("controller", NOW) is False
    store.acquire_lease("controller", "one", ttl_s=30, now=NOW)
    assert store.request_wake("controller", NOW + timedelta(seconds=5)) is True
    store.acquire_lease("controller", "one", ttl_s=30, now=NOW + timedelta(seconds=6))
    assert store.lease_holder("controller")["wake"] == (NOW + timedelta(seconds=5)).timestamp()


def test_a_release_unless_woken_keeps_the_lease_for_a_wake_newer_than_the_tick(store):
    store.acquire_lease("controller", "one", ttl_s=30, now=NOW)
    assert store.release_lease("controller", "one", unless_woken_after=NOW) is True  # no wake at all
    store.acquire_lease("controller", "one", ttl_s=30, now=NOW)
    store.request_wake("controller", NOW + timedelta(seconds=1))
    assert store.release_lease("controller", "one", unless_woken_after=NOW + timedelta(seconds=1)) is True  # seen
    store.acquire_lease("controller", "one", ttl_s=30, now=NOW)
    store.request_wake("controller", NOW + timedelta(seconds=3))
    assert store.release_lease("controller", "one", unless_woken_after=NOW + timedelta(seconds=2)) is False
    assert store.lease_holder("controller")["holder"] == "one"
    store.acquire_lease("controller", "two", ttl_s=30, now=NOW + timedelta(seconds=60))  # one's lease expired
    assert store.release_lease("controller", "one", unless_woken_after=NOW) is True  # not one's to keep any more
    assert store.lease_holder("controller")["holder"] == "two"


def test_racing_contenders_never_both_hold_the_lease(store):
    barrier = threading.Barrier(8)
    winners = []

    def contend(holder):
        barrier.wait()
        try:
            store.acquire_lease("controller", holder, ttl_s=30, now=NOW)
            winners.append(holder)
        except LeaseHeld:
            pass

    threads = [threading.Thread(target=contend, args=(f"h{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(winners) == 1
    assert store.lease_holder("controller")["holder"] == winners[0]


# ---- throughput statistics ------------------------------------------------------------------------------------------


def test_counters_add_up_per_minute_and_the_stamp_is_not_a_counter(store):
    store.add_stats("thumbs", NOW + timedelta(seconds=5), {"arrived": 2}, stamp="lastArrivalAt")
    store.add_stats("thumbs", NOW + timedelta(seconds=40), {"arrived": 3, "done": 1}, stamp="lastArrivalAt")
    assert store.read_stats("thumbs", NOW) == [{"minute": NOW.isoformat(), "arrived": 5, "done": 1,
                                                "lastArrivalAt": (NOW + timedelta(seconds=40)).isoformat()}]


def test_recent_stats_reads_this_minute_and_the_last_for_many_workloads_in_batches(store):
    # 120 workloads over two namespaces, 240 keys: three BatchGetItem calls of at most 100.
    refs = [("default" if i % 2 else "team-a", f"w{i}") for i in range(120)]
    for i, (namespace, name) in enumerate(refs):
        if i % 3 == 0:
            store.add_stats(name, NOW - timedelta(seconds=30), {"arrived": 1}, stamp="lastArrivalAt", namespace=namespace)
        if i % 3 == 1:
            store.add_stats(name, NOW - timedelta(seconds=30), {"arrived": 1}, stamp="lastArrivalAt", namespace=namespace)
            store.add_stats(name, NOW + timedelta(seconds=10), {"done": 2, "busyMs": 1500}, namespace=namespace)
    store.add_stats("w2", NOW - timedelta(minutes=5), {"arrived": 1}, stamp="lastArrivalAt")  # older: not read
    calls = []
    store._table.meta.client.meta.events.register("before-call.dynamodb.BatchGetItem", lambda **_: calls.append(1))
    found = store.recent_stats(refs, NOW + timedelta(seconds=20))
    assert len(calls) == 3
    before = (NOW - timedelta(minutes=1)).isoformat()
    stamp = (NOW - timedelta(seconds=30)).isoformat()
    assert found == {**{r: [{"minute": before, "arrived": 1, "lastArrivalAt": stamp}]
                        for i, r in enumerate(refs) if i % 3 == 0},
                     **{r: [{"minute": before, "arrived": 1, "lastArrivalAt": stamp},
                            {"minute": NOW.isoformat(), "done": 2, "busyMs": 1500}]
                        for i, r in enumerate(refs) if i % 3 == 1}}


def test_a_workloads_stats_are_its_namespaces_alone(store):
    store.add_stats("thumbs", NOW, {"arrived": 2})
    store.add_stats("thumbs", NOW, {"arrived": 7}, namespace="team-a")
    assert [b["arrived"] for b in store.read_stats("thumbs", NOW)] == [2]
    assert [b["arrived"] for b in store.read_stats("thumbs", NOW, namespace="team-a")] == [7]
    found = store.recent_stats([("default", "thumbs"), ("team-a", "thumbs")], NOW)
    assert {ref: buckets[0]["arrived"] for ref, buckets in found.items()} == {("default", "thumbs"): 2,
                                                                            ("team-a", "thumbs"): 7}


def _in(namespace, manifest):
    manifest["metadata"]["namespace"] = namespace
    return manifest


def test_one_query_lists_a_kind_in_every_namespace_and_a_prefix_lists_one(store):
    for namespace, name in (("default", "a"), ("team", "b"), ("team-a", "c"), ("team-a", "d")):
        store.create(_in(namespace, workload(name)))
    calls = []
    store._table.meta.client.meta.events.register("before-call.dynamodb.Query", lambda **_: calls.append(1))
    everywhere = store.list_all("Workload", None)
    assert len(calls) == 1
    assert sorted((w["metadata"]["namespace"], w["metadata"]["name"]) for w in everywhere) == [
        ("default", "a"), ("team", "b"), ("team-a", "c"), ("team-a", "d")]
    # "team" is a prefix of "team-a" as a string, never as a namespace.
    assert [w["metadata"]["name"] for w in store.list_all("Workload", "team")] == ["b"]
    assert [w["metadata"]["name"] for w in store.list("Workload", "team-a")[0]] == ["c", "d"]
    assert store.get("Workload", "team-a", "c")["metadata"]["namespace"] == "team-a"
    with pytest.raises(NotFound):
        store.get("Workload", "team", "c")


def test_a_continue_token_of_another_namespace_is_refused(store):
    for name in ("a", "b", "c"):
        store.create(_in("team-a", workload(name)))
    _, token = store.list("Workload", "team-a", limit=1)
    with pytest.raises(Conflict, match="continue token"):
        store.list("Workload", "team", continue_token=token)


def test_jobs_are_listed_one_namespace_at_a_time(store):
    with pytest.raises(ValueError):
        store.list_all("Job", None)


def test_events_go_to_their_objects_namespace(store):
    events = [Event("Normal", "SuccessfulRescale", "New size: 2", "Workload", "w", NOW, (), namespace).to_dict()
              for namespace in ("team-a", "team-b")]
    store.record_events("default", events, 3600)
    assert [e["involvedObject"]["namespace"] for e in store.list_events("team-a")] == ["team-a"]
    assert [e["involvedObject"]["namespace"] for e in store.list_events("team-b")] == ["team-b"]
    assert store.list_events("default") == []


def test_objects_stored_under_the_old_keys_are_moved_once_and_keep_everything(store):
    table = store._table
    for namespace, name in (("default", "old"), ("team-a", "older")):
        table.put_item(Item={"pk": f"Workload#{namespace}", "sk": name, "rv": 4, "gen": 2, "uid": f"uid-{name}",
                             "created": NOW.isoformat(), "labels": {"app": "photos"},
                             "spec": '{"maxReplicas": 3}', "status": '{"desiredReplicas": 2}'})
    table.put_item(Item={"pk": "Job#default", "sk": "job-1", "rv": 1})  # another kind: untouched
    assert store.migrate_namespaced_keys() == 2
    assert store.migrate_namespaced_keys() == 0
    moved = store.get("Workload", "team-a", "older")
    assert (moved["metadata"]["resourceVersion"], moved["metadata"]["generation"], moved["metadata"]["uid"]) == (
        "4", 2, "uid-older")
    assert moved["spec"] == {"maxReplicas": 3} and moved["status"] == {"desiredReplicas": 2}
    assert sorted(i["pk"] for i in table.scan()["Items"]) == ["Job#default", "Workload", "Workload"]
