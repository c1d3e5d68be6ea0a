"""HPAs and ScaledObjects from the Kubernetes and KEDA docs into Workloads: without loss, or with every loss named."""
import json
from pathlib import Path

import pytest

from ballast.manifests import documents, leave as leave_as
from ballast.manifests.findings import BLOCKING, MAPPED, NOTE, REFUSED
from ballast.manifests.kubernetes import ORIGINAL, Context
from ballast.manifests.translate import translate
from chalicelib.spec import parse_spec

FIXTURES = Path(__file__).parent / "fixtures"
CONTEXT = Context(default_cluster="prod")  # as $BALLAST_CLUSTER gives it


def translated(name, context=CONTEXT):
    (document,) = documents.load(str(FIXTURES / name))
    return document, translate(document, context)


@pytest.mark.parametrize("name, blocked", [
    ("hpa/php-apache.yaml", set()),
    ("hpa/autoscale-v1.yaml", set()),
    ("hpa/behavior.yaml", set()),
    ("hpa/kubectl-get.yaml", set()),
    ("hpa/sqs-on-ecs.json", set()),
    ("hpa/multiple-metrics.yaml", {"spec.metrics[2]"}),  # the Object metric names no CloudWatch namespace
    ("hpa/multiple-metrics-cloudwatch.yaml", set()),
    ("hpa/queue-age.yaml", set()),
    ("hpa/external-queue.yaml", {"spec.metrics[0]"}),
    ("hpa/tolerance.yaml", set()),
    ("hpa/tolerance-blog.yaml", set()),
    ("hpa/container-resource.yaml", set()),
    ("hpa/container-resource-ecs.json", set()),
    ("hpa/statefulset.yaml", {"spec.scaleTargetRef"}),
    ("scaledobject/sqs.yaml", set()),
    ("scaledobject/sqs-pod-identity.yaml", set()),
    ("scaledobject/sqs-visible-only.yaml", set()),
    ("scaledobject/cpu-memory.yaml", set()),
    ("scaledobject/cpu-container.yaml", set()),
    ("scaledobject/paused.yaml", set()),
    ("scaledobject/paused-both.yaml", set()),
    ("scaledobject/idle.yaml", set()),
    ("scaledobject/full-spec.yaml", {"spec.fallback"}),
    ("scaledobject/in-flight-off.yaml", set()),
    ("scaledobject/cloudwatch.yaml", {"spec.triggers[0].metadata.minMetricValue"}),
    ("scaledobject/kafka.yaml", {"spec.triggers[0]"}),
    ("scaledobject/paused-scale-in.yaml", set()),
])
def test_each_fixture_translates_or_names_every_field_it_cannot_honour(name, blocked):
    document, translation = translated(name)
    assert {f.path for f in translation.blocking} == blocked, [f.line() for f in translation.findings]
    assert all(f.message for f in translation.findings)
    if not blocked:
        parse_spec("Workload", translation.workload)  # what the API server would accept, defaults and all


@pytest.mark.parametrize("name", sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.is_file()))
def test_no_field_of_a_fixture_goes_unmentioned(name):
    document, translation = translated(name)
    reported = [f.path.split(" ")[0] for f in translation.findings]
    for leaf in leaves(document.body):
        if leaf in ("apiVersion", "kind") or leaf.startswith("status"):
            continue
        assert any(leaf == p or leaf.startswith(p + ".") or leaf.startswith(p + "[") for p in reported), leaf


def leaves(value, path=""):
    if path.endswith(".annotations") and isinstance(value, dict):
        return [f"{path}[{key}]" for key in value]
    if isinstance(value, dict) and value and not path.endswith(("labels", "matchLabels")):
        return [leaf for key, item in value.items() for leaf in leaves(item, f"{path}.{key}" if path else key)]
    if isinstance(value, list) and value:
        return [leaf for index, item in enumerate(value) for leaf in leaves(item, f"{path}[{index}]")]
    return [path]


