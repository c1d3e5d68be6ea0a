"""The HPA and KEDA settings the decision core follows, in manifests: each translates as upstream reads it, goes back
to the manifest it came from, and is what the API server accepts."""
import json

import pytest

from ballast.manifests import documents, leave as leave_as
from ballast.manifests.findings import NOTE
from ballast.manifests.translate import translate
from chalicelib.spec import parse_spec
from tests.ballast.test_manifests import CONTEXT, FIXTURES, translated

TARGET = {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"}


def hpa(behavior=None, metrics=None, annotations=None):
    spec = {"scaleTargetRef": TARGET, "maxReplicas": 10, **({"metrics": metrics} if metrics else {}),
            **({"behavior": behavior} if behavior else {})}
    return translate(documents.Document("test", {"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
                                                 "metadata": {"name": "web", "annotations": annotations or {}},
                                                 "spec": spec}), CONTEXT)


def scaled_object(annotations=None, trigger_metadata=None, **spec):
    metadata = {"queueURL": "jobs", **(trigger_metadata or {})}
    return translate(documents.Document("test", {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledObject",
                                                 "metadata": {"name": "web", "annotations": annotations or {}},
                                                 "spec": {"scaleTargetRef": {"name": "web"}, **spec, "triggers": [
                                                     {"type": "aws-sqs-queue", "metadata": metadata}]}}), CONTEXT)


def blocked(translation) -> set[str]:
    return {f.path for f in translation.blocking}


@pytest.mark.parametrize("tolerance, want", [  # KEP-4951: a resource.Quantity, at least zero
    pytest.param(0.05, 0.05, id="number"),
    pytest.param("0.05", 0.05, id="decimal-string"),
    pytest.param("50m", 0.05, id="milli-as-kubectl-get-writes-it"),
    pytest.param("5e-2", 0.05, id="exponent"),
    pytest.param(0, 0, id="zero-scale-on-any-change"),
    pytest.param("1", 1, id="one"),
])
def test_a_tolerance_is_read_as_the_quantity_kubernetes_takes(tolerance, want):
    translation = hpa(behavior={"scaleDown": {"tolerance": tolerance}})
    assert translation.workload["spec"]["behavior"]["scaleDown"]["tolerance"] == want


@pytest.mark.parametrize("tolerance", [pytest.param("-0.1", id="negative"), pytest.param("5%", id="percent"),
                                       pytest.param(True, id="bool")])
def test_a_tolerance_that_is_no_quantity_or_below_zero_is_invalid(tolerance):
    assert blocked(hpa(behavior={"scaleUp": {"tolerance": tolerance}})) == {"spec.behavior.scaleUp.tolerance"}


@pytest.mark.parametrize("name, spec", [
    ("hpa/tolerance-blog.yaml", {"behavior": {"scaleDown": {"tolerance": 0.05}, "scaleUp": {"tolerance": 0}}}),
    ("hpa/multiple-metrics-cloudwatch.yaml", {"metrics": [
        {"type": "Resource", "resource": {"name": "cpu", "target": {"type": "AverageValue", "averageValue": 500}}},
        {"type": "Pods", "pods": {"metric": {"name": "packets-per-second", "namespace": "Shop/Frontend",
                                             "dimensions": {"Deployment": "php-apache"}},
                                  "target": {"type": "AverageValue", "averageValue": 1000}}},
        {"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main-route"},
                                      "metric": {"namespace": "Shop/Frontend", "name": "requests-per-second"},
                                      "target": {"type": "Value", "value": 10000}}}]}),
    ("hpa/queue-age.yaml", {"metrics": [
        {"type": "Pods", "pods": {"metric": {"name": "pod_network_rx_bytes"},  # Container Insights, the target's series
                                  "target": {"type": "AverageValue", "averageValue": 2 * 2**20}}},
        {"type": "Object", "object": {"describedObject": {"kind": "QueueName", "name": "ingest-jobs"},
                                      "metric": {"namespace": "AWS/SQS", "name": "ApproximateAgeOfOldestMessage",
                                                 "statistic": "Maximum"},
                                      "target": {"type": "Value", "value": 300}}}]}),
    ("hpa/container-resource.yaml", {"metrics": [{"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "application", "target": {"type": "Utilization", "averageUtilization": 60}}}]}),
    # ECS counts CPU in 1024ths of a vCPU, and Container Insights reports an ECS container's use in them.
    ("hpa/container-resource-ecs.json", {"metrics": [
        {"type": "ContainerResource", "containerResource": {"name": "cpu", "container": "app", "target": {
            "type": "AverageValue", "averageValue": 512}}},
        {"type": "ContainerResource", "containerResource": {"name": "memory", "container": "envoy", "target": {
            "type": "AverageValue", "averageValue": 256}}}]}),
    ("scaledobject/sqs-visible-only.yaml", {"queue": {"name": "myQueue", "scaleOnInFlight": False}}),
    ("scaledobject/in-flight-off.yaml", {"queue": {"name": "mail", "scaleOnInFlight": False}}),
    ("scaledobject/idle.yaml", {"idleReplicas": 0, "minReplicas": 10, "maxReplicas": 100, "activation": "Paced",
                                "behavior": {"scaleDown": {"tolerance": 0.05}},
                                "metrics": [{"type": "Backlog", "backlog": {"targetPerReplica": 20, "activationThreshold": 3}}]}),
    ("scaledobject/cpu-container.yaml", {"metrics": [{"type": "ContainerResource", "containerResource": {
        "name": "cpu", "container": "foo", "target": {"type": "Utilization", "averageUtilization": 50}}}]}),
    ("scaledobject/paused-scale-in.yaml", {"pausedScaleIn": True}),
    ("scaledobject/paused-both.yaml", {"replicas": 0}),  # paused-replicas counts; paused beside it adds nothing
])
def test_the_settings_land_where_the_decision_core_reads_them(name, spec):
    _, translation = translated(name)
    assert {k: translation.workload["spec"].get(k) for k in spec} == spec


def test_a_scaledobject_activates_as_keda_does_and_says_how_to_choose_ballasts_way():
    # KEDA's executor: from rest to max(minReplicaCount, 1), then the HPA's policies (scaleFromZeroOrIdle).
    translation = scaled_object()
    assert translation.workload["spec"]["activation"] == "Paced"
    (line,) = [f.message for f in translation.findings if f.path == "spec.triggers (activation)"]
    assert "Sized" in line


@pytest.mark.parametrize("value, held", [  # KEDA's getBoolAnnotation: strconv.ParseBool, and true when it fails
    pytest.param("true", True, id="true"), pytest.param("True", True, id="True"), pytest.param("1", True, id="1"),
    pytest.param("false", None, id="false"), pytest.param("0", None, id="0"), pytest.param("F", None, id="F"),
    pytest.param("yes", True, id="not-a-bool-is-true"),
])
def test_pause_annotations_are_read_as_keda_reads_them(value, held):
    spec = scaled_object({"autoscaling.keda.sh/paused-scale-out": value}).workload["spec"]
    assert (spec.get("pausedScaleOut"), spec.get("pausedScaleIn")) == (held, None)


def test_paused_alone_holds_both_directions_at_the_current_count():
    spec = scaled_object({"autoscaling.keda.sh/paused": "true"}).workload["spec"]
    assert (spec["pausedScaleIn"], spec["pausedScaleOut"], spec.get("replicas")) == (True, True, None)


@pytest.mark.parametrize("spec, trigger_metadata, path", [
    # KEDA's CheckReplicaCountBoundsAreValid: an idle count at or above the minimum would never be idle.
    pytest.param({"idleReplicaCount": 1, "minReplicaCount": 1}, {}, "spec.idleReplicaCount", id="idle-at-min"),
    pytest.param({"idleReplicaCount": 0}, {}, "spec.idleReplicaCount", id="idle-at-keda-default-min-0"),
    pytest.param({"idleReplicaCount": -1, "minReplicaCount": 2}, {}, "spec.idleReplicaCount", id="idle-negative"),
    pytest.param({}, {"scaleOnInFlight": "maybe"}, "spec.triggers[0].metadata.scaleOnInFlight", id="in-flight-not-a-bool"),
])
def test_settings_keda_would_refuse_are_invalid_with_their_path(spec, trigger_metadata, path):
    assert blocked(scaled_object(trigger_metadata=trigger_metadata, **spec)) == {path}


@pytest.mark.parametrize("raw, counted", [  # the scaler's typed metadata: strconv.ParseBool
    pytest.param("false", False, id="false"), pytest.param(False, False, id="unquoted-false"),
    pytest.param("0", False, id="0"), pytest.param("true", True, id="true"), pytest.param("t", True, id="t"),
])
def test_scale_on_in_flight_is_read_as_the_sqs_scaler_reads_it(raw, counted):
    queue = scaled_object(trigger_metadata={"scaleOnInFlight": raw}).workload["spec"]["queue"]
    assert queue.get("scaleOnInFlight", True) is counted


def test_forced_activation_has_no_equivalent_and_is_refused_with_why():
    translation = scaled_object({"autoscaling.keda.sh/force-activation": "true"})
    (refused,) = translation.blocking
    assert refused.path == "metadata.annotations[autoscaling.keda.sh/force-activation]" and "minReplicas" in refused.message
    assert not scaled_object({"autoscaling.keda.sh/force-activation": "false"}).blocking


NAMESPACE = {"ballast.io/cloudwatch-namespace": "Shop/Web"}


@pytest.mark.parametrize("metric, annotations, path", [
    pytest.param({"type": "Pods", "pods": {"metric": {"name": "rps"}, "target": {"type": "Value", "value": 3}}}, {},
                 "spec.metrics[0].pods.target", id="pods-only-averagevalue"),  # upstream validation
    pytest.param({"type": "Pods", "pods": {"metric": {"name": "rps", "selector": {"matchExpressions": [
        {"key": "a", "operator": "In", "values": ["b"]}]}}, "target": {"type": "AverageValue", "averageValue": 3}}},
        NAMESPACE, "spec.metrics[0].pods.metric.selector.matchExpressions", id="pods-expressions"),
    pytest.param({"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main"}, "metric": {
        "name": "rps"}, "target": {"type": "Value", "value": 3}}}, {}, "spec.metrics[0]", id="object-no-namespace"),
    pytest.param({"type": "Object", "object": {"describedObject": {"kind": "Ingress"}, "metric": {"name": "rps"},
                                               "target": {"type": "Value", "value": 3}}}, NAMESPACE,
                 "spec.metrics[0].object.describedObject", id="object-no-name"),
    pytest.param({"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main"}, "metric": {
        "name": "rps", "selector": {"matchLabels": {"Ingress": "other"}}}, "target": {"type": "Value", "value": 3}}},
        NAMESPACE, "spec.metrics[0].object.metric.selector.matchLabels[Ingress]", id="object-dimension-twice"),
    pytest.param({"type": "Object", "object": {"describedObject": {"kind": "Ingress", "name": "main"}, "metric": {
        "name": "rps", "selector": {"matchLabels": {"ballast.io/statistic": "Median"}}},
        "target": {"type": "Value", "value": 3}}}, NAMESPACE,
        "spec.metrics[0].object.metric.selector.matchLabels[ballast.io/statistic]", id="statistic-cloudwatch-lacks"),
    pytest.param({"type": "ContainerResource", "containerResource": {"name": "cpu", "target": {
        "type": "Utilization", "averageUtilization": 60}}}, {}, "spec.metrics[0].containerResource.container",
        id="container-unnamed"),
    pytest.param({"type": "ContainerResource", "containerResource": {"name": "ephemeral-storage", "container": "app",
                                                                     "target": {"type": "Utilization", "averageUtilization": 60}}},
                 {}, "spec.metrics[0].containerResource.name", id="container-resource-ballast-does-not-read"),
])
def test_an_hpa_metric_without_an_equivalent_is_named_with_its_path(metric, annotations, path):
    assert blocked(hpa(metrics=[metric], annotations=annotations)) == {path}


