"""The Job of DESIGN.md "Objects in the store": one per uploaded image, named so S3's repeated deliveries find the same one.

A Job lives in the uploader's namespace (the `u-…` segment of `input/<op>/u-…/<name>`, which the images API writes),
or in "default" for keys uploaded around the API; so a user's list is one partition and nobody reads another's jobs.

    metadata.name    32 hex chars: sha256 of bucket/key#(versionId, or eTag when the bucket is not versioned)
    metadata.labels  {"op": op, "image": sha256(key)[:32]} (every job ever made for one key, for DELETE)
    spec             {bucket, key, op, outputKey, size, eTag}
    status           {phase: Queued|Processing|Done|Failed, reason, output: {key, bytes, width, height}|None,
                      enqueuedAt, enqueuedBy (the ingest invocation that sent it), startedAt (a worker received it),
                      finishedAt, durationMs, worker, deadLettered (only on a dead letter's Failed)}

Queued → Processing → Done | Failed, never back (a completion that overtakes its "started" skips Processing): a
terminal phase is final, whatever completion arrives later, with one exception: a Failed a dead letter wrote (Ballast
giving up on the job) becomes Done when the worker's success arrives after it.
"""
from __future__ import annotations

import hashlib
import re
import time
import unicodedata

from chalicelib import config
from chalicelib.adapters.store import Store
from chalicelib.errors import Conflict

KIND = "Job"
DEFAULT_NAMESPACE = "default"
QUEUED, PROCESSING, DONE, FAILED = "Queued", "Processing", "Done", "Failed"
TERMINAL = (DONE, FAILED)
MAX_KEY_BYTES = 512
USER_SEGMENT = re.compile(r"u-[0-9a-z]{1,40}")
ID = re.compile(r"[0-9a-f]{32}")
# A status write that loses a race re-reads and tries again; more than a handful means something is wrong.
UPDATE_ATTEMPTS = 5


class BadKey(ValueError):
    """A key no job can be made of; the message says why, for the log line."""


def job_id(bucket: str, key: str, version: str) -> str:
    return hashlib.sha256(f"{bucket}/{key}#{version}".encode()).hexdigest()[:32]


def image_label(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()[:32]


def version_of(version_id: str | None, etag: str) -> str:
    """S3 reports unversioned objects with no versionId (or "null" once versioning was suspended): the eTag then names the content."""
    return version_id if version_id and version_id != "null" else etag.strip('"')


def namespace_of(key: str) -> str:
    parts = key.split("/")
    return parts[2] if len(parts) >= 4 and USER_SEGMENT.fullmatch(parts[2]) else DEFAULT_NAMESPACE


def parse_key(key: str) -> tuple[str, str]:
    """(op, output key) for `input/<op>/<name...>`, or BadKey naming the rule broken."""
    if len(key.encode()) > MAX_KEY_BYTES:
        raise BadKey(f"key longer than {MAX_KEY_BYTES} bytes")
    if any(unicodedata.category(char) == "Cc" for char in key):
        raise BadKey("key has control characters")
    parts = key.split("/")
    if len(parts) < 3 or parts[0] != "input" or not all(parts[2:]):
        raise BadKey("key is not input/<op>/<name>")
    if parts[1] not in config.OPERATIONS:
        raise BadKey(f"operation {parts[1]!r} is not one of {', '.join(config.OPERATIONS)}")
    if any(part in (".", "..") for part in parts):
        raise BadKey("key has a '.' or '..' segment")
    return parts[1], "output/" + key[len("input/"):]


def manifest(bucket: str, key: str, op: str, output_key: str, size: int, etag: str, version: str, status: dict) -> dict:
    return {
        "kind": KIND,
        "metadata": {"name": job_id(bucket, key, version), "namespace": namespace_of(key),
                     "labels": {"op": op, "image": image_label(key)}},
        "spec": {"bucket": bucket, "key": key, "op": op, "outputKey": output_key, "size": size, "eTag": etag},
        "status": status,
    }


def queued() -> dict:
    return {"phase": QUEUED, "reason": None, "output": None, "enqueuedAt": None, "finishedAt": None,
            "durationMs": None, "worker": None}


def update(store: Store, namespace: str, name: str, change) -> dict | None:
    """Applies change(status) -> new status (or None: nothing to do) under the resourceVersion precondition.

    Returns the object as written, or None when `change` declined (the job is already where it should be).
    """
    for _ in range(UPDATE_ATTEMPTS):
        current = store.get(KIND, namespace, name)
        new = change(current["status"])
        if new is None:
            return None
        try:
            return store.update_status(KIND, namespace, name, new, current=current)
        except Conflict:
            continue
    raise Conflict(f"{KIND} {namespace}/{name} kept changing; gave up after {UPDATE_ATTEMPTS} attempts")


def workloads_by_op(store: Store) -> dict[str, dict]:
    """The Workload draining each operation's queue, in whichever namespace it lives (one list of every namespace per
    call: callers call it once per invocation). Should two drain one queue, the default namespace's wins, then the
    first by namespace and name: every invocation picks the same one."""
    by_queue: dict[str, dict] = {}
    ordered = sorted(store.list_all("Workload", None),
                     key=lambda w: (w["metadata"]["namespace"] != DEFAULT_NAMESPACE, w["metadata"]["namespace"],
                                    w["metadata"]["name"]))
    for workload in ordered:
        by_queue.setdefault(workload["spec"].get("queue", {}).get("name"), workload)
    return {op: by_queue[config.work_queue(op)] for op in config.OPERATIONS if config.work_queue(op) in by_queue}


class WorkloadCache:
    """workloads_by_op as a warm Lambda keeps it: listed again once older than ttl_s (or when the store changed)."""

    def __init__(self, ttl_s: float):
        self._ttl_s = ttl_s
        self._store: Store | None = None
        self._at = 0.0
        self._by_op: dict[str, dict] = {}

    def get(self, store: Store) -> dict[str, dict]:
        if self._store is not store or time.monotonic() - self._at > self._ttl_s:
            self._store, self._at, self._by_op = store, time.monotonic(), workloads_by_op(store)
        return self._by_op


def stats_ref(op: str, workloads: dict[str, dict]) -> tuple[str, str]:
    """(namespace, name) the op's stats are kept under: its Workload's, or ("default", "op:<op>") when none drains it."""
    workload = workloads.get(op)
    if workload is None:
        return DEFAULT_NAMESPACE, f"op:{op}"
    return workload["metadata"]["namespace"], workload["metadata"]["name"]
