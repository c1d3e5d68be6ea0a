"""`ballast apply`, `diff` and `delete -f`: manifests (Ballast's own, HPAs, ScaledObjects) written through the API."""
from __future__ import annotations

import argparse
import difflib
import sys

from ballast import kinds, output
from ballast.api_client import Api, ApiError
from ballast.errors import Failed, UsageError
from ballast.manifests import documents, validate
from ballast.manifests.findings import Finding, Translation, INVALID
from ballast.manifests.kubernetes import Context
from ballast.manifests.translate import OWN_KINDS, translate

APPLY_EXAMPLES = """examples:
  ballast apply -f workload.yaml                 # created / configured / unchanged
  ballast apply -f hpa.yaml --cluster prod       # a HorizontalPodAutoscaler becomes a Workload scaling its Deployment
  ballast apply -f scaledobject.yaml --dry-run=client > workload.yaml   # the Workload it would create, written nowhere
  ballast apply -f manifests/                    # every .yaml, .yml and .json file of a directory
  kubectl get hpa -o yaml | ballast apply -f -

Every field of an HPA or ScaledObject is translated, noted (harmless for Ballast) or refused with its path and why;
while anything is refused, nothing is applied."""


def prepare(api: Api, args, server_checks: bool) -> list[Translation]:
    """The manifests of -f, translated and checked; every refusal of every document before any write, or none."""
    context = Context.from_flags(args.cluster, api.region if server_checks else args.region)
    translations = [translate(document, context) for document in documents.load(args.filename)]
    if server_checks and not any(t.blocking for t in translations):
        schemas = _schemas(api)
        for t in translations:
            if t.workload.get("kind") in OWN_KINDS:
                t.findings += validate.problems(t.workload, schemas)
    seen: dict[tuple, str] = {}
    for t in translations:
        key = (t.workload.get("kind"), (t.workload.get("metadata") or {}).get("name"))
        if key in seen and not t.blocking:
            t.findings.append(Finding(INVALID, "metadata.name", f"{key[0]} {key[1]} comes from {seen[key]} too"))
        seen.setdefault(key, t.source)
    blocked = [t for t in translations if t.blocking]
    if blocked:
        for t in blocked:
            print(f"{t.source}: cannot be applied:", file=sys.stderr)
            for finding in t.blocking:
                print(f"  {finding.line()}", file=sys.stderr)
        count = sum(len(t.blocking) for t in blocked)
        raise UsageError(f"nothing applied: {count} problem{'s' if count > 1 else ''} in {len(blocked)} of "
                         f"{len(translations)} manifest{'s' if len(translations) > 1 else ''} (listed above)")
    return translations


def _schemas(api: Api) -> dict:
    try:
        return api.get("/openapi.json").get("components", {}).get("schemas", {})
    except ApiError as error:
        if error.code in (403, 404):
            return {}  # an older server, or a caller without the route: the server still validates every write
        raise


def report(t: Translation) -> list[str]:
    """What became of each field of a foreign manifest (nothing for Ballast's own kinds, which go as they are)."""
    if t.source.split("/")[0] in OWN_KINDS:
        return []
    return [f"{t.source} → Workload/{t.workload['metadata']['name']}:"] + [f"  {f.line()}" for f in t.findings]


def cmd_apply(api: Api, args) -> str:
    dry_run = _dry_run(args.dry_run)
    translations = prepare(api, args, server_checks=dry_run != "client")
    if dry_run == "client":
        parts = []
        for t in translations:
            comments = [f"# {line}" for line in report(t)]
            parts.append("\n".join(comments + [output.dump(t.workload, args.output or "yaml")]))
        return ("\n---\n" if (args.output or "yaml") == "yaml" else "\n").join(parts)
    lines: list[str] = []
    for t in translations:
        lines += report(t)
        try:
            lines.append(_write(api, args, t.workload, dry_run == "server"))
        except ApiError as error:
            done = "\n".join(lines)
            raise Failed(f"{_label(t.workload)}: {error}", done) from None
    return "\n".join(lines)


def _label(manifest: dict) -> str:
    return f"{kinds.QUALIFIED[manifest['kind']]}/{manifest['metadata']['name']}"


