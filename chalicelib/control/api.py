"""The API server's use cases (DESIGN.md "API λ"): Workload and NodePool CRUD, status, scale and events over the store."""
from __future__ import annotations

import copy
import json
import re
from datetime import datetime, timedelta, timezone
from functools import lru_cache

import fastjsonschema

from chalicelib import schema, spec
from chalicelib.adapters.stats import STATS_TTL_S
from chalicelib.adapters.store import Store
from chalicelib.control.record import POOL_SAMPLE, WORKLOAD_SAMPLE
from chalicelib.errors import Conflict, NotFound, SpecError
from chalicelib.model import claims

DNS1123 = re.compile(schema.DNS1123_LABEL["pattern"])
MAX_LIMIT = 500
EVENTS_LIMIT = 100
EVENT_TYPES = ("Normal", "Warning")
SCALE_REASONS = ("SuccessfulRescale", "TriggeredScaleUp", "ScaleDown")  # the workload's and its pools' resizes
DURATION = re.compile(r"(?P<amount>\d{1,6})(?P<unit>[smhd])")
DURATION_UNITS_S = {"s": 1, "m": 60, "h": 3600, "d": 86400}
STATS_KEPT = timedelta(seconds=STATS_TTL_S)  # the stats items' TTL: nothing older is left to read
# Fields the server owns: a client may echo them back from a GET, but they are never taken from a request.
SERVER_METADATA = ("uid", "generation", "creationTimestamp")
# A delete or a patch without a precondition re-reads this often when the object moved between its read and its write.
WRITE_ATTEMPTS = 3


# ---- request values ------------------------------------------------------------------------------


def check_name(field: str, value: str | None) -> str:
    if not isinstance(value, str) or len(value) > 63 or not DNS1123.match(value):
        raise SpecError(field, f"must be a DNS-1123 label (lower-case letters, digits and '-', at most 63), got {value!r}")
    return value


def namespace_of(query: dict) -> str:
    return check_name("namespace", query.get("namespace", "default"))


def parse_selector(selector: str | None) -> dict[str, str]:
    """Kubernetes equality-based label selectors: `a=b,c==d`; set-based ones are refused, not half-applied."""
    labels: dict[str, str] = {}
    for term in filter(None, (t.strip() for t in (selector or "").split(","))):
        key, sep, value = term.replace("==", "=").partition("=")
        if not sep or not key or "!" in key or "=" in value:
            raise SpecError("labelSelector", f"must be key=value terms separated by ',', got {term!r}")
        labels[key.strip()] = value.strip()
    return labels


def parse_limit(value: str | None) -> int | None:
    if value is None:
        return None
    if not value.isdigit() or not 1 <= int(value) <= MAX_LIMIT:
        raise SpecError("limit", f"must be an integer from 1 to {MAX_LIMIT}, got {value!r}")
    return int(value)


def parse_body(raw: bytes | None) -> object:
    """The request's JSON document, or None without a body; malformed JSON is a SpecError on `body`."""
    if not raw:
        return None
    try:
        return json.loads(raw)
    except ValueError as error:  # UnicodeDecodeError is a ValueError too
        raise SpecError("body", f"must be valid JSON ({error})") from None