@pytest.mark.parametrize("name, leave", [
    ("hpa/php-apache.yaml", "hpa"), ("hpa/autoscale-v1.yaml", "hpa"), ("hpa/behavior.yaml", "hpa"),
    ("hpa/sqs-on-ecs.json", "hpa"), ("hpa/kubectl-get.yaml", "hpa"),
    ("scaledobject/sqs.yaml", "scaledobject"), ("scaledobject/sqs-pod-identity.yaml", "scaledobject"),
    ("scaledobject/cpu-memory.yaml", "scaledobject"), ("scaledobject/paused.yaml", "scaledobject"),
    ("hpa/multiple-metrics-cloudwatch.yaml", "hpa"), ("hpa/queue-age.yaml", "hpa"), ("hpa/tolerance.yaml", "hpa"),
    ("hpa/tolerance-blog.yaml", "hpa"), ("hpa/container-resource.yaml", "hpa"), ("hpa/container-resource-ecs.json", "hpa"),
    ("scaledobject/sqs-visible-only.yaml", "scaledobject"), ("scaledobject/in-flight-off.yaml", "scaledobject"),
    ("scaledobject/idle.yaml", "scaledobject"), ("scaledobject/cpu-container.yaml", "scaledobject"),
    ("scaledobject/paused-scale-in.yaml", "scaledobject"), ("scaledobject/paused-both.yaml", "scaledobject"),
])
def test_a_lossless_translation_goes_back_to_a_manifest_that_translates_to_the_same_workload(name, leave):
    _, translation = translated(name)
    stored = parse_spec("Workload", translation.workload)
    back, losses = (leave_as.to_hpa(stored) if leave == "hpa" else leave_as.to_scaledobject(stored, "eu-west-1"))
    assert not [loss for loss in losses if "dropped" in loss or "lost" in loss], losses
    again = translate(documents.Document("back", back), CONTEXT)
    assert not again.blocking, [f.line() for f in again.findings]
    assert parse_spec("Workload", again.workload)["spec"] == stored["spec"]


def test_the_workload_keeps_the_original_without_status_or_server_fields():
    document, translation = translated("hpa/kubectl-get.yaml")
    original = json.loads(translation.workload["metadata"]["annotations"][ORIGINAL])
    assert "status" not in original and "uid" not in original["metadata"]
    assert original["spec"] == document.body["spec"]
    assert translation.workload["metadata"]["annotations"]["team"] == "web"
    assert "kubectl.kubernetes.io/last-applied-configuration" not in translation.workload["metadata"]["annotations"]


def test_harmless_fields_are_notes_and_the_translation_says_where_each_field_went():
    _, translation = translated("scaledobject/sqs.yaml")
    notes = {f.path for f in translation.findings if f.kind == NOTE}
    assert {"spec.triggers[0].authenticationRef", "spec.triggers[0].metadata.awsRegion"} <= notes
    spec = translation.workload["spec"]
    assert spec["queue"] == {"name": "myQueue"}
    assert spec["metrics"] == [{"type": "Backlog", "backlog": {"targetPerReplica": 5, "activationThreshold": 0}}]
    assert (spec["minReplicas"], spec["maxReplicas"], spec["cooldownSeconds"]) == (0, 100, 300)  # KEDA's defaults
    assert spec["target"] == {"kind": "Deployment", "cluster": "prod", "namespace": "default", "name": "nginx-deployment"}
    assert any(f.kind == MAPPED and f.path == "spec.minReplicaCount (unset)" for f in translation.findings)


def test_a_queue_in_another_region_than_the_controllers_is_refused():
    _, translation = translated("scaledobject/sqs.yaml", Context(default_cluster="prod", region="us-east-1"))
    assert [f.path for f in translation.blocking] == ["spec.triggers[0].metadata.awsRegion"]


@pytest.mark.parametrize("name, spec", [
    ("scaledobject/sqs-pod-identity.yaml", {"queue": {"name": "orders", "scaleOnDelayed": True}, "cooldownSeconds": 120,
                                            "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 10, "activationThreshold": 2}}]}),
    ("scaledobject/paused.yaml", {"replicas": 2, "target": {"kind": "Deployment", "cluster": "analytics",
                                                            "namespace": "default", "name": "nightly-export"}}),
    ("scaledobject/cpu-memory.yaml", {"metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 50}}},
        {"type": "Resource", "resource": {"name": "memory", "target": {"type": "AverageValue", "averageValue": 512}}}]}),
    ("hpa/multiple-metrics.yaml", {"metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": 500}}},
        {"type": "Pods", "pods": {"metric": {"name": "packets-per-second"},  # Container Insights', for the target
                                  "target": {"type": "AverageValue", "averageValue": 1000}}}]}),
    ("hpa/sqs-on-ecs.json", {"target": {"kind": "ECSService", "cluster": "media", "service": "resizer", "launchType": "EC2"},
                             "nodePools": ["general"], "minReplicas": 0, "metrics": [{"type": "External", "external": {
                                 "metric": {"namespace": "AWS/SQS", "name": "ApproximateNumberOfMessagesVisible",
                                            "statistic": "Maximum", "dimensions": {"QueueName": "resize-jobs"}},
                                 "target": {"type": "AverageValue", "averageValue": 20}}}]}),
    ("hpa/kubectl-get.yaml", {"target": {"kind": "Deployment", "cluster": "prod", "namespace": "web", "name": "frontend"}}),
])
def test_fields_land_where_ballast_reads_them(name, spec):
    _, translation = translated(name)
    assert {k: translation.workload["spec"][k] for k in spec} == spec


