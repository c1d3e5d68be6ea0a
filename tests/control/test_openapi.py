"""/openapi.json is generated from the route table and the validation schemas, and stays true to both."""
import json

import jsonschema
import pytest
from openapi_spec_validator import validate

from app import app
from chalicelib import spec
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
