"""`ballast get`, `describe` and `events`: the API's objects, as kubectl shows them."""
from __future__ import annotations

import sys
import time

from ballast import kinds, output, tables
from ballast.api_client import Api, ApiError
from ballast.errors import UsageError
from ballast.manifests import leave as leave_as
from ballast.tables import age, event_rows, indent, metric_summaries, table

WATCH_INTERVAL_S = 2.0

GET_EXAMPLES = """examples:
  ballast get workloads                          # kubectl get hpa's columns and KEDA's READY ACTIVE PAUSED TRIGGERS
  ballast get wl photos-thumbnail -o yaml
  ballast get workloads -l app=photos -o wide    # with DESIRED, BACKLOG, NODEPOOLS and the last tick's DECISION
  ballast get workloads -w                       # a row on every change, until Ctrl-C
  ballast get workloads -A                       # every namespace
  ballast get workload web -o hpa > hpa.yaml     # as an autoscaling/v2 HPA (or -o scaledobject), to leave
  ballast get nodepools                          # desired, ready and booting nodes, tasks pending
  ballast get events --for Workload/photos-thumbnail
  ballast get workloads -o jsonpath='{range .items[*]}{.metadata.name}{"\\t"}{.status.desiredReplicas}{"\\n"}{end}'"""


def cmd_get(api: Api, args) -> str:
    resource_name, name = kinds.kind_and_name(args.resource, args.name)
    resource = kinds.resource(resource_name)
    fmt = output.check_format(args.output)
    if fmt in ("hpa", "scaledobject") and (resource != "workloads" or not name):
        raise UsageError(f"-o {fmt} writes one workload: ballast get workload NAME -o {fmt}")
    if args.watch:
        if fmt not in (None, "wide") or resource not in ("workloads", "nodepools"):
            raise UsageError("-w watches workloads or nodepools as a table (-o wide allowed)")
        return watch(api, args, resource, name)
    if resource == "jobs":
        items = api.all_items("/images")
        return _shown(items, {"items": items}, fmt, "job", lambda: table([tables.job_row(i) for i in items], tables.JOB_COLUMNS))
    if resource == "events":
        items = sorted(_events(api, args), key=lambda e: e["time"])
        return _shown(items, {"kind": "EventList", "items": items}, fmt, "event",
                      lambda: table(event_rows(items), tables.EVENT_COLUMNS), "No events.")
    items, document = _fetch(api, args, resource, name)
    if fmt in ("hpa", "scaledobject"):
        return leave(items[0], fmt, api)
    return _shown(items, document, fmt, tables.KIND_NAMES[resource],
                  lambda: _table(api, args, resource, items, fmt == "wide", args.all_namespaces and not name))


def _shown(items: list[dict], document: dict, fmt: str | None, kind: str, as_table, empty: str = "No resources found.") -> str:
    if fmt in ("json", "yaml"):
        return output.dump(document, fmt)
    if fmt == "name":
        return output.names(items, kind) if kind != "job" else "\n".join(f"job/{i['jobId']}" for i in items)
    if fmt and fmt.startswith("jsonpath"):
        return output.jsonpath(fmt.split("=", 1)[1], document)
    if not items:
        return empty
    return as_table()


def _fetch(api: Api, args, resource: str, name: str | None) -> tuple[list[dict], dict]:
    query = {"namespace": args.namespace, "labelSelector": args.selector}
    if name:
        item = api.get(f"/{resource}/{name}", namespace=args.namespace)
        return [item], item
    if args.all_namespaces:
        query = {"allNamespaces": "true", "labelSelector": args.selector}
    items = api.all_items(f"/{resource}", **query)
    return items, {"apiVersion": "ballast.io/v1", "kind": f"{kinds.KIND_OF[resource]}List", "items": items}


