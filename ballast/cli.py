"""`ballast`: kubectl for Ballast's API server (workloads, node pools, events, images), over SigV4-signed HTTP.

    export BALLAST_API_URL=https://…/api     # from `chalice deploy`, or printed by `ballast up` for the local runtime
    ballast get workloads
    ballast describe workload photos-thumbnail
    ballast apply -f workloads.yaml
    ballast scale workload photos-thumbnail --replicas 3     (--auto hands it back to the autoscaler)
    ballast upload photos/ --op thumbnail
"""
from __future__ import annotations

import argparse
import json
import mimetypes
import os
import sys
import threading
import time
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor, as_completed
from datetime import datetime, timezone
from pathlib import Path

import yaml

from ballast.api_client import Api, ApiError

RESOURCES = {"workload": "workloads", "workloads": "workloads", "wl": "workloads",
             "nodepool": "nodepools", "nodepools": "nodepools", "np": "nodepools",
             "job": "jobs", "jobs": "jobs", "image": "jobs", "images": "jobs"}
KIND_PATHS = {"Workload": "/workloads", "NodePool": "/nodepools"}
UPLOAD_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


class UsageError(Exception):
    """A command line that cannot be run: the message says what to change."""


# ---- formatting ---------------------------------------------------------------------------------------------------


def age(stamp: str | None, now: datetime | None = None) -> str:
    """kubectl's AGE: the largest unit or two, e.g. 45s, 3m12s, 2h5m, 4d."""
    if not stamp:
        return "<unknown>"
    seconds = int(((now or datetime.now(timezone.utc)) - datetime.fromisoformat(stamp)).total_seconds())
    if seconds < 120:
        return f"{max(seconds, 0)}s"
    minutes, hours, days = seconds // 60, seconds // 3600, seconds // 86400
    if hours < 1:
        return f"{minutes}m{seconds % 60}s" if minutes < 10 else f"{minutes}m"
    if days < 1:
        return f"{hours}h{minutes % 60}m" if hours < 10 else f"{hours}h"
    return f"{days}d"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(cell)) for cell in column) for column in zip(header, *rows)]
    return "\n".join("   ".join(str(cell).ljust(width) for cell, width in zip(row, widths)).rstrip() for row in [header, *rows])


def dump(document: object, output: str) -> str:
    return json.dumps(document, indent=2) if output == "json" else yaml.safe_dump(document, sort_keys=False)


def workload_row(item: dict) -> list[str]:
    spec, status, meta = item["spec"], item.get("status") or {}, item["metadata"]
    target = spec["target"]
    reference = f"ECSService/{target.get('service')}" if target["kind"] == "ECSService" else f"Deployment/{target.get('namespace')}/{target.get('name')}"
    metrics = ",".join(_metric_summaries(spec, status))
    replicas = f"{status.get('currentReplicas', 0)}"
    if spec.get("replicas") is not None:
        replicas += " (paused)"
    return [meta["name"], reference, metrics or "<none>", str(spec.get("minReplicas", 1)), str(spec["maxReplicas"]),
            str(status.get("desiredReplicas", "<unknown>")), replicas, age(meta.get("creationTimestamp"))]


def _metric_summaries(spec: dict, status: dict) -> list[str]:
    """kubectl's TARGETS, current/target per metric; the controller writes status.currentMetrics in the spec's order."""
    metrics = spec.get("metrics", [])
    currents = status.get("currentMetrics") or []
    if len(currents) != len(metrics):  # not reconciled yet, or since the spec changed
        currents = [{}] * len(metrics)
    return [_metric_summary(metric, current) for metric, current in zip(metrics, currents)]


def _metric_summary(metric: dict, current: dict) -> str:
    kind = metric["type"]
    now = (current.get(kind.lower()) or {}).get("current") or {}
    if kind == "Backlog":
        return f"{_shown(now.get('averageValue'))}/{_number(metric['backlog']['targetPerReplica'])} (backlog/replica)"
    if kind == "Resource":
        target = metric["resource"]["target"]
        if target["type"] == "Utilization":
            return f"{metric['resource']['name']}: {_shown(now.get('averageUtilization'), '%')}/{target['averageUtilization']}%"
        return f"{metric['resource']['name']}: {_shown(now.get('averageValue'))}/{_number(target['averageValue'])}"
    if kind == "Deadline":
        return f"{_shown(now.get('value'))} queued/drain within {metric['deadline']['seconds']}s"
    target = metric["external"]["target"]
    if target["type"] == "AverageValue":
        return f"{metric['external']['metric']['name']}: {_shown(now.get('averageValue'))}/{_number(target['averageValue'])} (avg)"
    return f"{metric['external']['metric']['name']}: {_shown(now.get('value'))}/{_number(target['value'])}"


