"""`ballast patch`, `edit` and `scale`: change one object in place, never over someone else's newer write."""
from __future__ import annotations

import os
import shlex
import subprocess
import tempfile
from pathlib import Path

from ballast import kinds, output
from ballast.api_client import Api, ApiError
from ballast.errors import Failed, UsageError

EDITABLE_METADATA = ("name", "namespace", "labels", "annotations", "resourceVersion")


def _target(args, allowed=("workloads", "nodepools")) -> tuple[str, str, str]:
    resource_name, name = kinds.kind_and_name(args.resource, args.name)
    resource = kinds.resource(resource_name, allowed)
    if not name:
        raise UsageError(f"{args.command} needs a name: ballast {args.command} {resource_name} NAME")
    return resource, kinds.KIND_OF[resource], name


def cmd_patch(api: Api, args) -> str:
    resource, kind, name = _target(args)
    if args.type != "merge":
        raise UsageError(f"--type {args.type}: Ballast takes JSON merge patches (RFC 7386) only: --type merge")
    import yaml

    try:
        body = yaml.safe_load(args.patch)  # JSON is YAML: one parser takes both spellings
    except yaml.YAMLError:
        body = None
    if not isinstance(body, dict):
        raise UsageError(f"-p must be a JSON (or YAML) object, e.g. '{{\"spec\": {{\"maxReplicas\": 8}}}}', got {args.patch!r}")
    before = api.get(f"/{resource}/{name}", namespace=args.namespace)
    after = api.patch(f"/{resource}/{name}", body, namespace=args.namespace)
    changed = after["metadata"]["resourceVersion"] != before["metadata"]["resourceVersion"] and (
        after["spec"] != before["spec"] or after["metadata"].get("labels") != before["metadata"].get("labels")
        or after["metadata"].get("annotations") != before["metadata"].get("annotations"))
    return f"{kinds.QUALIFIED[kind]}/{name} {'patched' if changed else 'patched (no change)'}"


def cmd_edit(api: Api, args) -> str:
    """kubectl edit: the object in $EDITOR; saved changes are a replace conditional on the version opened."""
    resource, kind, name = _target(args)
    current = api.get(f"/{resource}/{name}", namespace=args.namespace)
    editable = {"apiVersion": current["apiVersion"], "kind": kind,
                "metadata": {k: v for k, v in current["metadata"].items() if k in EDITABLE_METADATA},
                "spec": current["spec"]}
    header = (f"# Edit {kinds.QUALIFIED[kind]}/{name}; save and quit to apply, or quit without saving to cancel.\n"
              f"# It is replaced only if still at resourceVersion {current['metadata']['resourceVersion']}.\n")
    text = header + output.dump(editable, "yaml") + "\n"
    edited = _run_editor(text, name)
    if edited.strip() == text.strip():
        return "Edit cancelled, no changes made."
    import yaml

    try:
        body = yaml.safe_load(edited)
    except yaml.YAMLError as error:
        kept = _keep(edited, name)
        raise UsageError(f"the edit is not valid YAML ({getattr(error, 'problem', error)}); it is saved in {kept}") from None
    if not isinstance(body, dict):
        raise UsageError(f"the edit must stay a manifest (a mapping); it is saved in {_keep(edited, name)}")
    body.setdefault("metadata", {})["resourceVersion"] = current["metadata"]["resourceVersion"]
    try:
        api.put(f"/{resource}/{name}", body, namespace=args.namespace)
    except ApiError as error:
        kept = _keep(edited, name)
        if error.code == 409:
            raise Failed(f"{kinds.QUALIFIED[kind]}/{name} changed since it was opened ({error.message}); your edit is "
                         f"saved in {kept}: `ballast apply -f {kept}` after looking at the new version") from None
        raise Failed(f"{error}; your edit is saved in {kept}") from None
    return f"{kinds.QUALIFIED[kind]}/{name} edited"


def _run_editor(text: str, name: str) -> str:
    editor = os.environ.get("BALLAST_EDITOR") or os.environ.get("KUBE_EDITOR") or os.environ.get("EDITOR") or "vi"
    with tempfile.NamedTemporaryFile("w", suffix=f"-{name}.yaml", prefix="ballast-edit-", delete=False) as handle:
        handle.write(text)
    path = Path(handle.name)
    try:
        try:
            finished = subprocess.run([*shlex.split(editor), str(path)])
        except FileNotFoundError:
            raise UsageError(f"the editor {editor!r} was not found: set EDITOR (or BALLAST_EDITOR)") from None
        if finished.returncode != 0:
            raise Failed(f"the editor {editor!r} exited with {finished.returncode}; nothing was changed")
        return path.read_text()
    finally:
        path.unlink(missing_ok=True)


def _keep(text: str, name: str) -> str:
    with tempfile.NamedTemporaryFile("w", suffix=f"-{name}.yaml", prefix="ballast-edit-", delete=False) as handle:
        handle.write(text)
    return handle.name


def cmd_scale(api: Api, args) -> str:
    _, _, name = _target(args, ("workloads",))
    if args.auto == (args.replicas is not None):
        raise UsageError("give either --replicas N (hold that count) or --auto (hand it back to the autoscaler)")
    if args.replicas is not None and args.replicas < 0:
        raise UsageError(f"--replicas must be 0 or more, got {args.replicas}")
    if args.auto:
        api.patch(f"/workloads/{name}", {"spec": {"replicas": None}}, namespace=args.namespace)
        return f"workload.ballast.io/{name} autoscaled"
    api.put(f"/workloads/{name}/scale", {"spec": {"replicas": args.replicas}}, namespace=args.namespace)
    return f"workload.ballast.io/{name} scaled to {args.replicas} (autoscaling paused; --auto resumes it)"


def add_commands(commands) -> None:
    patch = commands.add_parser("patch", help="change fields of an object with a JSON merge patch",
                                description="resources: workloads (wl), nodepools (np)",
                                epilog="examples:\n  ballast patch workload photos-thumbnail -p '{\"spec\": {\"maxReplicas\": 8}}'\n"
                                       "  ballast patch wl/web -p '{\"metadata\": {\"labels\": {\"team\": null}}}'   # null removes")
    kinds.add_object_arguments(patch)
    patch.add_argument("-p", "--patch", required=True, help="the merge patch, JSON (or YAML)")
    patch.add_argument("--type", default="merge", help="merge (the only type Ballast takes)")
    patch.set_defaults(run=cmd_patch)

    edit = commands.add_parser("edit", help="edit an object in $EDITOR; refused if it changed meanwhile",
                               description="resources: workloads (wl), nodepools (np)",
                               epilog="examples:\n  ballast edit workload photos-thumbnail\n"
                                      "  EDITOR=nano ballast edit np/local")
    kinds.add_object_arguments(edit)
    edit.set_defaults(run=cmd_edit)

    scale = commands.add_parser("scale", help="hold a workload at N replicas, or hand it back to the autoscaler",
                                description="resources: workloads (wl)",
                                epilog="examples:\n  ballast scale workload photos-thumbnail --replicas 3\n"
                                       "  ballast scale wl/photos-thumbnail --auto")
    kinds.add_object_arguments(scale, "workloads (wl)")
    scale.add_argument("--replicas", type=int)
    scale.add_argument("--auto", action="store_true")
    scale.set_defaults(run=cmd_scale)