def _table(api: Api, args, resource: str, items: list[dict], wide: bool, namespaces: bool) -> str:
    if resource == "workloads":
        pools = {p["metadata"]["name"]: p for p in api.all_items("/nodepools", namespace=args.namespace)} if wide else {}
        rows, header = [tables.workload_row(i, wide, pools) for i in items], tables.WORKLOAD_COLUMNS + (tables.WORKLOAD_WIDE if wide else [])
    else:
        workloads = api.all_items("/workloads", namespace=args.namespace)
        rows = [tables.nodepool_row(p, _pending(p, workloads), wide) for p in items]
        header = tables.NODEPOOL_COLUMNS + (tables.NODEPOOL_WIDE if wide else [])
    if namespaces:
        rows, header = [[i["metadata"]["namespace"], *row] for i, row in zip(items, rows)], ["NAMESPACE", *header]
    return table(rows, header)


def _pending(pool: dict, workloads: list[dict]) -> int:
    return sum((w.get("status") or {}).get("pendingReplicas") or 0 for w in workloads
               if pool["metadata"]["name"] in w["spec"].get("nodePools", []))


def _events(api: Api, args) -> list[dict]:
    involved = getattr(args, "involved", None)
    if involved and "/" not in involved:
        raise UsageError(f"--for takes KIND/NAME, e.g. Workload/photos-thumbnail, got {involved!r}")
    return api.get("/events", involvedObject=involved, namespace=args.namespace, limit=str(args.limit)).get("items", [])


def leave(item: dict, fmt: str, api: Api) -> str:
    """The Workload as an HPA or a ScaledObject, with what does not survive the trip as comments above it."""
    document, losses = leave_as.to_hpa(item) if fmt == "hpa" else leave_as.to_scaledobject(item, api.region)
    lines = [f"# not kept: {loss}" for loss in losses]
    return "\n".join(lines + [output.dump(document, "yaml")])


def watch(api: Api, args, resource: str, name: str | None) -> str:
    """kubectl get -w: the table once, then a row whenever desired, current, ready, backlog or the decision changes.

    The API has no watch: it is read every --watch-interval. A read that fails for a moment (a timeout, a 5xx) is
    said once on stderr and tried again, as kubectl's watch reconnects; a 4xx (the object deleted, a bad selector) ends it.
    """
    seen: dict[str, tuple] = {}
    header_printed = failing = False
    wide = args.output == "wide"
    header = (tables.WORKLOAD_COLUMNS + (tables.WORKLOAD_WIDE if wide else []) if resource == "workloads"
              else tables.NODEPOOL_COLUMNS + (tables.NODEPOOL_WIDE if wide else []))
    try:
        while True:
            try:
                rows = _changed_rows(api, args, resource, name, seen, wide)
                failing = False
            except ApiError as error:
                if error.code < 500:
                    raise
                if not failing:
                    print(f"warning: {error}; retrying", file=sys.stderr, flush=True)
                failing, rows = True, []
            if rows:
                text = table(rows, header).splitlines()
                print("\n".join(text if not header_printed else text[1:]), flush=True)
                header_printed = True
            time.sleep(args.watch_interval)
    except KeyboardInterrupt:
        return ""  # Ctrl-C is how a watch ends: what was asked for was done


def _changed_rows(api: Api, args, resource: str, name: str | None, seen: dict, wide: bool) -> list[list[str]]:
    items, _ = _fetch(api, args, resource, name)
    pools = {p["metadata"]["name"]: p for p in api.all_items("/nodepools", namespace=args.namespace)}
    workloads = api.all_items("/workloads", namespace=args.namespace) if resource == "nodepools" else []
    rows = []
    for item in items:
        key = f"{item['metadata']['namespace']}/{item['metadata']['name']}"
        status = item.get("status") or {}
        if resource == "workloads":
            depth = status.get("backlog") or {}
            state = (status.get("desiredReplicas"), status.get("currentReplicas"), status.get("readyReplicas"),
                     depth.get("visible"), depth.get("inFlight"), tables.decision(item, pools))
            row = tables.workload_row(item, wide, pools)
        else:
            state = (status.get("desiredNodes"), status.get("currentNodes"), status.get("readyNodes"), status.get("reason"))
            row = tables.nodepool_row(item, _pending(item, workloads), wide)
        if seen.get(key) != state:
            seen[key] = state
            rows.append(row)
    return rows


