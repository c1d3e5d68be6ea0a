"""/openapi.json is generated from the route table and the validation schemas, and stays true to both."""
import json

import jsonschema
import pytest
from openapi_spec_validator import validate

from app import app
from chalicelib import spec
from chalicelib.model import nodepool_from, workload_from
from chalicelib.control import openapi

METHODS = {"get", "put", "post", "patch", "delete", "head", "options"}


@pytest.fixture(scope="module")
def document():
    return openapi.document(app.routes)


def check(document, instance, name):
    """Validates `instance` against a component schema, resolving its $refs inside the document."""
    jsonschema.validate(instance, {"$ref": f"#/components/schemas/{name}", "components": document["components"]})


def test_every_route_and_method_is_documented_and_nothing_else(document):
    served = {(path, method.lower()) for path, methods in app.routes.items() for method in methods}
    documented = {(path, method) for path, item in document["paths"].items() for method in item if method in METHODS}
    assert documented == served


def test_the_document_is_valid_openapi(document):
    validate(document)


def test_every_operation_requires_sigv4(document):
    assert document["components"]["securitySchemes"]["sigv4"]["x-amazon-apigateway-authtype"] == "awsSigv4"
    for path, item in document["paths"].items():
        for method, operation in item.items():
            assert operation["security"] == [{"sigv4": []}], (path, method)


def test_request_bodies_name_the_content_types_the_routes_accept(document):
    for path, methods in app.routes.items():
        for method, entry in methods.items():
            body = document["paths"][path][method.lower()].get("requestBody")
            if body is not None and "*/*" not in entry.content_types:
                assert set(body["content"]) == set(entry.content_types), (path, method)
    assert set(document["paths"]["/workloads/{name}"]["patch"]["requestBody"]["content"]) == {"application/merge-patch+json"}


@pytest.mark.parametrize("kind", spec.KINDS)
def test_the_examples_validate_against_the_served_schemas_and_parse(document, kind):
    check(document, openapi.EXAMPLES[kind], kind)
    spec.parse_spec(kind, openapi.EXAMPLES[kind])
    assert document["paths"][f"/{kind.lower()}s"]["post"]["requestBody"]["content"]["application/json"]["example"] == openapi.EXAMPLES[kind]


@pytest.mark.parametrize("kind", spec.KINDS)
def test_an_example_using_every_setting_validates_parses_and_is_served(document, kind):
    example = openapi.EVERY_FIELD[kind]
    check(document, example, kind)
    spec.parse_spec(kind, example)
    assert document["components"]["schemas"][kind]["examples"] == [openapi.EXAMPLES[kind], example]


def _minimal(kind):
    body = {"metadata": {"name": "x"}, "spec": {"target": {"kind": "ECSService", "cluster": "c", "service": "s"},
                                                "queue": {"name": "q"}, "maxReplicas": 3}} if kind == "Workload" else \
        {"metadata": {"name": "x"}, "spec": {"provider": {"kind": "Local"}, "maxNodes": 1,
                                             "instance": {"cpuMillicores": 1000, "memoryMiB": 1024}}}
    manifest = spec.parse_spec(kind, body)
    return workload_from(manifest) if kind == "Workload" else nodepool_from(manifest)


# The settings issue 17 added: each documented with what it does and its default, the default the controller applies
# when it is unset (the model's, from a manifest that leaves it out), and shown in use by the every-setting example.
NEW_SETTINGS = [
    ("Workload", "spec.behavior.scaleUp.tolerance", 0.1, lambda w: w.behavior.scale_up.tolerance),
    ("Workload", "spec.behavior.scaleDown.tolerance", 0.1, lambda w: w.behavior.scale_down.tolerance),
    ("Workload", "spec.cpuInitializationPeriodSeconds", 300, lambda w: w.cpu_initialization_s),
    ("Workload", "spec.initialReadinessDelaySeconds", 30, lambda w: w.readiness_delay_s),
    ("Workload", "spec.queue.scaleOnInFlight", True, lambda w: w.include_in_flight),
    ("Workload", "spec.queue.scaleOnDelayed", False, lambda w: w.include_delayed),
    ("Workload", "spec.idleReplicas", None, lambda w: w.idle_replicas),
    ("Workload", "spec.activation", "Sized", lambda w: w.activation),
    ("Workload", "spec.pausedScaleIn", False, lambda w: w.paused_scale_in),
    ("Workload", "spec.pausedScaleOut", False, lambda w: w.paused_scale_out),
    ("Workload", "spec.resources.cpuMillicores", 1000, lambda w: w.resources.cpu_millicores),
    ("Workload", "spec.metrics[].backlog.activationThreshold", 0, None),
    ("Workload", "spec.metrics[].containerResource", None, None),
    ("Workload", "spec.metrics[].pods", None, None),
    ("Workload", "spec.metrics[].object", None, None),
    ("NodePool", "spec.instance.maxTasks", None, lambda p: p.instance.max_tasks),
]


def _schema_at(schema, path):
    for part in path.split("."):
        if part.endswith("[]"):
            schema = schema["properties"][part[:-2]]["items"]
        else:
            schema = schema["properties"][part]
    return schema


def _in_use(manifest, path):
    values = [manifest]
    for part in path.split("."):
        key = part.removesuffix("[]")
        values = [v[key] for v in values if isinstance(v, dict) and key in v]
        if part.endswith("[]"):
            values = [item for v in values for item in v]
    return bool(values)


def _json(value):
    return json.dumps(value).strip('"')


@pytest.mark.parametrize("kind, path, default, applied", NEW_SETTINGS, ids=[row[1] for row in NEW_SETTINGS])
def test_every_new_setting_is_described_with_its_default_and_shown_in_use(document, kind, path, default, applied):
    served = _schema_at(document["components"]["schemas"][kind], path)
    assert len(served.get("description", "")) > 20, path
    if "default" in served:  # filled in by the API
        assert served["default"] == default
    elif served.get("type") != "object":  # left out, and the controller's default said in words
        assert ("unset: " + _json(default) if default is not None else "unset: ") in served["description"], path
    if applied is not None:
        assert applied(_minimal(kind)) == default
    assert _in_use(openapi.EVERY_FIELD[kind], path), path


def test_the_scale_example_validates(document):
    check(document, openapi.EXAMPLES["Scale"], "Scale")


@pytest.mark.parametrize("kind", spec.KINDS)
def test_what_the_api_returns_matches_the_documented_responses(client, document, kind):
    path = f"/{kind.lower()}s"
    created = client.http.post(path, headers={"Content-Type": "application/json"}, body=json.dumps(openapi.EXAMPLES[kind]))
    assert created.status_code == 201
    check(document, json.loads(created.body), kind)
    check(document, json.loads(client.http.get(path).body), f"{kind}List")
    missing = client.http.get(f"{path}/nothing")
    assert str(missing.status_code) in document["paths"][f"{path}/{{name}}"]["get"]["responses"]
    check(document, json.loads(missing.body), "Status")


def test_scale_and_events_responses_match(client, document):
    client.http.post("/workloads", headers={"Content-Type": "application/json"}, body=json.dumps(openapi.EXAMPLES["Workload"]))
    check(document, json.loads(client.http.get("/workloads/photos-thumbnail/scale").body), "Scale")
    check(document, json.loads(client.http.get("/events").body), "EventList")
    check(document, json.loads(client.http.get("/workloads/photos-thumbnail/series").body), "WorkloadSeries")


def test_the_served_document_is_the_generated_one(client, document):
    response = client.http.get("/openapi.json")
    assert response.status_code == 200
    assert json.loads(response.body) == json.loads(json.dumps(document))
