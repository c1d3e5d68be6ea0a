"""ECS task scale-in protection, asked for by the worker itself through the ECS agent's endpoint while it holds work.

ECS sets ECS_AGENT_URI in every task; `PUT $ECS_AGENT_URI/task-protection/v1/state` with `{"ProtectionEnabled": true,
"ExpiresInMinutes": N}` makes the agent call UpdateTaskProtection with the task role's credentials, and ECS then
leaves the task alone when the service scales in (or deploys) until it is released or the minutes run out. The agent
answers 200 `{"protection": {...}}` on success, 200 `{"failure": {"Arn", "Reason", "Detail"}}` when ECS refused the
task, and an error status with `{"error": {"Arn", "Code", "Message"}}` when the call failed (AccessDenied,
throttling, a timeout). Without ECS_AGENT_URI (tests, a laptop) nothing is sent.
"""
from __future__ import annotations

import http.client
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Callable

log = logging.getLogger("ballast.worker.protection")

PATH = "/task-protection/v1/state"
# Long enough that a steadily busy worker renews a few times an hour (the API behind the agent is rate-limited);
# short enough that a worker hung while protected blocks scale-in for minutes, not the default two hours.
EXPIRES_MINUTES = 10
RENEW_FRACTION = 2 / 3  # renew once two thirds of the protection have run, so a slow call still lands before expiry
RETRY_S = 30.0  # after a refused or unreachable call; busy() runs every tick of an image, and must not hammer the agent
TIMEOUT_S = 5.0  # the agent waits on ECS itself; the worker's stop deadline leaves room for one call, not a hang


class Protection:
    """Protected from the first work after idling until the next empty receive; renewed while the work lasts.

    Every failure is logged and swallowed: protection only narrows which tasks ECS picks, while the SIGTERM drain
    and the visibility timeout are what keep work from being lost, so a worker never stops working for want of it.
    """

    def __init__(self, agent_uri: str | None, expires_minutes: int = EXPIRES_MINUTES,
                 clock: Callable[[], float] = time.monotonic):
        self._url = agent_uri.rstrip("/") + PATH if agent_uri else None
        self._expires_minutes = expires_minutes
        self._clock = clock
        self._protected_at: float | None = None  # when the protection in force was asked for; None while released
        self._retry_at = float("-inf")

    def busy(self) -> None:
        """Work is in hand: protect the task unless it is protected and not yet due for renewal."""
        now = self._clock()
        renew_at = None if self._protected_at is None else self._protected_at + self._expires_minutes * 60 * RENEW_FRACTION
        if self._url is None or (renew_at is not None and now < renew_at) or now < self._retry_at:
            return
        if self._put({"ProtectionEnabled": True, "ExpiresInMinutes": self._expires_minutes}, now):
            self._protected_at = now
            log.info("task protected", extra={"expiresInMinutes": self._expires_minutes})

    def idle(self) -> None:
        """A receive came back empty: release the task, so that the next scale-in may pick it."""
        now = self._clock()
        if self._url is None or self._protected_at is None or now < self._retry_at:
            return
        if self._put({"ProtectionEnabled": False}, now):
            self._protected_at = None
            log.info("task protection released")

    def _put(self, body: dict, now: float) -> bool:
        request = urllib.request.Request(self._url, data=json.dumps(body).encode(), method="PUT",
                                         headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                answer = response.read()
        except urllib.error.HTTPError as error:
            details = _member(error.read(), "error")
            log.warning("task protection refused", extra={"status": error.code, "code": details.get("Code"),
                                                          "reason": details.get("Message")})
        except (OSError, http.client.HTTPException) as error:  # unreachable, timed out, or cut off mid-answer
            log.warning("task protection unreachable", extra={"error": str(error)})
        else:
            if _member(answer, "protection").get("ProtectionEnabled") is body["ProtectionEnabled"]:
                return True
            failure = _member(answer, "failure")
            log.warning("task protection refused", extra={"status": 200, "code": failure.get("Reason"),
                                                          "reason": failure.get("Detail")})
        self._retry_at = now + RETRY_S
        return False


def _member(answer: bytes, name: str) -> dict:
    """One object of the agent's JSON answer, or {} when the answer is not the documented shape."""
    try:
        parsed = json.loads(answer)
    except ValueError:
        return {}
    member = parsed.get(name) if isinstance(parsed, dict) else None
    return member if isinstance(member, dict) else {}