def _shown(value, unit: str = "") -> str:
    return "<unknown>" if value is None else f"{_number(value)}{unit}"


def _number(value) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def nodepool_row(item: dict) -> list[str]:
    spec, status, meta = item["spec"], item.get("status") or {}, item["metadata"]
    provider = spec["provider"]
    group = provider.get("autoScalingGroupName") or provider.get("nodegroup") or "-"
    instance = spec["instance"]
    shape = f"{instance.get('type') or '-'} {instance['cpuMillicores']}m/{instance['memoryMiB']}Mi"
    return [meta["name"], f"{provider['kind']}/{group}", shape, str(spec.get("minNodes", 0)), str(spec["maxNodes"]),
            str(status.get("desiredNodes", "<unknown>")), str(status.get("currentNodes", "<unknown>")), age(meta.get("creationTimestamp"))]


def job_row(item: dict) -> list[str]:
    return [item["jobId"] or "-", item["op"], item["name"], item["phase"] or "-", item.get("reason") or "", age(item.get("uploadedAt"))]


def event_rows(items: list[dict]) -> list[list[str]]:
    return [[age(e["time"]), e.get("type", ""), e["reason"], f"{e['involvedObject']['kind']}/{e['involvedObject']['name']}", e["message"]]
            for e in items]


# ---- commands -----------------------------------------------------------------------------------------------------


