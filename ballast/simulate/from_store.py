"""`ballast simulate --from-store`: the trace a deployed (or local) Ballast recorded, read through its API.

The Workloads and NodePools of a namespace as stored, and each Workload's per-minute stats (`GET
/workloads/{name}/stats?since=`): the same shape `--trace FILE` reads, handed to the same scenario_from_stats.
"""
from __future__ import annotations

from ballast.simulate.units import ScenarioError

# What a stored object carries that a manifest to play does not: the server's metadata and the controller's status.
KEPT_METADATA = ("name", "namespace", "labels")


def fetch(api, namespace: str, since: str) -> dict:
    """{workloads, nodePools, stats} of `namespace` from `since` on (a duration back from now, or an ISO time)."""
    workloads = [_manifest(m) for m in _all(api, "/workloads", namespace)]
    pools = [_manifest(m) for m in _all(api, "/nodepools", namespace)]
    stats, played = [], []
    for manifest in workloads:
        name = manifest["metadata"]["name"]
        minutes = api.get(f"/workloads/{name}/stats", namespace=namespace, since=since).get("items", [])
        # A workload nothing finished for in the window teaches no service time: it has nothing to play.
        if any(m.get("done", 0) + m.get("failed", 0) for m in minutes):
            played.append(manifest)
            stats += [{"workload": name, **m} for m in minutes]
    if not played:
        raise ScenarioError("--from-store", f"no Workload of namespace {namespace!r} finished any work since {since}: "
                                            "nothing to replay")
    return {"workloads": played, "nodePools": pools, "stats": stats}


def _all(api, path: str, namespace: str) -> list[dict]:
    items, token = [], None
    while True:
        page = api.get(path, namespace=namespace, limit="500", **({"continue": token} if token else {}))
        items += page.get("items", [])
        token = (page.get("metadata") or {}).get("continue") or page.get("continue")
        if not token:
            return items


def _manifest(stored: dict) -> dict:
    metadata = {key: stored["metadata"][key] for key in KEPT_METADATA if stored["metadata"].get(key)}
    return {"apiVersion": stored["apiVersion"], "kind": stored["kind"], "metadata": metadata, "spec": stored["spec"]}
