"""The API server fuzzed from its own OpenAPI document (schemathesis), served by `chalice local` on 127.0.0.1 over moto.

Two properties: no request gets a 5xx, and no write gets past validation: afterwards every Workload and NodePool
in the table, in any namespace the fuzzer reached, still parses with chalicelib.spec.parse_spec.
"""
import functools
from collections import Counter
import threading
import warnings

import boto3
import pytest
import requests
import schemathesis
from chalice.cli.factory import CLIFactory
from chalice.local import ChaliceRequestHandler, create_local_server
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import infra
from app import app
from chalicelib import config, spec
from chalicelib.control import openapi
from chalicelib.adapters.store import Store
from chalicelib.adapters.table import PARTITION

EXAMPLES_PER_OPERATION = 10
SEEDED = "fuzzed"  # a Workload and a NodePool of this name exist, so writes to existing objects are fuzzed too
WORKLOAD = {"metadata": {"name": SEEDED}, "spec": {
    "target": {"kind": "ECSService", "cluster": "ballast-dev", "service": SEEDED},
    "queue": {"name": "ballast-dev-thumbnail"}, "minReplicas": 0, "maxReplicas": 4}}
NODEPOOL = {"metadata": {"name": SEEDED}, "spec": {
    "provider": {"kind": "AutoScalingGroup", "autoScalingGroupName": "ballast-dev-nodes"},
    "instance": {"cpuMillicores": 2000, "memoryMiB": 4096}, "maxNodes": 4}}


class Quiet(ChaliceRequestHandler):
    def log_message(self, format, *args):
        """One access-log line per fuzzed request would bury pytest's own output."""


@pytest.fixture
def api(stack):
    warnings.filterwarnings("ignore", message="IAMAuthorizer is not a supported in local mode")
    chalice_config = CLIFactory(str(infra.ROOT)).create_config_obj(chalice_stage_name="dev")
    # create_local_server rebases the app's class onto its local subclass; a second server in this process (the
    # local runtime's tests) would then make the class its own base. Give the app its class back afterwards.
    app_class = app.__class__
    server = create_local_server(app, chalice_config, "127.0.0.1", 0)
    server.server.RequestHandlerClass = functools.partial(Quiet, app_object=app, config=chalice_config)
    threading.Thread(target=server.server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server.server_address[1]}"
    with requests.Session() as session:
        for path, body in (("/workloads", WORKLOAD), ("/nodepools", NODEPOOL)):
            assert session.post(url + path, json=body).status_code == 201
        yield url, session
    server.server.shutdown()
    app.__class__ = app_class


def stored_objects() -> list[tuple[str, dict]]:
    """Every Workload and NodePool item in the table, whatever namespace, as the API would show it."""
    table = boto3.resource("dynamodb").Table(config.TABLE)
    items, request = [], {}
    while True:
        page = table.scan(**request)
        items += page["Items"]
        if "LastEvaluatedKey" not in page:
            break
        request["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    kinds = [(item[PARTITION].split("#", 1)[0], item) for item in items]
    return [(kind, Store._object(kind, item)) for kind, item in kinds if kind in spec.KINDS]


def _aim_at_the_seeded_objects(case, url, session) -> None:
    """A write to the seeded object that a valid body can win: the object exists (an earlier DELETE may have taken
    it), and the body names it and keeps what it owns, so the documented example's replace is accepted rather than
    refused for a name mismatch or as a second owner of the example's target."""
    for path, seeded in (("/workloads", WORKLOAD), ("/nodepools", NODEPOOL)):
        session.post(url + path, json=seeded)  # 409 when it is there already
    body = case.body
    if not (isinstance(body, dict) and isinstance(body.get("metadata"), dict) and isinstance(body.get("spec"), dict)):
        return
    body["metadata"]["name"] = SEEDED
    owned = "target" if "/workloads" in case.path else "provider"
    if owned in body["spec"]:
        body["spec"][owned] = (WORKLOAD if owned == "target" else NODEPOOL)["spec"][owned]


def test_fuzzed_requests_never_get_a_5xx_and_never_store_an_invalid_object(api):
    url, session = api
    schema = schemathesis.openapi.from_dict(openapi.document(app.routes))
    server_errors, writes = [], Counter()
    operations = [result.ok() for result in schema.get_all_operations()]
    for operation in operations:
        pins_a_name = "{name}" in operation.path

        @given(case=operation.as_strategy(), existing=st.booleans() if pins_a_name else st.just(False))
        @settings(max_examples=EXAMPLES_PER_OPERATION, deadline=None, database=None, derandomize=True,
                  phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
        def fuzz(case, existing):
            if existing:
                case.path_parameters["name"] = SEEDED
                _aim_at_the_seeded_objects(case, url, session)
            response = case.call(base_url=url, session=session)
            if case.method in ("POST", "PUT", "PATCH", "DELETE") and response.status_code < 300:
                writes[case.method] += 1
            if response.status_code >= 500:
                server_errors.append((case.method, case.formatted_path, case.query, case.body, response.status_code,
                                      response.text[:300]))
        fuzz()
    assert len(operations) >= 20 and server_errors == []
    assert set(writes) == {"POST", "PUT", "PATCH", "DELETE"}, writes  # writes were accepted, not only refused
    objects = stored_objects()
    assert {kind for kind, _ in objects} == set(spec.KINDS)
    for kind, stored in objects:
        meta = stored["metadata"]
        spec.parse_spec(kind, {"apiVersion": stored["apiVersion"], "kind": kind, "spec": stored["spec"],
                                "metadata": {"name": meta["name"], "namespace": meta["namespace"], "labels": meta["labels"]}})