def cmd_get(api: Api, args) -> str:
    resource = _resource(args.resource)
    if resource == "jobs":
        items = _all_pages(api, "/images")
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
        lines += [f"  {summary}" for summary in _metric_summaries(spec, status)]
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
        lines.append(_indent(table([[c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("message", "")] for c in conditions],
                                   ["Type", "Status", "Reason", "Message"])))
    lines.append("Events:" + ("" if events else "             <none>"))
    if events:
        lines.append(_indent(table([[r[1], r[2], r[0], r[4]] for r in event_rows(list(reversed(events)))],
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


def cmd_upload(api: Api, args) -> str:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    root = Path(args.directory)
    files = sorted(p for p in (root.rglob("*") if root.is_dir() else [root]) if p.is_file() and p.suffix.lower() in UPLOAD_TYPES)
    if not files:
        raise UsageError(f"no .jpg, .jpeg or .png files under {root}")
    failures: list[str] = []
    lock = threading.Lock()

    def send(path: Path) -> None:
        data = path.read_bytes()
        grant = api.post("/images", {"op": args.op, "name": path.name, "contentType": UPLOAD_TYPES[path.suffix.lower()], "size": len(data)})
        post_form(grant["url"], grant["fields"], path.name, data)

    columns = (TextColumn("uploading"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=args.quiet, transient=False) as progress, ThreadPoolExecutor(args.concurrency) as pool:
        bar = progress.add_task("upload", total=len(files))
        futures = {pool.submit(send, path): path for path in files}
        for future in as_completed(futures):
            try:
                future.result()
            except (ApiError, OSError) as error:
                with lock:
                    failures.append(f"{futures[future].name}: {error}")
            progress.advance(bar)
    lines = [f"uploaded {len(files) - len(failures)} of {len(files)} images to {args.op}"] + [f"  failed {f}" for f in failures]
    if failures:
        raise UsageError("\n".join(lines))
    return lines[0]


def post_form(url: str, fields: dict[str, str], filename: str, data: bytes) -> None:
    """A browser-style multipart POST of a presigned S3 form: the fields first, the file last, as S3 requires."""
    boundary = uuid.uuid4().hex
    parts = [f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'.encode() for k, v in fields.items()]
    content_type = fields.get("Content-Type") or mimetypes.guess_type(filename)[0] or "application/octet-stream"
    parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="{filename}"\r\n'
                 f"Content-Type: {content_type}\r\n\r\n".encode() + data + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    request = urllib.request.Request(url, data=b"".join(parts), method="POST",
                                     headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    with urllib.request.urlopen(request, timeout=120) as response:
        response.read()


def cmd_download(api: Api, args) -> str:
    targets = [_image_ref(ref) for ref in args.images]
    if args.all:
        targets += [(i["op"], i["name"]) for i in _all_pages(api, "/images") if i["phase"] == "Done"]
    if not targets:
        raise UsageError("name images as OP/NAME, or give --all")
    out = Path(args.dir)
    lines = []
    for op, name in targets:
        image = api.get(f"/images/{op}/{name}")
        which = image["original"] if args.original else image.get("output")
        if not which:
            lines.append(f"{op}/{name}: no output yet (phase {image.get('phase')}{', ' + image['reason'] if image.get('reason') else ''})")
            continue
        path = out / ("input" if args.original else "output") / op / name
        path.parent.mkdir(parents=True, exist_ok=True)
        with urllib.request.urlopen(which["url"], timeout=120) as response:
            path.write_bytes(response.read())
        lines.append(f"{op}/{name} → {path}")
    return "\n".join(lines)


def cmd_rm(api: Api, args) -> str:
    lines = []
    for op, name in (_image_ref(ref) for ref in args.images):
        deleted = api.delete(f"/images/{op}/{name}")["deleted"]
        lines.append(f"{op}/{name} deleted (original, output, {deleted['jobs']} job(s))")
    return "\n".join(lines)


def cmd_up(args) -> str:
    """The local runtime without a batch: the API server, the pump and the agent, until Ctrl-C."""
    from local.runtime import Runtime

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # The handlers' logs go where CloudWatch Logs would keep them; the terminal keeps the address.
    sys.stdout = open(out / "lambda.log", "a", buffering=1)
    runtime = Runtime(out).start()
    try:
        print(f"local runtime up: API server {runtime.api_url}, moto {runtime.moto.endpoint}\n"
              f"  export BALLAST_API_URL={runtime.api_url} AWS_ENDPOINT_URL={runtime.moto.endpoint}\n"
              f"Ctrl-C stops it.", file=sys.__stdout__, flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        return "stopped"
    finally:
        runtime.stop()


def _image_ref(ref: str) -> tuple[str, str]:
    op, sep, name = ref.partition("/")
    if not sep or not name:
        raise UsageError(f"images are named OP/NAME (e.g. thumbnail/cat.jpg), got {ref!r}")
    return op, name


def _all_pages(api: Api, path: str) -> list[dict]:
    items, token = [], None
    while True:
        page = api.get(path, limit="500", **{"continue": token})
        items += page.get("items", [])
        token = page.get("continue")
        if not token:
            return items


def _resource(name: str) -> str:
    if name not in RESOURCES:
        raise UsageError(f"unknown resource {name!r}: use workloads, nodepools or jobs")
    return RESOURCES[name]


def _indent(text: str) -> str:
    return "\n".join("  " + line for line in text.splitlines())


# ---- the command line ---------------------------------------------------------------------------------------------


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="ballast", description=__doc__.splitlines()[0])
    root.add_argument("--endpoint", default=os.environ.get("BALLAST_API_URL"), help="the API's URL (default: $BALLAST_API_URL)")
    root.add_argument("--region", default=None, help="for signing (default: the AWS configuration's)")
    root.add_argument("-n", "--namespace", default="default")
    commands = root.add_subparsers(dest="command", required=True)

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

    upload = commands.add_parser("upload", help="upload a directory's photos for one operation")
    upload.add_argument("directory")
    upload.add_argument("--op", required=True)
    upload.add_argument("--concurrency", type=int, default=8)
    upload.add_argument("--quiet", action="store_true")
    upload.set_defaults(run=cmd_upload)

    download = commands.add_parser("download", help="download results (or originals) by OP/NAME, or all finished ones")
    download.add_argument("images", nargs="*")
    download.add_argument("--all", action="store_true")
    download.add_argument("--original", action="store_true")
    download.add_argument("-d", "--dir", default=".")
    download.set_defaults(run=cmd_download)

    rm = commands.add_parser("rm", help="delete images: original, output and jobs")
    rm.add_argument("images", nargs="+")
    rm.set_defaults(run=cmd_rm)

    up = commands.add_parser("up", help="run the local runtime (moto, API server, pump, node agent) until Ctrl-C")
    up.add_argument("--out", default="out")
    up.set_defaults(run=None)
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        if args.command == "up":
            print(cmd_up(args))
            return 0
        if not args.endpoint:
            raise UsageError("no API server: pass --endpoint or set BALLAST_API_URL (`ballast up` prints one for the local runtime)")
        output = args.run(Api(args.endpoint, args.region), args)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except ApiError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    if output:
        print(output)
    return 0


if __name__ == "__main__":
    sys.exit(main())