def merge_patch(target: object, patch: object) -> object:
    """RFC 7386: objects merge key by key, null deletes a key, anything else replaces the target."""
    if not isinstance(patch, dict):
        return copy.deepcopy(patch)
    merged = dict(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            merged.pop(key, None)
        else:
            merged[key] = merge_patch(merged.get(key), value)
    return merged


def unknown_resource(resource: str, paths: list[str]) -> None:
    """NotFound listing the collections the API does serve (the first segments of the route `paths`)."""
    served = sorted({path.split("/")[1] for path in paths if not path.startswith("/{")})
    raise NotFound(f"the server could not find the requested resource {resource!r}; it serves {', '.join(served)}")


# ---- Workload and NodePool -----------------------------------------------------------------------


def list_objects(store: Store, kind: str, namespace: str, query: dict) -> dict:
    labels, limit = parse_selector(query.get("labelSelector")), parse_limit(query.get("limit"))
    if query.get("allNamespaces") not in (None, "true", "false"):
        raise SpecError("allNamespaces", f"must be true or false, got {query['allNamespaces']!r}")
    if query.get("allNamespaces") == "true":
        if query.get("continue"):
            raise SpecError("continue", "is not offered with allNamespaces=true, which answers with every object at once")
        items = [i for i in store.list_every_namespace(kind) if all(i["metadata"]["labels"].get(k) == v for k, v in labels.items())]
        return {"apiVersion": schema.API_VERSION, "kind": f"{kind}List", "metadata": {"continue": None}, "items": items}
    try:
        items, token = store.list(kind, namespace, labels, limit, query.get("continue"))
    except Conflict as error:
        # The only conflict a list raises is a token it cannot resume from: the request is wrong, not the data.
        raise SpecError("continue", error.message) from None
    return {"apiVersion": schema.API_VERSION, "kind": f"{kind}List", "metadata": {"continue": token}, "items": items}


def is_dry_run(query: dict) -> bool:
    """Kubernetes' `?dryRun=All`: validate, default and answer with the object as written, but write nothing."""
    value = query.get("dryRun")
    if value not in (None, "All"):
        raise SpecError("dryRun", f"must be 'All' (the only dry-run mode Kubernetes has), got {value!r}")
    return value == "All"


def create(store: Store, kind: str, namespace: str, body: object, dry_run: bool = False) -> dict:
    """Creates the object and, in the same write, claims what it owns: a second Workload for one target is a 409."""
    manifest = _manifest(kind, namespace, body)
    if "resourceVersion" in manifest["metadata"]:
        raise SpecError("metadata.resourceVersion", "must not be set on create")
    if dry_run:
        try:
            store.get(kind, namespace, manifest["metadata"]["name"])
        except NotFound:
            store.check_claims(claims(kind, manifest), None)
            return {**manifest, "metadata": {**manifest["metadata"], "generation": 1}, "status": {}}
        raise Conflict(f"{kind} {namespace}/{manifest['metadata']['name']} already exists")
    return store.create(manifest, claims(kind, manifest))


def get(store: Store, kind: str, namespace: str, name: str) -> dict:
    return store.get(kind, namespace, check_name("name", name))


def replace(store: Store, kind: str, namespace: str, name: str, body: object, dry_run: bool = False) -> dict:
    """PUT: the whole spec; conditional on metadata.resourceVersion when the body carries one (as kubectl replace)."""
    check_name("name", name)
    manifest = _manifest(kind, namespace, body)
    if manifest["metadata"]["name"] != name:
        raise SpecError("metadata.name", f"must match the name in the URL ({name!r}), got {manifest['metadata']['name']!r}")
    current = store.get(kind, namespace, name)
    if dry_run:
        store.check_claims(claims(kind, manifest), current["metadata"]["uid"])
        return _as_replaced(current, manifest, manifest["metadata"].get("resourceVersion"))
    return store.replace(manifest, manifest["metadata"].get("resourceVersion"), current=current,
                         claims=claims(kind, manifest), released=claims(kind, current))


def _as_replaced(current: dict, manifest: dict, version: str | None) -> dict:
    """What a replace would leave, for a dry run: the write's precondition is checked, nothing is written."""
    meta = current["metadata"]
    if version is not None and version != meta["resourceVersion"]:
        raise Conflict(f"{current['kind']} {meta['namespace']}/{meta['name']} was modified (resourceVersion is now "
                       f"{meta['resourceVersion']}); read it again and retry")
    written = {key: value for key, value in meta.items() if key not in ("labels", "annotations")}
    written.update({key: manifest["metadata"][key] for key in ("labels", "annotations") if manifest["metadata"].get(key)})
    written["generation"] = meta["generation"] + (manifest["spec"] != current["spec"])
    return {**current, "metadata": written, "spec": manifest["spec"]}


def patch(store: Store, kind: str, namespace: str, name: str, body: object, dry_run: bool = False,
          claims_kept: bool = False) -> dict:
    """JSON merge patch: read, merge, validate, write conditional on the version read (or the one sent).

    A patch that pins no resourceVersion applies to whatever is current, as the Kubernetes API server's: a write
    that loses to another (the controller records status every tick) reads again and merges again. A caller that
    changes nothing a claim is made of (the scale subresource: replicas only) says so with claims_kept, and the write
    is one plain conditional update rather than a transaction with the claims.
    """
    check_name("name", name)
    if not isinstance(body, dict):
        raise SpecError("body", "must be a JSON object (a merge patch)")
    for attempt in range(WRITE_ATTEMPTS):
        current = store.get(kind, namespace, name)
        merged = merge_patch(_writable(current), {k: v for k, v in body.items() if k != "status"})
        meta = merged.get("metadata") if isinstance(merged.get("metadata"), dict) else {}
        for field, want in (("name", name), ("namespace", namespace)):
            if meta.get(field) != want:
                raise SpecError(f"metadata.{field}", f"cannot be changed by a patch (is {want!r})")
        manifest = spec.parse_spec(kind, merged)
        # parse_spec checked the patch's metadata.resourceVersion (if any): a client may pin the patch to what it read.
        pinned = manifest["metadata"].get("resourceVersion")
        version = pinned or current["metadata"]["resourceVersion"]
        if dry_run:
            store.check_claims(claims(kind, manifest), current["metadata"]["uid"])
            return _as_replaced(current, manifest, version)
        owned = {} if claims_kept else {"claims": claims(kind, manifest), "released": claims(kind, current)}
        try:
            return store.replace(manifest, version, current=current, **owned)
        except Conflict:
            if pinned is not None or attempt == WRITE_ATTEMPTS - 1:
                raise


def delete(store: Store, kind: str, namespace: str, name: str, resource_version: str | None, body: object) -> dict:
    """The precondition comes from ?resourceVersion= or a DeleteOptions body's preconditions.resourceVersion."""
    check_name("name", name)
    if body is not None:
        preconditions = body.get("preconditions", {}) if isinstance(body, dict) else None
        if not isinstance(preconditions, dict):
            raise SpecError("preconditions", "must be an object like {\"resourceVersion\": \"3\"}")
        resource_version = resource_version or preconditions.get("resourceVersion")
    if resource_version is not None and not str(resource_version).isdigit():
        raise SpecError("resourceVersion", f"must be a string of digits, got {resource_version!r}")
    for attempt in range(WRITE_ATTEMPTS):
        # The claims released are the ones of the version deleted: read it, and delete exactly that version.
        current = store.get(kind, namespace, name)
        version = str(resource_version) if resource_version is not None else current["metadata"]["resourceVersion"]
        try:
            store.delete(kind, namespace, name, version, released=claims(kind, current), uid=current["metadata"]["uid"])
            break
        except Conflict:
            if resource_version is not None or attempt == WRITE_ATTEMPTS - 1:
                raise
    return {"apiVersion": "v1", "kind": "Status", "status": "Success",
            "details": {"name": name, "kind": kind.lower() + "s", "namespace": namespace}}


def _manifest(kind: str, namespace: str, body: object) -> dict:
    """A validated manifest for `namespace`; a client-sent status is dropped, as Kubernetes does with a status subresource."""
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k != "status"}
        meta = body.get("metadata")
        if isinstance(meta, dict):
            if meta.get("namespace", namespace) != namespace:
                raise SpecError("metadata.namespace", f"must match the request's namespace ({namespace!r}), got {meta['namespace']!r}")
            body["metadata"] = {**{k: v for k, v in meta.items() if k not in SERVER_METADATA}, "namespace": namespace}
    return spec.parse_spec(kind, body)


