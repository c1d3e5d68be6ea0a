"""The etcd of DESIGN.md: every object in one DynamoDB table, written with resourceVersion conditional writes."""
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
from chalicelib.adapters.stats import Stats
from chalicelib.adapters.table import PARTITION, SORT, TTL_ATTRIBUTE, translate
from chalicelib.errors import Conflict, NotFound

API_VERSION = "ballast.io/v1"


def _now() -> datetime:
    return datetime.now(timezone.utc)


def _partition(kind: str, namespace: str) -> str:
    return f"{kind}#{namespace}"


def _encode_token(key: dict | None) -> str | None:
    return base64.urlsafe_b64encode(json.dumps(key).encode()).decode() if key else None


def _decode_token(token: str | None, partition: str) -> dict | None:
    if not token:
        return None
    try:
        key = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (ValueError, TypeError):
        key = None
    if not isinstance(key, dict) or key.get(PARTITION) != partition or not isinstance(key.get(SORT), str):
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


class Store(Leases, Stats):
    """The etcd-like API over one table; the lease and the stats live beside it in the same table (their own modules).

    Objects are `{apiVersion, kind, metadata, spec, status}` dicts as the API shows them.
    """

    def __init__(self, table):
        self._table = table

    # ---- objects -------------------------------------------------------------------------------

    def create(self, manifest: dict) -> dict:
        meta = manifest["metadata"]
        kind, namespace, name = manifest["kind"], meta.get("namespace", "default"), meta["name"]
        item = {
            PARTITION: _partition(kind, namespace),
            SORT: name,
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
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr(PARTITION).not_exists())
        except ClientError as error:
            raise translate(error, f"{kind} {namespace}/{name} already exists") from None
        return self._object(kind, item)

    def get(self, kind: str, namespace: str, name: str) -> dict:
        try:
            item = self._table.get_item(Key={PARTITION: _partition(kind, namespace), SORT: name}, ConsistentRead=True).get("Item")
        except ClientError as error:
            raise translate(error, "get") from None
        if item is None:
            raise NotFound(f"{kind} {namespace}/{name} not found")
        return self._object(kind, item)

    def list(self, kind: str, namespace: str, labels: dict[str, str] | None = None, limit: int | None = None,
             continue_token: str | None = None) -> tuple[list[dict], str | None]:
        """One page of objects; label equality is filtered in DynamoDB, so a page may hold fewer than `limit`."""
        partition = _partition(kind, namespace)
        query = {"KeyConditionExpression": Key(PARTITION).eq(partition), "ConsistentRead": True}
        start = _decode_token(continue_token, partition)
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

    def list_all(self, kind: str, namespace: str) -> list[dict]:
        items, _ = self._query({"KeyConditionExpression": Key(PARTITION).eq(_partition(kind, namespace))}, until=None)
        return [self._object(kind, item) for item in items]

    def list_every_namespace(self, kind: str) -> list[dict]:
        """Objects of `kind` in all namespaces: a Scan, since namespaces are partitions. It reads the whole table
        (jobs and events too), so it serves `ballast get -A`, never the controller."""
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

    def replace(self, manifest: dict, resource_version: str | None, current: dict | None = None) -> dict:
        """Writes spec, labels and annotations (never status); generation moves only when the spec changed.

        `current` is the object as the caller just read it (a patch reads before it merges): passing it saves a read.
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
        return self._update(kind, namespace, name, expected,
                            "SET #spec = :spec, labels = :labels, annotations = :annotations, gen = gen + :g",
                            {":spec": spec, ":labels": labels, ":annotations": json.dumps(annotations, sort_keys=True),
                             ":g": 1 if spec_changed else 0}, {"#spec": "spec"}, written)

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

    def delete(self, kind: str, namespace: str, name: str, resource_version: str | None = None) -> None:
        condition = Attr(PARTITION).exists()
        if resource_version:
            condition = condition & Attr("rv").eq(int(resource_version))
        try:
            self._table.delete_item(Key={PARTITION: _partition(kind, namespace), SORT: name}, ConditionExpression=condition)
        except ClientError as error:
            raise self._missing_or_conflict(error, kind, namespace, name) from None

    def _update(self, kind, namespace, name, expected_rv, expression, values, names, written: dict | None = None) -> dict:
        """`written`, when the caller knows it, is the object as this write leaves it at expected_rv + 1."""
        condition = Attr(PARTITION).exists()
        if expected_rv is not None:
            condition = condition & Attr("rv").eq(expected_rv)
        try:
            answer = self._table.update_item(
                Key={PARTITION: _partition(kind, namespace), SORT: name},
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
        if isinstance(translated, Conflict):
            # The condition failed: either the object is gone or its resourceVersion moved; say which.
            item = self._table.get_item(Key={PARTITION: _partition(kind, namespace), SORT: name}, ConsistentRead=True).get("Item")
            if item is None:
                return NotFound(f"{kind} {namespace}/{name} not found")
            return Conflict(f"{kind} {namespace}/{name} was modified (resourceVersion is now {item['rv']}); read it again and retry")
        return translated

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
        namespace = item[PARTITION].split("#", 1)[1]
        annotations = json.loads(item.get("annotations") or "{}")
        return {
            "apiVersion": API_VERSION,
            "kind": kind,
            "metadata": {
                "name": item[SORT],
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

    # ---- events --------------------------------------------------------------------------------

    def record_events(self, namespace: str, events: Iterable[dict], ttl_s: int) -> None:
        """Events as Event.to_dict() gives them; they expire by TTL, so no one has to clean up."""
        with self._table.batch_writer() as batch:
            for event in events:
                involved = event["involvedObject"]
                at = datetime.fromisoformat(event["time"])
                batch.put_item(Item={
                    PARTITION: _partition("Event", namespace),
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
