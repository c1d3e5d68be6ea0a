"""The spec editor's YAML: the manifest a user may write, the edit as the API's JSON, and a refused field's line."""
import json

import pytest

from ballast.console import manifests

EDIT = """\
apiVersion: ballast.io/v1
kind: Workload
metadata:
  name: photos-thumbnail
  resourceVersion: '7'
spec:
  minReplicas: 0
  maxReplicas: 4
  metrics:
  - type: Backlog
    backlog:
      targetPerReplica: 5
  - type: Deadline
    deadline: {seconds: 600}
"""


@pytest.mark.parametrize("field, line", [
    pytest.param("spec.maxReplicas", 8, id="a-field"),
    pytest.param("spec.metrics[0].backlog.targetPerReplica", 12, id="inside-a-list-item"),
    pytest.param("spec.metrics[1].deadline.seconds", 14, id="in-flow-style"),
    pytest.param("spec.metrics[1]", 13, id="a-list-item"),
    pytest.param("spec.target", 6, id="a-missing-required-field-points-at-its-parent"),
    pytest.param("spec.metrics[5].type", 9, id="an-index-past-the-list-points-at-the-list"),
    pytest.param("body", None, id="the-whole-body"),
])
def test_the_line_of_the_field_the_api_names(field, line):
    assert manifests.line_of(EDIT, field) == line


def test_an_edit_becomes_the_apis_json_with_yaml_times_as_written():
    body = json.loads(manifests.to_json(EDIT + "  note: 2026-11-30\n"))
    assert body["metadata"]["resourceVersion"] == "7" and body["spec"]["metrics"][0]["backlog"]["targetPerReplica"] == 5
    assert body["spec"]["note"] == "2026-11-30"


@pytest.mark.parametrize("text, line, words", [
    pytest.param("spec:\n  maxReplicas: 4\n minReplicas: 0\n", 3, "expected", id="bad-indentation"),
    pytest.param("spec: [1, 2\n", 2, "expected", id="an-unclosed-list"),
    pytest.param("- just\n- a list\n", 1, "mapping", id="not-a-manifest"),
    pytest.param("a: 1\n---\nb: 2\n", 2, "single document", id="two-documents"),
])
def test_an_edit_that_is_not_one_yaml_mapping_says_where(text, line, words):
    with pytest.raises(manifests.YamlError) as raised:
        manifests.to_json(text)
    assert raised.value.line == line and words in str(raised.value)


def test_the_editable_manifest_leaves_out_status_and_the_servers_fields():
    stored = {"apiVersion": "ballast.io/v1", "kind": "Workload", "spec": {"maxReplicas": 4}, "status": {"samples": [[1, 2]]},
              "metadata": {"name": "w", "namespace": "default", "labels": {}, "resourceVersion": "3", "uid": "u",
                           "generation": 2, "creationTimestamp": "2026-01-01T00:00:00+00:00"}}
    assert manifests.editable(stored) == {"apiVersion": "ballast.io/v1", "kind": "Workload", "spec": {"maxReplicas": 4},
                                          "metadata": {"name": "w", "namespace": "default", "labels": {}}}


def test_the_fingerprint_moves_with_the_spec_and_labels_and_not_with_status_or_the_version():
    stored = {"spec": {"maxReplicas": 4}, "status": {"desiredReplicas": 1}, "metadata": {"labels": {"a": "b"}, "resourceVersion": "3"}}
    same = {**stored, "status": {"desiredReplicas": 2}, "metadata": {"labels": {"a": "b"}, "resourceVersion": "9"}}
    assert manifests.fingerprint(same) == manifests.fingerprint(stored)
    assert manifests.fingerprint({**stored, "spec": {"maxReplicas": 5}}) != manifests.fingerprint(stored)
    assert manifests.fingerprint({**stored, "metadata": {"labels": {}}}) != manifests.fingerprint(stored)
