"""The etcd of DESIGN.md: every object in one DynamoDB table, written with resourceVersion conditional writes.

Keys are as etcd's (/registry/<kind>/<namespace>/<name>) for the kinds the controller reads whole: one partition per
kind, the namespace a prefix of the sort key, so one query lists every namespace and a prefix lists one. Other kinds
(jobs, events) keep a partition per namespace: ingest writes a burst of jobs, and one partition would throttle it.
"""
from __future__ import annotations

import base64
import functools
import json
import operator
import uuid
from datetime import datetime, timezone
from typing import Iterable

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib.adapters.leases import Leases
from chalicelib.adapters.ownership import Ownership
from chalicelib.adapters.stats import Stats
from chalicelib.adapters.table import PARTITION, SORT, TTL_ATTRIBUTE, translate
from chalicelib.errors import Conflict, NotFound

API_VERSION = "ballast.io/v1"
# The kinds the controller lists across namespaces every tick.
CLUSTER_LISTED = ("Workload", "NodePool")


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _partition(kind: str, namespace: str) -> str:
    return kind if kind in CLUSTER_LISTED else f"{kind}#{namespace}"


def _key(kind: str, namespace: str, name: str) -> dict:
    return {PARTITION: _partition(kind, namespace), SORT: f"{namespace}/{name}" if kind in CLUSTER_LISTED else name}


def _located(kind: str, item: dict) -> tuple[str, str]:
    """(namespace, name) of a stored item."""
    if kind in CLUSTER_LISTED:
        namespace, _, name = item[SORT].partition("/")
        return namespace, name
    return item[PARTITION].split("#", 1)[1], item[SORT]


