"""The resources `ballast` names on its command line, with kubectl's singular, plural and short spellings."""
from __future__ import annotations

from ballast.errors import UsageError

ALIASES = {"workload": "workloads", "workloads": "workloads", "wl": "workloads",
           "nodepool": "nodepools", "nodepools": "nodepools", "np": "nodepools",
           "job": "jobs", "jobs": "jobs", "image": "jobs", "images": "jobs",
           "event": "events", "events": "events", "ev": "events"}
KIND_OF = {"workloads": "Workload", "nodepools": "NodePool"}
PATH_OF = {"Workload": "/workloads", "NodePool": "/nodepools"}
QUALIFIED = {"Workload": "workload.ballast.io", "NodePool": "nodepool.ballast.io"}
RESOURCES_HELP = "workloads (wl), nodepools (np), jobs (images), events (ev)"


def resource(name: str, allowed: tuple[str, ...] = ("workloads", "nodepools", "jobs", "events")) -> str:
    """The plural resource for `name`; `allowed` narrows it for commands that serve only some."""
    plural = ALIASES.get(name.lower()) if name else None
    if plural is None or plural not in allowed:
        shown = ", ".join(f"{r} ({next((a for a, p in ALIASES.items() if p == r and len(a) <= 3), r)})" for r in allowed)
        raise UsageError(f"unknown resource {name!r} here: use {shown}")
    return plural


def kind_and_name(resource_name: str, name: str | None) -> tuple[str, str | None]:
    """`workload web`, or kubectl's `workload/web` in one word."""
    if name is None and "/" in resource_name:
        resource_name, name = resource_name.split("/", 1)
    return resource_name, name


def add_object_arguments(command, resources: str = "workloads (wl) or nodepools (np)", required: bool = True) -> None:
    """RESOURCE [NAME], where RESOURCE may be kubectl's KIND/NAME in one word."""
    command.add_argument("resource", nargs=None if required else "?", help=f"{resources}, or KIND/NAME")
    command.add_argument("name", nargs="?")
