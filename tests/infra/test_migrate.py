"""`python -m infra.migrate` (infra/migrate.py) on moto: objects of the old keys moved, objects stored before ownership
claims given theirs, targets shared from before named, and the API's one-owner check holding for all of them after."""
import json

import pytest

from chalicelib.spec import parse_spec
from infra import migrate


def _workload(name: str, service: str, namespace: str = "default") -> dict:
    manifest = parse_spec("Workload", {"metadata": {"name": name}, "spec": {
        "target": {"kind": "ECSService", "cluster": "ballast-dev", "service": service}, "maxReplicas": 3}})
    manifest["metadata"]["namespace"] = namespace
    return manifest


def _old_key_item(manifest: dict) -> dict:
    """A Workload as the version before every namespace stored it: a partition per namespace, no claim."""
    meta = manifest["metadata"]
    return {"pk": f"Workload#{meta['namespace']}", "sk": meta["name"], "rv": 3, "gen": 1, "uid": f"uid-{meta['name']}",
            "created": "2026-11-01T00:00:00+00:00", "labels": {}, "annotations": "{}",
            "spec": json.dumps(manifest["spec"], sort_keys=True), "status": "{}"}


@pytest.fixture
def stored_before_claims(store):
    store._table.put_item(Item=_old_key_item(_workload("watermark", "watermark", "team-a")))
    for manifest in (_workload("thumbnail", "thumbnail"), _workload("x", "shared"), _workload("y", "shared", "team-b")):
        store.create(manifest)  # no claims, as every write before the check
    store.create(parse_spec("NodePool", {"metadata": {"name": "general"}, "spec": {
        "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-general"},
        "instance": {"cpuMillicores": 2000, "memoryMiB": 4096}, "maxNodes": 4}}))
    return store


def test_moves_old_keys_claims_for_objects_from_before_and_names_the_shared(stored_before_claims, capsys):
    assert migrate.main(["--stage", "dev"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == ("1 objects moved to the key scheme that lists every namespace; 4 claims taken for objects "
                        "stored before claims existed")
    assert lines[1:] == ["  Workload team-b/y shares ECSService/ballast-dev/shared with Workload default/x: neither is "
                         "scaled until one is deleted or retargeted"]
    store = stored_before_claims
    assert store.get("Workload", "team-a", "watermark")["metadata"]["resourceVersion"] == "3"
    owners = {claim: store.owner_of(claim)["name"] for claim in (
        "ECSService/ballast-dev/watermark", "ECSService/ballast-dev/thumbnail", "ECSService/ballast-dev/shared",
        "AutoScalingGroup/ballast-dev-general")}
    assert owners == {"ECSService/ballast-dev/watermark": "watermark", "ECSService/ballast-dev/thumbnail": "thumbnail",
                      "ECSService/ballast-dev/shared": "x", "AutoScalingGroup/ballast-dev-general": "general"}
    assert migrate.main(["--stage", "dev"]) == 0  # a second run moves and claims nothing
    assert capsys.readouterr().out.startswith("0 objects moved to the key scheme that lists every namespace; 0 claims")


def test_after_the_migration_a_second_owner_of_an_old_target_is_refused(stored_before_claims, client):
    assert migrate.main(["--stage", "dev"]) == 0
    response = client.http.post("/workloads?namespace=team-c", headers={"Content-Type": "application/json"},
                                body=json.dumps(_workload("copy", "watermark", "team-c")))
    assert response.status_code == 409
    assert "already managed by Workload team-a/watermark" in json.loads(response.body)["message"]


def test_an_object_whose_name_was_taken_since_the_upgrade_stays_put_and_is_named(store, capsys):
    old = _workload("thumbnail", "thumbnail", "team-a")
    store._table.put_item(Item=_old_key_item(old))
    store.create(_workload("thumbnail", "other", "team-a"))  # created through the new version before the migration
    assert migrate.main(["--stage", "dev"]) == 1
    assert ("migrate: Workload team-a/thumbnail stays under its old key: a Workload of that name was created since "
            "the upgrade; delete that one (ballast delete workload thumbnail -n team-a) and run again to move this "
            "one") in capsys.readouterr().err
    store.delete("Workload", "team-a", "thumbnail")
    assert migrate.main(["--stage", "dev"]) == 0
    assert store.get("Workload", "team-a", "thumbnail")["spec"]["target"]["service"] == "thumbnail"
