"""`ballast get`, `describe`, `apply`, `scale`, `delete` and `events`: the API's objects, as kubectl shows them."""
from __future__ import annotations

import sys
from pathlib import Path

import yaml

from ballast.api_client import Api, ApiError
from ballast.errors import UsageError
from ballast.tables import (age, dump, event_rows, indent, job_row, metric_summaries, nodepool_row, table,
                            workload_row)

RESOURCES = {"workload": "workloads", "workloads": "workloads", "wl": "workloads",
             "nodepool": "nodepools", "nodepools": "nodepools", "np": "nodepools",
             "job": "jobs", "jobs": "jobs", "image": "jobs", "images": "jobs"}
KIND_PATHS = {"Workload": "/workloads", "NodePool": "/nodepools"}


def cmd_get(api: Api, args) -> str:
    resource = _resource(args.resource)
    if resource == "jobs":
        items = api.all_items("/images")
        return dump(items, args.output) if args.output else table([job_row(i) for i in items], ["JOB", "OP", "NAME", "PHASE", "REASON", "AGE"])
    path = f"/{resource}" + (f"/{args.name}" if args.name else "")
    document = api.get(path, namespace=args.namespace)
    if args.output:
        return dump(document, args.output)
    items = document.get("items", []) if not args.name else [document]
    if resource == "workloads":
        return table([workload_row(i) for i in items], ["NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "DESIRED", "REPLICAS", "AGE"])
    return table([nodepool_row(i) for i in items], ["NAME", "PROVIDER", "INSTANCE", "MIN", "MAX", "DESIRED", "CURRENT", "AGE"])


def cmd_describe(api: Api, args) -> str:
    resource = _resource(args.resource)
    if resource == "jobs":
        raise UsageError("describe works on workload and nodepool; see `ballast get jobs`")
    item = api.get(f"/{resource}/{args.name}", namespace=args.namespace)
    kind = item["kind"]
    events = api.get("/events", involvedObject=f"{kind}/{args.name}", namespace=args.namespace, limit="20").get("items", [])
    meta, spec, status = item["metadata"], item["spec"], item.get("status") or {}
    lines = [f"Name:               {meta['name']}", f"Namespace:          {meta['namespace']}",
             f"Labels:             {','.join(f'{k}={v}' for k, v in meta.get('labels', {}).items()) or '<none>'}",
             f"CreationTimestamp:  {meta.get('creationTimestamp')}", f"Generation:         {meta.get('generation')}"]
    if kind == "Workload":
        target = spec["target"]
        lines += [f"Reference:          {workload_row(item)[1]} (cluster {target['cluster']}, {target.get('launchType', 'FARGATE')})",
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
        lines.append(f"Replicas:           {status.get('currentReplicas', '<unknown>')} current / {status.get('desiredReplicas', '<unknown>')} desired")
    else:
        lines += [f"Provider:           {nodepool_row(item)[1]}", f"Instance:           {nodepool_row(item)[2]}",
                  f"Nodes:              min {spec.get('minNodes', 0)}, max {spec['maxNodes']}, "
                  f"remove after {spec.get('scaleDownUnneededSeconds', 600)}s unneeded",
                  f"Nodes now:          {status.get('currentNodes', '<unknown>')} current / {status.get('desiredNodes', '<unknown>')} desired"]
    lines += _decision_lines(kind, status)
    conditions = status.get("conditions", [])
    lines.append("Conditions:" + ("" if conditions else "         <none>"))
    if conditions:
        lines.append(indent(table([[c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", "")] for c in conditions],
                                   ["Type", "Status", "Reason", "Message"])))
    lines.append("Events:" + ("" if events else "             <none>"))
    if events:
        lines.append(indent(table([[r[1], r[2], r[0], r[4]] for r in event_rows(list(reversed(events)))],
                                   ["Type", "Reason", "Age", "Message"])))
    return "\n".join(lines)


def _decision_lines(kind: str, status: dict) -> list[str]:
    """What the controller saw and decided, in words; the raw status (with its history) is `get -o json`."""
    if not status:
        return ["Decision:           <none yet: the controller has not reconciled this object>"]
    lines = [f"Decision:           {status.get('reason', '<none>')}: {status.get('message', '')}"]
    if kind == "Workload":
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
        lines.append(f"Ready nodes:        {status.get('readyNodes', 0)}; tasks placed: {status.get('tasks', 0)}")
    return lines


def cmd_apply(api: Api, args) -> str:
    results = []
    for manifest in load_manifests(args.filename):
        kind, name = manifest.get("kind"), (manifest.get("metadata") or {}).get("name")
        if kind not in KIND_PATHS:
            raise UsageError(f"{args.filename}: kind must be one of {', '.join(KIND_PATHS)}, got {kind!r}")
        path = KIND_PATHS[kind]
        label = f"{kind.lower()}.ballast.io/{name}"
        try:
            current = api.get(f"{path}/{name}", namespace=args.namespace)
        except ApiError as error:
            if error.code != 404:
                raise _about(error, label)
            current = None
        try:
            if current is None:
                api.request("POST", path, manifest, query={"namespace": args.namespace})
                results.append(f"{label} created")
                continue
            manifest = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
            written = api.request("PUT", f"{path}/{name}", manifest, query={"namespace": args.namespace})
        except ApiError as error:
            raise _about(error, label)
        changed = written["metadata"].get("generation") != current["metadata"].get("generation") or \
            written["metadata"].get("labels") != current["metadata"].get("labels")
        results.append(f"{label} {'configured' if changed else 'unchanged'}")
    return "\n".join(results)


def _about(error: ApiError, label: str) -> ApiError:
    error.message = f"{label}: {error.message}"
    return error


def load_manifests(filename: str) -> list[dict]:
    """YAML or JSON, one document, several (---), or a List with items; errors name the file and line."""
    text = sys.stdin.read() if filename == "-" else Path(filename).read_text()
    try:
        documents = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise UsageError(f"{filename}:{where} not valid YAML or JSON: {getattr(error, 'problem', error)}") from None
    manifests = []
    for document in documents:
        if not isinstance(document, dict):
            raise UsageError(f"{filename}: each document must be a mapping (a manifest), got {type(document).__name__}")
        manifests.extend(document.get("items", []) if document.get("kind") == "List" else [document])
    if not manifests:
        raise UsageError(f"{filename}: no manifests")
    return manifests


def cmd_scale(api: Api, args) -> str:
    if _resource(args.resource) != "workloads":
        raise UsageError("only workloads scale; node pools follow the tasks that need them")
    if args.auto == (args.replicas is not None):
        raise UsageError("give either --replicas N (hold that count) or --auto (hand it back to the autoscaler)")
    if args.auto:
        api.patch(f"/workloads/{args.name}", {"spec": {"replicas": None}})
        return f"workload.ballast.io/{args.name} autoscaled"
    api.put(f"/workloads/{args.name}/scale", {"spec": {"replicas": args.replicas}})
    return f"workload.ballast.io/{args.name} scaled to {args.replicas} (autoscaling paused; --auto resumes it)"


def cmd_delete(api: Api, args) -> str:
    if args.filename:
        targets = [(m.get("kind"), (m.get("metadata") or {}).get("name")) for m in load_manifests(args.filename)]
    elif args.resource and args.name:
        resource = _resource(args.resource)
        if resource == "jobs":
            raise UsageError("jobs go with their image: `ballast rm OP/NAME`")
        targets = [("Workload" if resource == "workloads" else "NodePool", args.name)]
    else:
        raise UsageError("give RESOURCE NAME or -f FILE")
    results = []
    for kind, name in targets:
        if kind not in KIND_PATHS:
            raise UsageError(f"kind must be one of {', '.join(KIND_PATHS)}, got {kind!r}")
        api.request("DELETE", f"{KIND_PATHS[kind]}/{name}", query={"namespace": args.namespace})
        results.append(f"{kind.lower()}.ballast.io/{name} deleted")
    return "\n".join(results)


def cmd_events(api: Api, args) -> str:
    items = api.get("/events", involvedObject=args.involved, namespace=args.namespace, limit=str(args.limit)).get("items", [])
    if args.output:
        return dump(items, args.output)
    return table(event_rows(list(reversed(items))), ["AGE", "TYPE", "REASON", "OBJECT", "MESSAGE"]) if items else "No events."


def _resource(name: str) -> str:
    if name not in RESOURCES:
        raise UsageError(f"unknown resource {name!r}: use workloads, nodepools or jobs")
    return RESOURCES[name]


def add_commands(commands) -> None:
    get = commands.add_parser("get", help="list workloads, nodepools or jobs")
    get.add_argument("resource")
    get.add_argument("name", nargs="?")
    get.add_argument("-o", "--output", choices=("json", "yaml"))
    get.set_defaults(run=cmd_get)

    describe = commands.add_parser("describe", help="spec, status, conditions and recent events of one object")
    describe.add_argument("resource")
    describe.add_argument("name")
    describe.set_defaults(run=cmd_describe)

    apply = commands.add_parser("apply", help="create or update objects from a YAML or JSON file ('-' reads stdin)")
    apply.add_argument("-f", "--filename", required=True)
    apply.set_defaults(run=cmd_apply)

    scale = commands.add_parser("scale", help="hold a workload at N replicas, or hand it back to the autoscaler")
    scale.add_argument("resource")
    scale.add_argument("name")
    scale.add_argument("--replicas", type=int)
    scale.add_argument("--auto", action="store_true")
    scale.set_defaults(run=cmd_scale)

    delete = commands.add_parser("delete", help="delete a workload or nodepool, or the objects of a file")
    delete.add_argument("resource", nargs="?")
    delete.add_argument("name", nargs="?")
    delete.add_argument("-f", "--filename")
    delete.set_defaults(run=cmd_delete)

    events = commands.add_parser("events", help="the controller's decisions, oldest first")
    events.add_argument("--for", dest="involved", help="KIND/NAME, e.g. Workload/photos-thumbnail")
    events.add_argument("--limit", type=int, default=50)
    events.add_argument("-o", "--output", choices=("json", "yaml"))
    events.set_defaults(run=cmd_events)
