"""Every route of the API requires IAM (SigV4) auth: in the route table and on each request through chalice.test.Client."""
import re
import warnings

import pytest
from chalice import IAMAuthorizer

from app import app

ROUTES = sorted((path, method) for path, methods in app.routes.items() for method in methods)


@pytest.mark.parametrize("path, method", ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_the_route_declares_the_iam_authorizer(path, method):
    assert isinstance(app.routes[path][method].authorizer, IAMAuthorizer)


@pytest.mark.parametrize("path, method", ROUTES, ids=[f"{m} {p}" for p, m in ROUTES])
def test_each_request_passes_the_iam_authorizer(client, path, method):
    """The local gateway admits IAM-authorized requests with a warning (it cannot check SigV4): the warning proves the check ran."""
    concrete = re.sub(r"\{[^}]+\}", "x", path)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.http.request(method, concrete, headers={"Content-Type": "application/json"}, body=b"{}")
    assert any("IAMAuthorizer" in str(w.message) for w in caught)
