"""How the controller explains itself beside the core's decisions: events of its own steps, AWS errors in one line."""
from __future__ import annotations

from datetime import datetime

from chalicelib.model import Event, NodePool, Workload


def why(error: Exception) -> str:
    """The error with its AWS code when it has one, so a condition tells throttling from denial at a glance."""
    code = getattr(error, "code", "")
    return f"{error} ({code})" if code and code not in str(error) else str(error)


def event(obj: Workload | NodePool, kind: str, reason: str, message: str, now: datetime) -> Event:
    return Event(kind, reason, message, kind_of(obj), obj.name, now, (), obj.namespace)


def kind_of(obj: Workload | NodePool) -> str:
    return "Workload" if isinstance(obj, Workload) else "NodePool"