def cmd_describe(api: Api, args) -> str:
    resource_name, name = kinds.kind_and_name(args.resource, args.name)
    resource = kinds.resource(resource_name, ("workloads", "nodepools"))
    if not name:
        raise UsageError(f"describe needs a name: ballast describe {resource_name} NAME")
    item = api.get(f"/{resource}/{name}", namespace=args.namespace)
    kind = item["kind"]
    events = api.get("/events", involvedObject=f"{kind}/{name}", namespace=args.namespace, limit="20").get("items", [])
    meta, spec, status = item["metadata"], item["spec"], item.get("status") or {}
    lines = [f"Name:               {meta['name']}", f"Namespace:          {meta['namespace']}",
             f"Labels:             {','.join(f'{k}={v}' for k, v in meta.get('labels', {}).items()) or '<none>'}",
             f"Annotations:        {', '.join(sorted(meta.get('annotations', {}))) or '<none>'}",
             f"CreationTimestamp:  {meta.get('creationTimestamp')}", f"Generation:         {meta.get('generation')}"]
    if kind == "Workload":
        target = spec["target"]
        lines += [f"Reference:          {tables.reference(spec)} (cluster {target['cluster']}"
                  + (f", {target.get('launchType', 'FARGATE')})" if target["kind"] == "ECSService" else ")"),
                  f"Queue:              {(spec.get('queue') or {}).get('name', '<none>')}",
                  "Metrics:            ( current / target )"]
        lines += [f"  {summary}" for summary in metric_summaries(spec, status)]
        lines += [f"Min replicas:       {spec.get('minReplicas', 1)}", f"Max replicas:       {spec['maxReplicas']}",
                  f"Cooldown:           {spec.get('cooldownSeconds', 300)}s",
                  f"Node pools:         {', '.join(spec.get('nodePools', [])) or '<none>'}"]
        if spec.get("replicas") is not None:
            lines.append(f"Paused at:          {spec['replicas']} replicas (ballast scale --auto resumes autoscaling)")
        for direction in ("scaleUp", "scaleDown"):
            rules = spec.get("behavior", {}).get(direction, {})
            policies = ", ".join(f"{p['value']} {p['type']} per {p['periodSeconds']}s" for p in rules.get("policies", []))
            lines.append(f"Behavior {direction + ':':<10} window {rules.get('stabilizationWindowSeconds')}s, "
                         f"select {rules.get('selectPolicy')}: {policies}")
        lines.append(f"Replicas:           {status.get('currentReplicas', '<unknown>')} current / "
                     f"{status.get('desiredReplicas', '<unknown>')} desired")
    else:
        lines += [f"Provider:           {tables.nodepool_row(item, 0)[1]}", f"Instance:           {tables.nodepool_row(item, 0)[2]}",
                  f"Nodes:              min {spec.get('minNodes', 0)}, max {spec['maxNodes']}, "
                  f"remove after {spec.get('scaleDownUnneededSeconds', 600)}s unneeded",
                  f"Nodes now:          {status.get('readyNodes', '<unknown>')} ready, {tables.pool_booting(item)} booting, "
                  f"{status.get('desiredNodes', '<unknown>')} desired"]
    pools = {p["metadata"]["name"]: p for p in api.all_items("/nodepools", namespace=args.namespace)} if kind == "Workload" else {}
    lines += _decision_lines(item, pools)
    conditions = status.get("conditions", [])
    lines.append("Conditions:" + ("" if conditions else "         <none>"))
    if conditions:
        lines.append(indent(table([[c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", "")]
                                   for c in conditions], ["Type", "Status", "Reason", "Message"])))
    lines.append("Events:" + ("" if events else "             <none>"))
    if events:
        lines.append(indent(table([[r[1], r[2], r[0], r[4]] for r in event_rows(list(reversed(events)))],
                                  ["Type", "Reason", "Age", "Message"])))
    return "\n".join(lines)


def _decision_lines(item: dict, pools: dict) -> list[str]:
    """What the controller saw and decided, in words; the raw status (with its history) is `get -o json`."""
    status = item.get("status") or {}
    if not status:
        return ["Decision:           <none yet: the controller has not reconciled this object>"]
    lines = [f"Decision:           {tables.decision(item, pools) if item['kind'] == 'Workload' else tables.pool_decision(item)}"]
    if item["kind"] == "Workload":
        lines.append(f"Ready/pending:      {status.get('readyReplicas', 0)} ready, {status.get('pendingReplicas', 0)} pending")
        depth = status.get("backlog")
        if depth:
            lines.append(f"Backlog:            {depth['visible']} visible, {depth['inFlight']} in flight, {depth['delayed']} delayed")
        if status.get("lastScaleTime"):
            lines.append(f"Last scale:         {age(status['lastScaleTime'])} ago ({status['lastScaleTime']})")
        if status.get("startupSeconds") is not None:
            lines.append(f"Start-up measured:  {status['startupSeconds']:.1f}s from scale-up to running")
        if status.get("arrivalPerSecond"):
            lines.append(f"Arrivals:           {status['arrivalPerSecond']:.2f}/s over the last minute")
        if status.get("dryRun"):
            lines.append("Dry run:            yes: decisions are recorded, no scaling call is made")
    else:
        lines.append(f"Tasks placed:       {status.get('tasks', 0)}")
    return lines


def cmd_events(api: Api, args) -> str:
    items = sorted(_events(api, args), key=lambda e: e["time"])
    fmt = output.check_format(args.output)
    return _shown(items, {"kind": "EventList", "items": items}, fmt, "event",
                  lambda: table(event_rows(items), tables.EVENT_COLUMNS), "No events.")


def add_commands(commands) -> None:
    get = commands.add_parser("get", help="list or show workloads, nodepools, jobs or events", epilog=GET_EXAMPLES,
                              description=f"resources: {kinds.RESOURCES_HELP}")
    kinds.add_object_arguments(get, kinds.RESOURCES_HELP)
    get.add_argument("-o", "--output", metavar="FORMAT", help=f"one of {', '.join(output.FORMATS)}")
    get.add_argument("-l", "--selector", help="label equalities, e.g. app=photos,op=thumbnail")
    get.add_argument("-w", "--watch", action="store_true", help="print a row on every change until Ctrl-C")
    get.add_argument("--watch-interval", type=float, default=WATCH_INTERVAL_S, metavar="SECONDS", help="how often -w reads")
    get.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace's objects")
    get.add_argument("--for", dest="involved", metavar="KIND/NAME", help="events of one object only")
    get.add_argument("--limit", type=int, default=100, help="events: at most this many, the newest")
    get.set_defaults(run=cmd_get)

    describe = commands.add_parser("describe", help="spec, status, the decision, conditions and recent events of one object",
                                   description="resources: workloads (wl), nodepools (np)",
                                   epilog="examples:\n  ballast describe workload photos-thumbnail\n  ballast describe np/local")
    kinds.add_object_arguments(describe)
    describe.set_defaults(run=cmd_describe)

    events = commands.add_parser("events", help="the controller's decisions, oldest first",
                                 epilog="examples:\n  ballast events\n  ballast events --for Workload/photos-thumbnail -o yaml")
    events.add_argument("--for", dest="involved", metavar="KIND/NAME", help="e.g. Workload/photos-thumbnail")
    events.add_argument("--limit", type=int, default=50)
    events.add_argument("-o", "--output", metavar="FORMAT", help="json, yaml, name or jsonpath=TEMPLATE")
    events.set_defaults(run=cmd_events)