def _writable(stored: dict) -> dict:
    meta = stored["metadata"]
    writable = {key: meta[key] for key in ("name", "namespace", "labels", "annotations") if key in meta}
    return {"apiVersion": stored["apiVersion"], "kind": stored["kind"], "spec": stored["spec"], "metadata": writable}


# ---- subresources and events ---------------------------------------------------------------------


def get_status(store: Store, namespace: str, name: str) -> dict:
    """As GET .../status in Kubernetes: the whole object, whose status only the controller writes."""
    return get(store, "Workload", namespace, name)


def get_scale(store: Store, namespace: str, name: str) -> dict:
    return _scale(get(store, "Workload", namespace, name))


def replace_scale(store: Store, namespace: str, name: str, body: object) -> dict:
    """Sets spec.replicas, which holds the count and pauses autoscaling until a patch sets it to null (KEDA's paused-replicas)."""
    check_name("name", name)
    try:
        _scale_validator()(body)
    except fastjsonschema.JsonSchemaValueException as error:
        path = error.name.removeprefix("data").lstrip(".") or "body"
        raise SpecError(path, error.message.removeprefix(error.name).strip()) from None
    version = body.get("metadata", {}).get("resourceVersion")
    if version is not None and not str(version).isdigit():
        raise SpecError("metadata.resourceVersion", f"must be a string of digits, got {version!r}")
    pinned = {"metadata": {"resourceVersion": str(version)}} if version is not None else {}
    return _scale(patch(store, "Workload", namespace, name, {**pinned, "spec": {"replicas": body["spec"]["replicas"]}},
                        claims_kept=True))


@lru_cache(maxsize=None)
def _scale_validator():
    return fastjsonschema.compile(schema.SCALE)