def _write(api: Api, args, manifest: dict, server_dry_run: bool) -> str:
    path, name = kinds.PATH_OF[manifest["kind"]], manifest["metadata"]["name"]
    query = {"namespace": args.namespace, "dryRun": "All" if server_dry_run else None}
    suffix = " (server dry run)" if server_dry_run else ""
    current = _current(api, path, name, args.namespace)
    if current is None:
        api.request("POST", path, manifest, query=query)
        return f"{_label(manifest)} created{suffix}"
    manifest = {**manifest, "metadata": {**manifest["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}}
    written = api.request("PUT", f"{path}/{name}", manifest, query=query)
    changed = any(written["metadata"].get(k) != current["metadata"].get(k) for k in ("generation", "labels", "annotations"))
    return f"{_label(manifest)} {'configured' if changed else 'unchanged'}{suffix}"


def _current(api: Api, path: str, name: str, namespace: str) -> dict | None:
    try:
        return api.get(f"{path}/{name}", namespace=namespace)
    except ApiError as error:
        if error.code == 404:
            return None
        raise


def _dry_run(value: str | None) -> str | None:
    if value in (None, "none"):
        return None
    if value not in ("client", "server"):
        raise UsageError(f"--dry-run must be client, server or none, got {value!r}")
    return value


def cmd_diff(api: Api, args):
    """kubectl diff: live objects against what apply would make of them; exit 0 the same, 1 different, 2 error."""
    args.dry_run = "server"
    chunks = []
    for t in prepare(api, args, server_checks=True):
        manifest, path = t.workload, kinds.PATH_OF[t.workload["kind"]]
        name = manifest["metadata"]["name"]
        current = _current(api, path, name, args.namespace)
        if current is None:
            merged = api.request("POST", path, manifest, query={"namespace": args.namespace, "dryRun": "All"})
        else:
            merged = api.request("PUT", f"{path}/{name}", {**manifest, "metadata": {
                **manifest["metadata"], "resourceVersion": current["metadata"]["resourceVersion"]}},
                query={"namespace": args.namespace, "dryRun": "All"})
        before, after = _comparable(current), _comparable(merged)
        label = _label(manifest)
        chunks += difflib.unified_diff(before, after, f"live/{label}", f"merged/{label}", lineterm="")
    text = "\n".join(chunks)
    return text, (1 if text else 0)


def _comparable(item: dict | None) -> list[str]:
    if item is None:
        return []
    import yaml

    meta = {k: item["metadata"][k] for k in ("name", "namespace", "labels", "annotations") if item["metadata"].get(k)}
    # Sorted keys: the store keeps specs sorted and a dry run answers in the manifest's order; only values may differ.
    return yaml.safe_dump({"metadata": meta, "spec": item["spec"]}, sort_keys=True, allow_unicode=True).splitlines()


def cmd_delete(api: Api, args) -> str:
    if args.filename:
        # A manifest that could not be applied still names what applying it would have made.
        context = Context.from_flags(args.cluster, args.region)
        translations = [translate(document, context) for document in documents.load(args.filename)]
        unnamed = [t for t in translations if any(f.path in ("kind", "apiVersion", "metadata.name") for f in t.blocking)]
        if unnamed:
            raise UsageError(f"{unnamed[0].source}: " + "; ".join(f.line() for f in unnamed[0].blocking))
        targets = [(t.workload["kind"], t.workload["metadata"]["name"]) for t in translations]
    elif args.resource:
        resource_name, name = kinds.kind_and_name(args.resource, args.name)
        resource = kinds.resource(resource_name, ("workloads", "nodepools"))
        if not name:
            raise UsageError(f"delete needs a name: ballast delete {resource_name} NAME (or -f FILE)")
        targets = [(kinds.KIND_OF[resource], name)]
    else:
        raise UsageError("give RESOURCE NAME or -f FILE")
    lines, failures = [], []
    for kind, name in targets:
        label = f"{kinds.QUALIFIED[kind]}/{name}"
        try:
            api.request("DELETE", f"{kinds.PATH_OF[kind]}/{name}", query={"namespace": args.namespace})
            lines.append(f"{label} deleted")
        except ApiError as error:
            if error.code == 404 and args.ignore_not_found:
                continue
            failures.append(f"{label}: {error}")
    if failures:
        raise Failed("; ".join(failures), "\n".join(lines))
    return "\n".join(lines)


def _add_file_flags(command) -> None:
    command.add_argument("-f", "--filename", required=True, help="a YAML or JSON file, a directory of them, or - for stdin")
    command.add_argument("--cluster", help="the EKS or ECS cluster for HPAs and ScaledObjects (default: their "
                                           "ballast.io/cluster annotation, else $BALLAST_CLUSTER)")


def add_commands(commands) -> None:
    apply = commands.add_parser("apply", help="create or update objects from manifests (Ballast's, HPAs, ScaledObjects)",
                                epilog=APPLY_EXAMPLES, description="kinds: Workload, NodePool (ballast.io/v1); "
                                "HorizontalPodAutoscaler (autoscaling/v2, v2beta2, v1); ScaledObject (keda.sh/v1alpha1)")
    _add_file_flags(apply)
    apply.add_argument("--dry-run", nargs="?", const="client", metavar="client|server",
                       help="client: print the Workloads it would write; server: the API validates and writes nothing")
    apply.add_argument("-o", "--output", choices=("yaml", "json"), help="with --dry-run=client: the format (default yaml)")
    apply.set_defaults(run=cmd_apply)

    diff = commands.add_parser("diff", help="what apply -f would change, as a unified diff (exit 1 when it differs)",
                               epilog="examples:\n  ballast diff -f workload.yaml\n  ballast diff -f hpa.yaml --cluster prod")
    _add_file_flags(diff)
    diff.set_defaults(run=cmd_diff)

    delete = commands.add_parser("delete", help="delete a workload or nodepool, or the objects of manifests",
                                 description="resources: workloads (wl), nodepools (np)",
                                 epilog="examples:\n  ballast delete workload photos-thumbnail\n  ballast delete wl/web\n"
                                        "  ballast delete -f hpa.yaml          # the Workload translated from it")
    kinds.add_object_arguments(delete, required=False)
    delete.add_argument("-f", "--filename", help="a YAML or JSON file, a directory of them, or - for stdin")
    delete.add_argument("--cluster", help=argparse.SUPPRESS)  # read by the translation that names the Workload
    delete.add_argument("--ignore-not-found", action="store_true", help="a missing object is not an error")
    delete.set_defaults(run=cmd_delete)

