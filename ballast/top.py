"""`ballast top`: what each workload's metrics read at the last tick, beside its replicas, as kubectl top shows usage."""
from __future__ import annotations

from ballast import kinds
from ballast.api_client import Api
from ballast.tables import metric_summaries, pool_booting, table


def cmd_top(api: Api, args) -> str:
    resource = kinds.resource(args.resource, ("workloads", "nodepools"))
    items = api.all_items(f"/{resource}", namespace=args.namespace, labelSelector=args.selector)
    if not items:
        return "No resources found."
    if resource == "nodepools":
        rows = [[p["metadata"]["name"], str((p.get("status") or {}).get("readyNodes", "<unknown>")), str(pool_booting(p)),
                 str((p.get("status") or {}).get("tasks", "<unknown>"))] for p in items]
        return table(rows, ["NAME", "NODES READY", "BOOTING", "TASKS PLACED"])
    rows = []
    for item in items:
        status = item.get("status") or {}
        depth = status.get("backlog") or {}
        backlog = f"{depth['visible']}+{depth['inFlight']}" if depth else "<none>"
        rows.append([item["metadata"]["name"], f"{status.get('readyReplicas', 0)}/{status.get('currentReplicas', 0)}",
                     backlog, f"{status['arrivalPerSecond']:.2f}/s" if status.get("arrivalPerSecond") else "-",
                     "; ".join(metric_summaries(item["spec"], status)) or "<none>"])
    return table(rows, ["NAME", "READY/REPLICAS", "BACKLOG (visible+in flight)", "ARRIVALS", "METRICS (current/target)"])


def add_commands(commands) -> None:
    top = commands.add_parser("top", help="the metrics each workload read at its last tick",
                              description="resources: workloads (wl), nodepools (np)",
                              epilog="examples:\n  ballast top workloads\n  ballast top wl -l app=photos\n  ballast top nodepools")
    top.add_argument("resource", help="workloads (wl) or nodepools (np)")
    top.add_argument("-l", "--selector", help="label equalities, e.g. app=photos")
    top.set_defaults(run=cmd_top)