def _scale(workload: dict) -> dict:
    meta, status = workload["metadata"], workload["status"]
    paused = workload["spec"].get("replicas")
    # Until the controller's first decision there is no desired count: 0 says "nothing asked for yet".
    desired = paused if paused is not None else status.get("desiredReplicas", 0)
    return {
        "apiVersion": schema.API_VERSION,
        "kind": "Scale",
        "metadata": {k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")},
        "spec": {"replicas": desired},
        "status": {"replicas": status.get("currentReplicas", 0), "paused": paused is not None},
    }


def get_stats(store: Store, namespace: str, name: str, query: dict, now: datetime) -> dict:
    """A workload's per-minute work stats (arrived, done, failed, busyMs, queueMs), oldest first, from `since` on."""
    get(store, "Workload", namespace, name)
    since = parse_since(query.get("since"), now)
    return {"apiVersion": schema.API_VERSION, "kind": "WorkloadStats",
            "metadata": {"name": name, "namespace": namespace}, "since": since.isoformat(),
            "items": store.read_stats(name, since, namespace)}


def parse_since(value: str | None, now: datetime) -> datetime:
    """`since` as a duration back from now (90s, 15m, 24h) or an ISO 8601 time with its zone; one hour by default."""
    if value is None:
        return now - timedelta(hours=1)
    match = DURATION.fullmatch(value)
    if match:
        since = now - timedelta(seconds=int(match["amount"]) * DURATION_UNITS_S[match["unit"]])
    else:
        try:
            since = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise SpecError("since", f"must be a duration (90s, 15m, 24h) or an ISO 8601 time, got {value!r}") from None
        if since.tzinfo is None:
            raise SpecError("since", f"an ISO 8601 time needs its zone (Z or +00:00), got {value!r}")
    if since < now - STATS_KEPT:
        raise SpecError("since", f"stats are kept for {STATS_KEPT.total_seconds() / 3600:g} hours, got {value!r}")
    return since


def get_series(store: Store, namespace: str, name: str, query: dict, now: datetime) -> dict:
    """A workload's recent past as the console charts it, oldest first: its replicas and backlog and its node pools'
    nodes as step series (from status.samples, which keep the last hour), the per-minute stats, the scale events."""
    workload = get(store, "Workload", namespace, name)
    since = parse_since(query.get("since"), now)
    pools = {}
    for pool in workload["spec"].get("nodePools", []):
        try:
            pools[pool] = _steps(store.get("NodePool", namespace, pool)["status"].get("samples"), POOL_SAMPLE, since)
        except NotFound:
            pools[pool] = []  # named in the spec, not created (yet): its tasks wait, which the replicas show
    resizes = [e for kind, of in [("Workload", name), *(("NodePool", pool) for pool in pools)]
               for e in store.list_events(namespace, kind, of, limit=EVENTS_LIMIT)
               if e["reason"] in SCALE_REASONS and datetime.fromisoformat(e["time"]) >= since]
    return {"apiVersion": schema.API_VERSION, "kind": "WorkloadSeries", "metadata": {"name": name, "namespace": namespace},
            "since": since.isoformat(), "now": now.isoformat(),
            "replicas": _steps(workload["status"].get("samples"), WORKLOAD_SAMPLE, since), "nodes": pools,
            "stats": store.read_stats(name, since), "scaleEvents": sorted(resizes, key=lambda e: e["time"])}


def _steps(samples: list | None, fields: tuple[str, ...], since: datetime) -> list[dict]:
    """Samples as {time, field: value}: those after `since` and the one in force at `since` (each holds until the next)."""
    points = [{"time": datetime.fromtimestamp(t, timezone.utc).isoformat(), **dict(zip(fields, values))}
              for t, *values in samples or []]
    inside = next((i for i, p in enumerate(points) if datetime.fromisoformat(p["time"]) > since), len(points))
    return points[max(inside - 1, 0):]


def list_events(store: Store, namespace: str, query: dict) -> dict:
    """Newest first, for one involved object (`involvedObject=Workload/name`, or `kind` and `name`) or all of them;
    `type=Warning` keeps one type."""
    involved = query.get("involvedObject")
    field = "involvedObject" if involved is not None else "kind"
    kind, _, name = involved.partition("/") if involved is not None else (query.get("kind"), "", query.get("name"))
    if kind is not None and kind not in spec.KINDS:
        raise SpecError(field, f"kind must be one of {', '.join(spec.KINDS)}, got {kind!r}")
    if name:
        check_name("involvedObject" if involved is not None else "name", name)
        if kind is None:
            raise SpecError("kind", "is required with name")
    event_type = query.get("type")
    if event_type is not None and event_type not in EVENT_TYPES:
        raise SpecError("type", f"must be one of {', '.join(EVENT_TYPES)}, got {event_type!r}")
    limit = parse_limit(query.get("limit")) or EVENTS_LIMIT
    items = store.list_events(namespace, kind, name or None, limit=limit, event_type=event_type)
    return {"apiVersion": schema.API_VERSION, "kind": "EventList", "items": items}