def test_a_pods_metric_without_a_selector_says_it_reads_container_insights():
    translation = hpa(metrics=[{"type": "Pods", "pods": {"metric": {"name": "pod_cpu_utilization"},
                                                         "target": {"type": "AverageValue", "averageValue": "60"}}}],
                      annotations=NAMESPACE)  # the annotation is for metrics with a selector
    assert translation.workload["spec"]["metrics"][0]["pods"]["metric"] == {"name": "pod_cpu_utilization"}
    assert any(f.kind == NOTE and "Container Insights" in f.message for f in translation.findings)
    assert any(f.kind == NOTE and f.path == "metadata.annotations[ballast.io/cloudwatch-namespace]"
               for f in translation.findings)


def stored(name):
    return parse_spec("Workload", translated(name)[1].workload)


def test_the_way_back_writes_a_tolerance_as_kubernetes_does():
    back, _ = leave_as.to_hpa(stored("scaledobject/idle.yaml"))
    assert back["spec"]["behavior"]["scaleDown"]["tolerance"] == "50m"


def test_an_hpa_says_a_paused_direction_as_keda_does_and_names_an_idle_count_it_drops():
    back, losses = leave_as.to_hpa(stored("scaledobject/paused-scale-in.yaml"))
    assert back["spec"]["behavior"]["scaleDown"]["selectPolicy"] == "Disabled"
    assert back["spec"]["behavior"]["scaleUp"]["selectPolicy"] == "Max"
    assert any(loss.startswith("spec.pausedScaleIn") for loss in losses)
    _, losses = leave_as.to_hpa(stored("scaledobject/idle.yaml"))
    assert any(loss.startswith("spec.idleReplicas") and "dropped" in loss for loss in losses)


