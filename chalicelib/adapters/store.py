"""The etcd of DESIGN.md: every object in one DynamoDB table, written with resourceVersion conditional writes."""
from __future__ import annotations

import base64
import functools
import json
import operator
import uuid
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable

from boto3.dynamodb.conditions import Attr, Key
from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, LeaseHeld, NotFound, Unavailable

API_VERSION = "ballast.io/v1"
# The table's key schema lives in infra/ballast.yaml; these are the names this module relies on.
PARTITION, SORT, TTL_ATTRIBUTE = "pk", "sk", "expiresAt"
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
              "InternalServerError", "ServiceUnavailable", "AccessDeniedException"}


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


def _translate(error: ClientError, what: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return Conflict(what)
    if code == "ResourceNotFoundException":
        return Unavailable(f"the store's table is missing: {error}", code)
    if code in _THROTTLED:
        return Unavailable(f"the store is unavailable: {code}", code)
    return error


STATS_TTL_S = 86400
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
UNPROCESSED_RETRIES = 3


def _minute(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(second=0, microsecond=0)


def _stats_key(name: str, minute: datetime) -> dict:
    return {PARTITION: f"Stats#{name}", SORT: minute.isoformat()}


def _written(current: dict, spec: dict | None = None, labels: dict | None = None, generation: int | None = None,
             status: dict | None = None) -> dict:
    """`current` as a write conditional on its resourceVersion leaves it, with the parts that write set."""
    metadata = {**current["metadata"], "resourceVersion": str(int(current["metadata"]["resourceVersion"]) + 1)}
    if labels is not None:
        metadata["labels"] = labels
    if generation is not None:
        metadata["generation"] = generation
    return {**current, "metadata": metadata, "spec": current["spec"] if spec is None else spec,
            "status": current["status"] if status is None else status}


def _number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


class Store:
    """Objects are `{apiVersion, kind, metadata, spec, status}` dicts as the API shows them."""

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
            "spec": json.dumps(manifest.get("spec", {}), sort_keys=True),
            "status": json.dumps(manifest.get("status", {}), sort_keys=True),
        }
        try:
            self._table.put_item(Item=item, ConditionExpression=Attr(PARTITION).not_exists())
        except ClientError as error:
            raise _translate(error, f"{kind} {namespace}/{name} already exists") from None
        return self._object(kind, item)

    def get(self, kind: str, namespace: str, name: str) -> dict:
        try:
            item = self._table.get_item(Key={PARTITION: _partition(kind, namespace), SORT: name}, ConsistentRead=True).get("Item")
        except ClientError as error:
            raise _translate(error, "get") from None
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

    def replace(self, manifest: dict, resource_version: str | None, current: dict | None = None) -> dict:
        """Writes spec and labels (never status); generation moves only when the spec changed.

        `current` is the object as the caller just read it (a patch reads before it merges): passing it saves a read.
        """
        meta = manifest["metadata"]
        kind, namespace, name = manifest["kind"], meta.get("namespace", "default"), meta["name"]
        current = current or self.get(kind, namespace, name)
        expected = int(resource_version or current["metadata"]["resourceVersion"])
        spec, labels = json.dumps(manifest.get("spec", {}), sort_keys=True), dict(meta.get("labels", {}))
        spec_changed = spec != json.dumps(current["spec"], sort_keys=True)
        written = None
        if expected == int(current["metadata"]["resourceVersion"]):
            written = _written(current, spec=json.loads(spec), labels=labels,
                               generation=current["metadata"]["generation"] + spec_changed)
        return self._update(kind, namespace, name, expected, "SET #spec = :spec, labels = :labels, gen = gen + :g",
                            {":spec": spec, ":labels": labels, ":g": 1 if spec_changed else 0}, {"#spec": "spec"}, written)

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
        translated = _translate(error, "")
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
                raise _translate(error, "list") from None
            items.extend(page.get("Items", []))
            last = page.get("LastEvaluatedKey")
            if not last or (until is not None):
                return items, last
            query["ExclusiveStartKey"] = last

    @staticmethod
    def _object(kind: str, item: dict) -> dict:
        namespace = item[PARTITION].split("#", 1)[1]
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
                    limit: int = 100) -> list[dict]:
        """Newest first; filtered by the involved object through the sort-key prefix, not a scan."""
        condition = Key(PARTITION).eq(_partition("Event", namespace))
        if involved_kind and involved_name:
            condition = condition & Key(SORT).begins_with(f"{involved_kind}/{involved_name}#")
        elif involved_kind:
            condition = condition & Key(SORT).begins_with(f"{involved_kind}/")
        items, _ = self._query({"KeyConditionExpression": condition}, until=None)
        events = sorted((json.loads(i["body"]) for i in items), key=lambda e: e["time"], reverse=True)
        return events[:limit]

    # ---- lease ---------------------------------------------------------------------------------

    def acquire_lease(self, name: str, holder: str, ttl_s: float, now: datetime) -> datetime:
        """Takes or renews the lease; LeaseHeld if another holder's lease has not expired yet."""
        expires = now.timestamp() + ttl_s
        try:
            # An update, not a put: a wake request written since the holder's last tick must survive the renewal.
            self._table.update_item(
                Key={PARTITION: "Lease#ballast", SORT: name},
                UpdateExpression="SET holder = :holder, renewed = :renewed, leaseExpires = :expires",
                ExpressionAttributeValues={":holder": holder, ":renewed": now.isoformat(), ":expires": int(expires * 1000),
                                           ":now": int(now.timestamp() * 1000)},
                ConditionExpression="attribute_not_exists(pk) OR holder = :holder OR leaseExpires < :now",
            )
        except ClientError as error:
            translated = _translate(error, "")
            if isinstance(translated, Conflict):
                raise LeaseHeld(f"lease {name} is held by another controller") from None
            raise translated from None
        return datetime.fromtimestamp(expires, timezone.utc)

    def release_lease(self, name: str, holder: str) -> None:
        try:
            self._table.delete_item(Key={PARTITION: "Lease#ballast", SORT: name}, ConditionExpression=Attr("holder").eq(holder))
        except ClientError as error:
            translated = _translate(error, "")
            if not isinstance(translated, Conflict):  # someone else took over after expiry: theirs to release
                raise translated from None

    def lease_holder(self, name: str) -> dict | None:
        """{holder, expires (epoch s), wake (epoch s of the newest wake request, or 0)}, or None when free."""
        item = self._table.get_item(Key={PARTITION: "Lease#ballast", SORT: name}, ConsistentRead=True).get("Item")
        if item is None:
            return None
        return {"holder": item["holder"], "expires": int(item["leaseExpires"]) / 1000, "wake": int(item.get("wake", 0)) / 1000}

    def request_wake(self, name: str, now: datetime) -> bool:
        """Asks the lease holder to act now instead of at its next tick; False when no one holds the lease."""
        try:
            self._table.update_item(
                Key={PARTITION: "Lease#ballast", SORT: name},
                UpdateExpression="SET wake = :now",
                ConditionExpression=Attr(PARTITION).exists(),
                ExpressionAttributeValues={":now": int(now.timestamp() * 1000)},
            )
        except ClientError as error:
            translated = _translate(error, "")
            if isinstance(translated, Conflict):
                return False
            raise translated from None
        return True


    # ---- throughput statistics -----------------------------------------------------------------
    # One item per name and minute, counters added atomically by concurrent Lambdas, expiring a day later.
    # Counters, per workload (named by the Workload, or "op:<op>" when none drains the op's queue):
    #   arrived  work messages ingest sent in that minute (the arrival rate)
    #   done     jobs that finished with an output;  failed  jobs that ended Failed (worker reason or dead letter)
    #   busyMs   summed worker processing time of those jobs (throughput per replica = (done + failed) / busyMs)
    #   queueMs  summed time from enqueue to finish of those jobs (wait + processing, the latency a user sees)

    #   lastArrivalAt  when ingest last sent work in that minute (ISO 8601), the controller's sign of a trickle

    def add_stats(self, name: str, at: datetime, counters: dict[str, int | float], stamp: str | None = None) -> None:
        """Adds the counters to the minute holding `at`; `stamp` names an attribute set to `at` itself."""
        minute = _minute(at)
        names = {f"#c{i}": counter for i, counter in enumerate(counters)}
        values = {f":c{i}": Decimal(str(value)) for i, value in enumerate(counters.values())}
        adds = ", ".join(f"#c{i} :c{i}" for i in range(len(counters)))
        sets = "#ttl = :ttl" + (", #stamp = :at" if stamp else "")
        if stamp:
            names["#stamp"], values[":at"] = stamp, at.astimezone(timezone.utc).isoformat()
        try:
            self._table.update_item(
                Key=_stats_key(name, minute),
                UpdateExpression=f"ADD {adds} SET {sets}",
                ExpressionAttributeNames={**names, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={**values, ":ttl": int(minute.timestamp()) + STATS_TTL_S},
            )
        except ClientError as error:
            raise _translate(error, "add stats") from None

    def latest_stamps(self, names: Iterable[str], stamp: str, at: datetime) -> dict[str, datetime]:
        """The newest `stamp` of each name in the minute holding `at` or the one before (older ones the caller
        remembers): one BatchGetItem per 50 names, not a query per name. Names with no stamp are left out."""
        minute = _minute(at)
        keys = [_stats_key(name, m) for name in dict.fromkeys(names) for m in (minute - timedelta(minutes=1), minute)]
        found: dict[str, datetime] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            for item in self._batch_get(keys[start:start + BATCH_GET_KEYS], stamp):
                name, when = item[PARTITION].removeprefix("Stats#"), datetime.fromisoformat(item[stamp])
                found[name] = max(found.get(name, when), when)
        return found

    def _batch_get(self, keys: list[dict], attribute: str) -> list[dict]:
        client, table = self._table.meta.client, self._table.name
        request = {table: {"Keys": keys, "ConsistentRead": True, "ProjectionExpression": "#pk, #a",
                           "ExpressionAttributeNames": {"#pk": PARTITION, "#a": attribute}}}
        items: list[dict] = []
        # DynamoDB may return part of a batch unprocessed under load; the rest is asked again, a few times at most.
        for _ in range(UNPROCESSED_RETRIES):
            try:
                answer = client.batch_get_item(RequestItems=request)
            except ClientError as error:
                raise _translate(error, "read stats") from None
            # The table resource's client converts DynamoDB's typed values to Python ones, as the table does.
            items += [item for item in answer["Responses"].get(table, []) if attribute in item]
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise Unavailable("the store left stats keys unprocessed; the next tick reads them", "UnprocessedKeys")

    def read_stats(self, name: str, since: datetime) -> list[dict]:
        """Oldest minute first: [{"minute": iso, <counter>: number, ...}] from the minute holding `since` on."""
        start = _minute(since).isoformat()
        try:
            items = self._table.query(
                KeyConditionExpression=Key(PARTITION).eq(f"Stats#{name}") & Key(SORT).gte(start), ConsistentRead=True,
            ).get("Items", [])
        except ClientError as error:
            raise _translate(error, "read stats") from None
        return [{"minute": item[SORT], **{key: _number(value) if isinstance(value, Decimal) else value
                                           for key, value in item.items() if key not in (PARTITION, SORT, TTL_ATTRIBUTE)}}
                for item in items]
