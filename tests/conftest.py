"""Shared fixtures: the dev stage's environment, moto with the stack from infra/ballast.yaml, the store, the API client."""
import json
import os
from pathlib import Path

import pytest

import infra

# Set before anything imports chalicelib.config, exactly as Chalice sets a stage's variables before importing app.py.
os.environ.update(infra.stage_environment("dev"))
os.environ.update(AWS_ACCESS_KEY_ID="testing", AWS_SECRET_ACCESS_KEY="testing", AWS_SECURITY_TOKEN="testing",
                  AWS_SESSION_TOKEN="testing", AWS_DEFAULT_REGION="us-east-1", AWS_REGION="us-east-1")
os.environ.pop("AWS_ENDPOINT_URL", None)
os.environ.pop("AWS_PROFILE", None)

import threading  # noqa: E402

import boto3  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.core.botocore_stubber import BotocoreStubber  # noqa: E402

# AWS applies each request atomically (a DynamoDB condition is checked and written as one step); moto does not when
# requests come from several threads at once. One request at a time restores that, so races in tests are honest.
_MOTO_REQUEST = threading.RLock()
_process_request = BotocoreStubber.process_request


def _one_request_at_a_time(self, request):
    with _MOTO_REQUEST:
        return _process_request(self, request)


BotocoreStubber.process_request = _one_request_at_a_time

EVENTS = Path(__file__).with_name("events")


def load_event(name: str) -> dict:
    """A golden event, shaped as AWS documents it."""
    return json.loads((EVENTS / f"{name}.json").read_text())


@pytest.fixture
def stack():
    """moto with every resource of the stage created from the one template."""
    with mock_aws():
        outputs = infra.create_stack(boto3.client("cloudformation"), infra.stage_environment("dev"))
        from chalicelib import wiring

        wiring.reset()
        yield outputs
        wiring.reset()


@pytest.fixture
def store(stack):
    from chalicelib import wiring

    return wiring.store()


@pytest.fixture
def client(stack):
    from chalice.test import Client

    from app import app

    with Client(app, stage_name="dev") as test_client:
        yield test_client