def test_a_scaledobject_reads_pods_and_object_metrics_as_cloudwatch_triggers_on_the_same_series():
    back, losses = leave_as.to_scaledobject(stored("hpa/queue-age.yaml"), "us-east-1")
    pods, queue_age = back["spec"]["triggers"]
    # A Pods metric's per-task average is the HPA's Value arithmetic: its ratio times the ready replicas.
    assert (pods["metricType"], pods["metadata"]["namespace"], pods["metadata"]["targetMetricValue"]) == \
        ("Value", "ContainerInsights", "2097152")
    assert dict(zip(pods["metadata"]["dimensionName"].split(";"), pods["metadata"]["dimensionValue"].split(";"))) == \
        {"ClusterName": "prod", "Namespace": "media", "PodName": "ingest"}
    assert (queue_age["metricType"], queue_age["metadata"]["dimensionName"], queue_age["metadata"]["metricStat"]) == \
        ("Value", "QueueName", "Maximum")
    assert not [loss for loss in losses if "dropped" in loss]
    again = translate(documents.Document("back", back), CONTEXT)
    assert not again.blocking, [f.line() for f in again.findings]


def test_what_only_ballast_says_is_named_on_the_way_out():
    spec = stored("scaledobject/idle.yaml")
    spec["spec"].update(activation="Sized", cpuInitializationPeriodSeconds=60)
    _, losses = leave_as.to_scaledobject(spec, "us-east-1")
    assert any(loss.startswith("spec.activation: Sized") and "lost" in loss for loss in losses)
    assert any(loss.startswith("spec.cpuInitializationPeriodSeconds") and "dropped" in loss for loss in losses)


