"""parse_spec (chalicelib/spec.py) on issue 17's settings: each bad value refused naming its field, which the API
answers as a 400 with that field (tests/control/test_api.py holds the mapping)."""
import copy

import pytest

from chalicelib.control.openapi import EXAMPLES
from chalicelib.errors import SpecError
from chalicelib.spec import parse_spec


def workload(**spec):
    manifest = copy.deepcopy(EXAMPLES["Workload"])
    manifest["spec"].update(spec)
    return manifest


def nodepool(**spec):
    manifest = copy.deepcopy(EXAMPLES["NodePool"])
    manifest["spec"].update(spec)
    return manifest


CONTAINER_CPU = {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 60}}
ELB_REQUESTS = {"namespace": "AWS/ApplicationELB", "name": "RequestCount"}


@pytest.mark.parametrize("kind, body, field", [
    pytest.param("Workload", workload(behavior={"scaleUp": {"tolerance": -0.1}}), "spec.behavior.scaleUp.tolerance",
                 id="negative-tolerance"),
    # = KEDA's CheckReplicaCountBoundsAreValid: an idle count at or above the minimum would never be idle.
    pytest.param("Workload", workload(minReplicas=2, idleReplicas=2), "spec.idleReplicas",
                 id="idleReplicas-not-below-minReplicas"),
    pytest.param("Workload", workload(activation="Eager"), "spec.activation", id="unknown-activation"),
    pytest.param("Workload", workload(cpuInitializationPeriodSeconds=-1), "spec.cpuInitializationPeriodSeconds",
                 id="negative-cpu-initialization"),
    pytest.param("Workload", workload(initialReadinessDelaySeconds="30s"), "spec.initialReadinessDelaySeconds",
                 id="readiness-delay-as-text"),
    pytest.param("Workload", workload(pausedScaleIn="yes"), "spec.pausedScaleIn", id="pausedScaleIn-not-bool"),
    pytest.param("Workload", workload(queue={"name": "q", "scaleOnInFlight": "false"}), "spec.queue.scaleOnInFlight",
                 id="scaleOnInFlight-as-keda-text"),
    pytest.param("Workload", workload(queue={"name": "q", "scaleOnDelayed": True, "includeDelayed": False}),
                 "spec.queue.includeDelayed", id="includeDelayed-contradicts-scaleOnDelayed"),
    pytest.param("Workload", workload(resources={"cpuMillicores": 0, "memoryMiB": 512}), "spec.resources.cpuMillicores",
                 id="no-cpu-request-on-fargate"),
    pytest.param("Workload", workload(metrics=[{"type": "ContainerResource", "containerResource": CONTAINER_CPU}]),
                 "spec.metrics[0].containerResource.container", id="container-metric-without-container"),
    pytest.param("Workload", workload(metrics=[{"type": "Pods", "pods": {
        "metric": {"name": "Requests"}, "target": {"type": "Value", "value": 5}}}]),
                 "spec.metrics[0].pods.target.averageValue", id="pods-metric-with-a-value-target"),
    pytest.param("Workload", workload(metrics=[{"type": "Object", "object": {
        "metric": ELB_REQUESTS, "target": {"type": "Value", "value": 5}}}]),
                 "spec.metrics[0].object.describedObject", id="object-metric-without-its-object"),
    pytest.param("NodePool", nodepool(instance={"cpuMillicores": 2000, "memoryMiB": 8192, "maxTasks": 0}),
                 "spec.instance.maxTasks", id="zero-tasks-per-node"),
])
def test_a_bad_new_setting_is_refused_naming_its_field(kind, body, field):
    with pytest.raises(SpecError) as refused:
        parse_spec(kind, body)
    assert refused.value.field == field


def test_scaleOnDelayed_given_alone_is_taken_as_given():
    # Its former name, includeDelayed, must equal it when both are sent; left out, it is not filled in against it.
    assert parse_spec("Workload", workload(queue={"name": "q", "scaleOnDelayed": True}))["spec"]["queue"] == {
        "name": "q", "scaleOnDelayed": True}
