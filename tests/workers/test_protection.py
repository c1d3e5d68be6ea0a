"""workers/protection.py against a stub of the ECS agent's endpoint: the exact requests, renewal, release, failures."""
import json
import logging
import socket

import pytest

from workers.protection import Protection

PROTECT = {"ProtectionEnabled": True, "ExpiresInMinutes": 10}
RELEASE = {"ProtectionEnabled": False}


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def closed_port_uri() -> str:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    return f"http://127.0.0.1:{port}/api/gone"  # nothing listens there once the probe is closed


def test_protects_once_while_busy_renews_before_expiry_and_releases_when_idle(ecs_agent):
    clock = Clock()
    protection = Protection(ecs_agent.uri, clock=clock)
    protection.busy()
    clock.now += 399  # two thirds of ten minutes is 400 s: not yet due
    protection.busy()
    clock.now += 1
    protection.busy()
    protection.busy()
    protection.idle()
    protection.idle()
    assert ecs_agent.requests == [("PUT", ecs_agent.path, "application/json", body)
                                  for body in (PROTECT, PROTECT, RELEASE)]


def test_idle_without_protection_sends_nothing(ecs_agent):
    Protection(ecs_agent.uri, clock=Clock()).idle()
    assert ecs_agent.requests == []


def test_trailing_slash_of_the_agent_uri_is_not_doubled(ecs_agent):
    Protection(ecs_agent.uri + "/", clock=Clock()).busy()
    assert [path for _, path, _, _ in ecs_agent.requests] == [ecs_agent.path]


# The agent's documented answers when protection is not granted (ECS developer guide, task scale-in protection endpoint).
ACCESS_DENIED = (400, json.dumps({"requestID": "12345-abc", "error": {
    "Arn": "arn:aws:ecs:us-east-1:123456789012:task/photos/0123456789abcdef0", "Code": "AccessDeniedException",
    "Message": "not authorized to perform: ecs:UpdateTaskProtection"}}).encode())
NOT_VALID = (200, json.dumps({"failure": {
    "Arn": "arn:aws:ecs:us-east-1:123456789012:task/photos/0123456789abcdef0", "Detail": None,
    "Reason": "TASK_NOT_VALID"}}).encode())
THROTTLED = (400, json.dumps({"requestID": "12345-abc", "error": {
    "Arn": "arn:aws:ecs:us-east-1:123456789012:task/photos/0123456789abcdef0", "Code": "ThrottlingException",
    "Message": "Rate exceeded"}}).encode())
NOT_JSON = (502, b"<html>bad gateway</html>")


@pytest.mark.parametrize("answer, code", [
    pytest.param(ACCESS_DENIED, "AccessDeniedException", id="task-role-lacks-permission"),
    pytest.param(NOT_VALID, "TASK_NOT_VALID", id="standalone-task"),
    pytest.param(THROTTLED, "ThrottlingException", id="throttled"),
    pytest.param(NOT_JSON, None, id="not-json"),
])
def test_a_refusal_is_logged_and_retried_only_after_a_pause(ecs_agent, caplog, answer, code):
    ecs_agent.answer = answer
    clock = Clock()
    protection = Protection(ecs_agent.uri, clock=clock)
    with caplog.at_level(logging.WARNING, logger="ballast.worker.protection"):
        protection.busy()
        clock.now += 29
        protection.busy()
        protection.idle()  # never protected: nothing to release
        clock.now += 1
        protection.busy()
    assert ecs_agent.bodies() == [PROTECT, PROTECT]
    assert [(r.getMessage(), r.status, r.code) for r in caplog.records] == [
        ("task protection refused", answer[0], code)] * 2


def test_an_unreachable_agent_is_logged_and_the_caller_carries_on(caplog):
    protection = Protection(closed_port_uri(), clock=Clock())
    with caplog.at_level(logging.WARNING, logger="ballast.worker.protection"):
        protection.busy()
        protection.idle()
    assert [r.getMessage() for r in caplog.records] == ["task protection unreachable"]


def test_a_failed_release_is_tried_again_at_the_next_idle_after_the_pause(ecs_agent):
    clock = Clock()
    protection = Protection(ecs_agent.uri, clock=clock)
    protection.busy()
    ecs_agent.answer = THROTTLED
    protection.idle()
    ecs_agent.answer = None
    clock.now += 30
    protection.idle()
    protection.idle()
    assert ecs_agent.bodies() == [PROTECT, RELEASE, RELEASE]


def test_without_an_agent_uri_nothing_is_attempted(caplog):
    protection = Protection(None, clock=Clock())
    with caplog.at_level(logging.DEBUG, logger="ballast.worker.protection"):
        protection.busy()
        protection.idle()
    assert caplog.records == []