def test_a_pods_metric_in_container_insights_by_its_own_dimensions_beside_another_namespace_is_dropped_and_said():
    workload = stored("hpa/queue-age.yaml")
    workload["spec"]["metrics"][0]["pods"]["metric"]["dimensions"] = {"ClusterName": "prod", "PodName": "ingest"}
    back, losses = leave_as.to_hpa(workload)
    assert [m["type"] for m in back["spec"]["metrics"]] == ["Object"]
    assert any(loss.startswith("spec.metrics[0]") and "dropped" in loss for loss in losses)


LOSSLESS = [name for name in sorted(str(p.relative_to(FIXTURES)) for p in FIXTURES.rglob("*") if p.is_file())
            if not translated(name)[1].blocking]


def test_the_api_server_takes_every_translated_fixture_and_its_way_back(client):
    for name in LOSSLESS:
        workload = translated(name)[1].workload
        status, created = send(client, "POST", "/workloads", workload)
        assert status == 201, (name, created)
        assert created["spec"] == parse_spec("Workload", workload)["spec"], name
        way = "scaledobject" if "scaledobject/" in name else "hpa"
        back, _ = leave_as.to_hpa(created) if way == "hpa" else leave_as.to_scaledobject(created, "us-east-1")
        again = translate(documents.Document("back", back), CONTEXT)
        assert not again.blocking, (name, [f.line() for f in again.blocking])
        assert send(client, "PUT", f"/workloads/{workload['metadata']['name']}?dryRun=All",
                    {**again.workload, "metadata": created["metadata"]})[0] == 200, name
        assert send(client, "DELETE", f"/workloads/{workload['metadata']['name']}")[0] == 200, name


def send(client, method, path, body=None):
    response = client.http.request(method, path, headers={"Content-Type": "application/json"},
                                   body=json.dumps(body) if body is not None else b"")
    return response.status_code, json.loads(response.body) if response.body else None