def _encode_token(key: dict | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _decode_token(token: str | None, partition: str, prefix: str = "") -> dict | None:
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        key = None
    if (not isinstance(key, dict) or key.get(PARTITION) != partition or not isinstance(key.get(SORT), str)
            or not key[SORT].startswith(prefix)):
        raise Conflict("the continue token is invalid or belongs to another list; start the list again")
    return key


def _written(current: dict, spec: dict | None = None, labels: dict | None = None, generation: int | None = None,
             status: dict | None = None, annotations: dict | None = None) -> dict:
    """`current` as a write conditional on its resourceVersion leaves it, with the parts that write set."""
    metadata = {**current["metadata"], "resourceVersion": str(int(current["metadata"]["resourceVersion"]) + 1)}
    if labels is not None:
        metadata["labels"] = labels
    if annotations is not None:
        metadata.pop("annotations", None)
        if annotations:
            metadata["annotations"] = annotations
    if generation is not None:
        metadata["generation"] = generation
    return {**current, "metadata": metadata, "spec": current["spec"] if spec is None else spec,
            "status": current["status"] if status is None else status}


class Store(Leases, Stats, Ownership):
    """The etcd-like API over one table; the lease, the stats and the ownership claims live beside it in the same table
    (their own modules).

    Objects are `{apiVersion, kind, metadata, spec, status}` dicts as the API shows them. `claims` are what an object
    owns while it exists (a scale target, a node group): written in one transaction with the object, so two objects
    never own one thing, however close together they are created.
    """

    def __init__(self, table):
        self._table = table

    # ---- objects -------------------------------------------------------------------------------

    def create(self, manifest: dict, claims: tuple[str, ...] = ()) -> dict:
        meta = manifest["metadata"]
        kind, namespace, name = manifest["kind"], meta.get("namespace", "default"), meta["name"]
        item = {
            **_key(kind, namespace, name),
            "rv": 1,
            "gen": 1,
            "uid": str(uuid.uuid4()),
            "created": _now().isoformat(),
            "labels": dict(meta.get("labels", {})),
            # A JSON string, as spec is: annotation keys hold '/' and '.', and values may be whole documents.
            "annotations": json.dumps(meta.get("annotations", {}), sort_keys=True),
            "spec": json.dumps(manifest.get("spec", {}), sort_keys=True),
            "status": json.dumps(manifest.get("status", {}), sort_keys=True),
        }
        exists = f"{kind} {namespace}/{name} already exists"
        if claims:
            self._transact([self._put_op(item, "attribute_not_exists(pk)")]
                           + [self._claim_op(claim, kind, namespace, name, item["uid"]) for claim in claims],
                           exists, claims)
            return self._object(kind, item)
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr(PARTITION).not_exists())
        except ClientError as error:
            raise translate(error, exists) from None
        return self._object(kind, item)

    def get(self, kind: str, namespace: str, name: str) -> dict:
        try:
            item = self._table.get_item(Key=_key(kind, namespace, name), ConsistentRead=True).get("Item")
        except ClientError as error:
            raise translate(error, "get") from None
        if item is None:
            raise NotFound(f"{kind} {namespace}/{name} not found")
        return self._object(kind, item)

    def list(self, kind: str, namespace: str, labels: dict[str, str] | None = None, limit: int | None = None,
             continue_token: str | None = None) -> tuple[list[dict], str | None]:
        """One page of objects; label equality is filtered in DynamoDB, so a page may hold fewer than `limit`."""
        partition, condition, prefix = self._listing(kind, namespace)
        query = {"KeyConditionExpression": condition, "ConsistentRead": True}
        start = _decode_token(continue_token, partition, prefix)
        if start:
            query["ExclusiveStartKey"] = start
        if limit:
            query["Limit"] = limit
        # Keys with dots (app.kubernetes.io/name) are not DynamoDB document paths: those filter here only.
        terms = [Attr(f"labels.{key}").eq(value) for key, value in (labels or {}).items() if "." not in key]
        if terms:
            query["FilterExpression"] = functools.reduce(operator.and_, terms)
        items, last = self._query(query, until=limit)
        if labels:
            items = [i for i in items if all(i.get("labels", {}).get(k) == v for k, v in labels.items())]
        return [self._object(kind, item) for item in items], _encode_token(last)

    def list_all(self, kind: str, namespace: str | None) -> list[dict]:
        """Every object of a kind in a namespace; namespace None: in every namespace, one query (Workload, NodePool)."""
        if namespace is None:
            if kind not in CLUSTER_LISTED:
                raise ValueError(f"{kind} is listed one namespace at a time")
            condition = Key(PARTITION).eq(kind)
        else:
            condition = self._listing(kind, namespace)[1]
        items, _ = self._query({"KeyConditionExpression": condition, "ConsistentRead": True}, until=None)
        return [self._object(kind, item) for item in items]

    @staticmethod
    def _listing(kind: str, namespace: str):
        """(partition, key condition, sort-key prefix) of one namespace's objects of a kind."""
        partition = _partition(kind, namespace)
        if kind in CLUSTER_LISTED:
            prefix = f"{namespace}/"
            return partition, Key(PARTITION).eq(partition) & Key(SORT).begins_with(prefix), prefix
        return partition, Key(PARTITION).eq(partition), ""

    def list_every_namespace(self, kind: str) -> list[dict]:
        """Objects of `kind` in all namespaces, for `ballast get -A`: Workloads and NodePools in one query of their
        kind's partition; other kinds, whose namespaces are partitions, by a Scan of the whole table."""
        if kind in CLUSTER_LISTED:
            return sorted(self.list_all(kind, None), key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))
        scan = {"FilterExpression": Attr(PARTITION).begins_with(f"{kind}#"), "ConsistentRead": True}
        items = []
        while True:
            try:
                page = self._table.scan(**scan)
            except ClientError as error:
                raise translate(error, "list") from None
            items += page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                break
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        objects = [self._object(kind, item) for item in items]
        return sorted(objects, key=lambda o: (o["metadata"]["namespace"], o["metadata"]["name"]))

    def replace(self, manifest: dict, resource_version: str | None, current: dict | None = None,
                claims: tuple[str, ...] | None = None, released: tuple[str, ...] = ()) -> dict:
        """Writes spec, labels and annotations (never status); generation moves only when the spec changed.

        `current` is the object as the caller just read it (a patch reads before it merges): passing it saves a read.
        `claims` are what the new spec owns, `released` what the old one owned and the new one does not; with claims
        the write is one transaction with them, conditional on the version read.
        """
        meta = manifest["metadata"]
        kind, namespace, name = manifest["kind"], meta.get("namespace", "default"), meta["name"]
        current = current or self.get(kind, namespace, name)
        expected = int(resource_version or current["metadata"]["resourceVersion"])
        spec, labels = json.dumps(manifest.get("spec", {}), sort_keys=True), dict(meta.get("labels", {}))
        annotations = dict(meta.get("annotations", {}))
        spec_changed = spec != json.dumps(current["spec"], sort_keys=True)
        written = None
        if expected == int(current["metadata"]["resourceVersion"]):
            written = _written(current, spec=json.loads(spec), labels=labels, annotations=annotations,
                               generation=current["metadata"]["generation"] + spec_changed)
        expression = "SET #spec = :spec, labels = :labels, annotations = :annotations, gen = gen + :g"
        values = {":spec": spec, ":labels": labels, ":annotations": json.dumps(annotations, sort_keys=True),
                  ":g": 1 if spec_changed else 0}
        names = {"#spec": "spec"}
        if claims is None or written is None:
            return self._update(kind, namespace, name, expected, expression, values, names, written)
        uid = current["metadata"]["uid"]
        ops = [self._update_op(_key(kind, namespace, name), expected, expression, values, names)]
        ops += [self._claim_op(claim, kind, namespace, name, uid) for claim in claims]
        ops += [self._release_op(claim, uid) for claim in released if claim not in claims]
        self._transact(ops, None, claims, missing=(kind, namespace, name))
        return written

    def update_status(self, kind: str, namespace: str, name: str, status: dict, resource_version: str | None = None,
                      current: dict | None = None) -> dict:
        """The status subresource: the controller's write; spec is never touched.

        `current` is the object as the caller read it, the write conditional on its resourceVersion: the caller then
        knows the written object, and DynamoDB need not send it back.
        """
        if current is not None:
            resource_version = current["metadata"]["resourceVersion"]
        expected = int(resource_version) if resource_version else None
        encoded = json.dumps(status, sort_keys=True)
        written = _written(current, status=json.loads(encoded)) if current is not None else None
        return self._update(kind, namespace, name, expected, "SET #status = :status", {":status": encoded},
                            {"#status": "status"}, written)

    def delete(self, kind: str, namespace: str, name: str, resource_version: str | None = None,
               released: tuple[str, ...] = (), uid: str | None = None) -> None:
        """Deletes the object, and with `released` (its claims, as the version `resource_version` holds them) releases
        them in the same transaction."""
        condition = Attr(PARTITION).exists()
        if resource_version:
            condition = condition & Attr("rv").eq(int(resource_version))
        if released:
            values = {":rv": int(resource_version)} if resource_version else {}
            op = {"Delete": {"TableName": self._table.name, "Key": _key(kind, namespace, name),
                             "ConditionExpression": "attribute_exists(pk)" + (" AND rv = :rv" if resource_version else ""),
                             **({"ExpressionAttributeValues": values} if values else {})}}
            self._transact([op] + [self._release_op(claim, uid) for claim in released], None, (),
                           missing=(kind, namespace, name))
            return
        try:
            self._table.delete_item(Key=_key(kind, namespace, name), ConditionExpression=condition)
        except ClientError as error:
            raise self._missing_or_conflict(error, kind, namespace, name) from None

    def _update(self, kind, namespace, name, expected_rv, expression, values, names, written: dict | None = None) -> dict:
        """`written`, when the caller knows it, is the object as this write leaves it at expected_rv + 1."""
        condition = Attr(PARTITION).exists()
        if expected_rv is not None:
            condition = condition & Attr("rv").eq(expected_rv)
        try:
            answer = self._table.update_item(
                Key=_key(kind, namespace, name),
                UpdateExpression=expression + ", rv = rv + :one",
                ConditionExpression=condition,
                ExpressionAttributeValues={**values, ":one": 1},
                ExpressionAttributeNames=names,
                ReturnValues="ALL_NEW" if written is None else "NONE",
            )
        except ClientError as error:
            raise self._missing_or_conflict(error, kind, namespace, name) from None
        return self._object(kind, answer["Attributes"]) if written is None else written

    def _missing_or_conflict(self, error: ClientError, kind, namespace, name) -> Exception:
        translated = translate(error, "")
        return self._refused(kind, namespace, name) if isinstance(translated, Conflict) else translated

    def _refused(self, kind, namespace, name) -> Exception:
        """A write's condition on the object failed: either it is gone or its resourceVersion moved; says which."""
        item = self._table.get_item(Key=_key(kind, namespace, name), ConsistentRead=True).get("Item")
        if item is None:
            return NotFound(f"{kind} {namespace}/{name} not found")
        return Conflict(f"{kind} {namespace}/{name} was modified (resourceVersion is now {item['rv']}); read it again and retry")

    def _query(self, query: dict, until: int | None) -> tuple[list[dict], dict | None]:
        items: list[dict] = []
        while True:
            try:
                page = self._table.query(**query)
            except ClientError as error:
                raise translate(error, "list") from None
            items.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last or (until is not None):
                return items, last
            query["ExclusiveStartKey"] = last

    @staticmethod
    def _object(kind: str, item: dict) -> dict:
        namespace, name = _located(kind, item)
        annotations = json.loads(item.get("annotations") or "{}")
        return {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {
                "name": name,
                "namespace": namespace,
                "uid": item["uid"],
                "resourceVersion": str(int(item["rv"])),
                "generation": int(item["gen"]),
                "creationTimestamp": item["created"],
                "labels": dict(item.get("labels", {})),
                **({"annotations": annotations} if annotations else {}),
            },
            "spec": json.loads(item["spec"]),
            "status": json.loads(item["status"]),
        }

    # ---- the key scheme's one change ----------------------------------------------------------------

    def migrate_namespaced_keys(self) -> int:
        """Moves Workloads and NodePools written under a partition per namespace (Workload#<namespace>, before the
        controller read every namespace) to their kind's partition; returns how many moved. Idempotent: each item is
        written to its new key only if none is there, and its old one deleted in the same transaction; one whose new
        key is taken stays where it was (old_keys_left names it)."""
        moved = 0
        for item in self._old_key_items():
            kind, namespace = item[PARTITION].split("#", 1)
            new_item = {**item, **_key(kind, namespace, item[SORT])}
            try:
                self._table.meta.client.transact_write_items(TransactItems=[
                    self._put_op(new_item, "attribute_not_exists(pk)"),
                    {"Delete": {"TableName": self._table.name, "Key": {PARTITION: item[PARTITION], SORT: item[SORT]}}}])
                moved += 1
            except ClientError as error:
                if "ConditionalCheckFailed" not in str(error):
                    raise translate(error, "move an old key") from None
        return moved

    def old_keys_left(self) -> list[tuple[str, str, str]]:
        """(kind, namespace, name) of the objects still under the old keys: after a migration, those whose name an
        object created since the upgrade took."""
        return sorted((*item[PARTITION].split("#", 1), item[SORT]) for item in self._old_key_items())

    def _old_key_items(self):
        scan = {"FilterExpression": Attr(PARTITION).begins_with("Workload#") | Attr(PARTITION).begins_with("NodePool#")}
        while True:
            try:
                page = self._table.scan(**scan)
            except ClientError as error:
                raise translate(error, "scan for old keys") from None
            yield from page.get("Items", [])
            if not page.get("LastEvaluatedKey"):
                return
            scan["ExclusiveStartKey"] = page["LastEvaluatedKey"]

    # ---- events --------------------------------------------------------------------------------

    def record_events(self, namespace: str, events: Iterable[dict], ttl_s: int) -> None:
        """Events as Event.to_dict() gives them, each in its involved object's namespace (`namespace` when it names
        none): one batch writer for a whole tick of every namespace. They expire by TTL, so no one has to clean up."""
        with self._table.batch_writer() as batch:
            for event in events:
                involved = event["involvedObject"]
                at = datetime.fromisoformat(event["time"])
                batch.put_item(Item={
                    PARTITION: _partition("Event", involved.get("namespace") or namespace),
                    SORT: f"{involved['kind']}/{involved['name']}#{event['time']}#{uuid.uuid4().hex[:8]}",
                    "body": json.dumps(event, sort_keys=True, default=str),
                    TTL_ATTRIBUTE: int(at.timestamp()) + ttl_s,
                })

    def list_events(self, namespace: str, involved_kind: str | None = None, involved_name: str | None = None,
                    limit: int = 100, event_type: str | None = None) -> list[dict]:
        """Newest first; filtered by the involved object through the sort-key prefix, not a scan, then by type."""
        condition = Key(PARTITION).eq(_partition("Event", namespace))
        query: dict = {"KeyConditionExpression": condition}
        if involved_kind and involved_name:
            query["KeyConditionExpression"] = condition & Key(SORT).begins_with(f"{involved_kind}/{involved_name}#")
            if event_type is None:
                # One object's events sort by their (UTC) time under its prefix: the newest are one page read
                # backwards, not every event the TTL still keeps (a console asks for them every two seconds).
                query.update(ScanIndexForward=False, Limit=limit)
        elif involved_kind:
            query["KeyConditionExpression"] = condition & Key(SORT).begins_with(f"{involved_kind}/")
        items, _ = self._query(query, until=limit if "Limit" in query else None)
        events = (json.loads(i["body"]) for i in items)
        events = sorted((e for e in events if event_type in (None, e.get("type"))), key=lambda e: e["time"], reverse=True)
        return events[:limit]