def test_without_a_cluster_the_translation_says_how_to_name_one(monkeypatch):
    monkeypatch.delenv("BALLAST_CLUSTER", raising=False)
    _, translation = translated("hpa/php-apache.yaml", Context.from_flags())
    (problem,) = translation.blocking
    assert problem.path == "spec.scaleTargetRef" and "--cluster" in problem.message and "BALLAST_CLUSTER" in problem.message
    monkeypatch.setenv("BALLAST_CLUSTER", "staging")
    assert translated("hpa/php-apache.yaml", Context.from_flags())[1].workload["spec"]["target"]["cluster"] == "staging"


@pytest.mark.parametrize("body, path, words", [
    ({"apiVersion": "autoscaling/v3", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"}}, "apiVersion",
     "autoscaling/v2 or autoscaling/v2beta2 or autoscaling/v1"),
    ({"apiVersion": "autoscaling/v2beta1", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "x"}}, "apiVersion", "kubectl convert"),
    ({"apiVersion": "ballast.io/v2", "kind": "Workload", "metadata": {"name": "x"}}, "apiVersion", "ballast.io/v1"),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "x"}}, "kind", "ScaledObject (keda.sh/v1alpha1)"),
    ({"kind": "Workload", "metadata": {}}, "metadata.name", "required"),
    ({"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "Bad_Name"}}, "metadata.name", "DNS-1123"),
])
def test_a_wrong_kind_version_or_name_is_named(body, path, words):
    translation = translate(documents.Document("test", body), CONTEXT)
    assert any(f.path == path and words in f.message for f in translation.blocking), [f.line() for f in translation.findings]


def test_every_unknown_field_is_named_with_its_path_not_only_the_first():
    body = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "x", "lables": {}},
            "spec": {"scaleTargetRef": {"name": "x"}, "maxReplicas": 3,
                     "triggers": [{"type": "aws-sqs-queue", "metadata": {"queueURL": "q", "queueLenght": "5"}}]}}
    unknown = {f.path for f in translate(documents.Document("test", body), CONTEXT).blocking}
    assert unknown == {"metadata.lables", "spec.maxReplicas", "spec.triggers[0].metadata.queueLenght"}


HPA = {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler", "metadata": {"name": "web"},
       "spec": {"scaleTargetRef": {"name": "web"}, "maxReplicas": 3, "metrics": [
           {"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "AverageValue", "averageValue": 5}}}]}}
SCALED_OBJECT = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject", "metadata": {"name": "web"},
                 "spec": {"scaleTargetRef": {"name": "web"}, "triggers": [{"type": "aws-sqs-queue", "metadata": {"queueURL": "q"}}]}}


@pytest.mark.parametrize("body, where, value, path", [
    pytest.param(HPA, ("metadata",), "web", "metadata", id="metadata-a-string"),
    pytest.param(HPA, ("metadata", "annotations"), ["a"], "metadata.annotations", id="annotations-a-list"),
    pytest.param(HPA, ("spec", "metrics"), {"type": "Pods"}, "spec.metrics", id="metrics-a-mapping"),
    pytest.param(HPA, ("spec", "metrics", 0, "type"), ["Pods"], "spec.metrics[0].type", id="type-a-list"),
    pytest.param(HPA, ("spec", "metrics", 0, "pods", "metric"), "rps", "spec.metrics[0].pods.metric", id="metric-a-string"),
    pytest.param(HPA, ("spec", "metrics", 0, "pods", "target"), 5, "spec.metrics[0].pods.target", id="target-a-number"),
    pytest.param(SCALED_OBJECT, ("spec", "triggers", 0, "metadata"), "q", "spec.triggers[0].metadata",
                 id="trigger-metadata-a-string"),
    pytest.param(SCALED_OBJECT, ("spec", "advanced"), ["x"], "spec.advanced", id="advanced-a-list"),
])
def test_a_field_of_the_wrong_kind_is_invalid_with_its_path_and_nothing_more_is_read(body, where, value, path):
    broken = json.loads(json.dumps(body))
    parent = broken
    for key in where[:-1]:
        parent = parent[key]
    parent[where[-1]] = value
    translation = translate(documents.Document("test", broken), CONTEXT)
    assert [(f.kind, f.path) for f in translation.blocking] == [("invalid", path)], [f.line() for f in translation.findings]
