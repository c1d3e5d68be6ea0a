"""The ECS agent's task-protection endpoint, which moto lacks: `$ECS_AGENT_URI/task-protection/v1/state`."""
from __future__ import annotations

import json
import logging
import re
import time
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler
from typing import Callable

from local.tasks import Task

log = logging.getLogger("local.agent")

# The ECS agent serves /api/<endpoint id>/task-protection/v1/state; ECS_AGENT_URI carries everything before the suffix.
PROTECTION_PATH = re.compile(r"^/api/(?P<task>[^/]+)/task-protection/v1/state$")
DEFAULT_PROTECTION_MINUTES = 120  # ECS's, when a request leaves ExpiresInMinutes out
MAX_PROTECTION_MINUTES = 2880


def answer(task: Task | None, arn: str, request: dict | None) -> tuple[int, dict]:
    """The agent's answer to a GET (request None) or a PUT of the endpoint for `task`: (status, body).

    Shaped as the ECS agent answers: 200 {"protection": ...}, or an error status with {"error": {"Code", ...}}.
    """
    if task is None:
        return 404, error_body("", "ResourceNotFoundException", "Failed to find a task for the request")
    if request is not None:
        invalid = _invalid(request)
        if invalid:
            return 400, error_body(arn, "InvalidParameterException", invalid)
        minutes = request.get("ExpiresInMinutes", DEFAULT_PROTECTION_MINUTES)
        task.protected_until = time.monotonic() + minutes * 60 if request["ProtectionEnabled"] else 0.0
        log.info("task protection set", extra={"task": task.id, "protected": request["ProtectionEnabled"]})
    left_s = task.protected_until - time.monotonic()
    expires = datetime.fromtimestamp(time.time() + left_s, timezone.utc) if left_s > 0 else None
    return 200, {"protection": {"ExpirationDate": expires and expires.strftime("%Y-%m-%dT%H:%M:%SZ"),
                                "ProtectionEnabled": left_s > 0, "TaskArn": arn}}


def _invalid(request: dict) -> str | None:
    """What the agent (unknown fields, ProtectionEnabled) or ECS (ExpiresInMinutes) would refuse in a PUT."""
    unknown = set(request) - {"ProtectionEnabled", "ExpiresInMinutes"}
    if unknown:
        return f"unknown fields: {', '.join(sorted(unknown))}"
    if not isinstance(request.get("ProtectionEnabled"), bool):
        return "Invalid request: does not contain 'ProtectionEnabled' field"
    minutes = request.get("ExpiresInMinutes", DEFAULT_PROTECTION_MINUTES)
    if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= MAX_PROTECTION_MINUTES:
        return f"ExpiresInMinutes must be a whole number from 1 to {MAX_PROTECTION_MINUTES}, got {minutes!r}"
    return None


def error_body(arn: str, code: str, message: str) -> dict:
    return {"error": {"Arn": arn, "Code": code, "Message": message}}


class ProtectionEndpoint(BaseHTTPRequestHandler):
    """`$ECS_AGENT_URI/task-protection/v1/state` for the agent's tasks, where ECS_AGENT_URI is http://127.0.0.1:PORT/api/<task>."""

    def __init__(self, protection: Callable[[str, dict | None], tuple[int, dict]], *args, **kwargs):
        self.protection = protection
        super().__init__(*args, **kwargs)

    def do_GET(self) -> None:
        self._answer(None)

    def do_PUT(self) -> None:
        try:
            request = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)))
        except ValueError:
            request = None
        if not isinstance(request, dict):
            self._send(400, error_body("", "InvalidParameterException", "UpdateTaskProtection: failed to decode request"))
            return
        self._answer(request)

    def _answer(self, request: dict | None) -> None:
        match = PROTECTION_PATH.match(self.path)
        if match is None:
            self._send(404, error_body("", "ResourceNotFoundException", f"no such path: {self.path}"))
            return
        self._send(*self.protection(match["task"], request))

    def _send(self, status: int, body: dict) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args) -> None:
        log.debug("agent endpoint request " + format, *args)
