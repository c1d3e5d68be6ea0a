"""Per-minute work statistics in the store's table: counters the producers add, the controller reads."""
from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Iterable

from boto3.dynamodb.conditions import Key
from botocore.exceptions import ClientError

from chalicelib.adapters.table import PARTITION, SORT, TTL_ATTRIBUTE, translate
from chalicelib.errors import Unavailable

STATS_TTL_S = 86400
DEFAULT_NAMESPACE = "default"
BATCH_GET_KEYS = 100  # DynamoDB's limit per BatchGetItem
UNPROCESSED_RETRIES = 3


def _minute(at: datetime) -> datetime:
    return at.astimezone(timezone.utc).replace(second=0, microsecond=0)


def _stats_partition(namespace: str, name: str) -> str:
    # The default namespace keeps the keys written before every namespace was reconciled: its day of stats stays.
    return f"Stats#{name}" if namespace == DEFAULT_NAMESPACE else f"Stats#{namespace}/{name}"


def _stats_key(namespace: str, name: str, minute: datetime) -> dict:
    return {PARTITION: _stats_partition(namespace, name), SORT: minute.isoformat()}


def number(value: Decimal) -> int | float:
    return int(value) if value == value.to_integral_value() else float(value)


def _bucket(item: dict) -> dict:
    return {"minute": item[SORT], **{key: number(value) if isinstance(value, Decimal) else value
                                     for key, value in item.items() if key not in (PARTITION, SORT, TTL_ATTRIBUTE)}}


class Stats:
    """Mixed into Store: callers hold one object for the whole table."""

    # One item per name and minute, counters added atomically by concurrent Lambdas, expiring a day later.
    # Counters, per workload (named by the Workload and its namespace, or "op:<op>" in the default namespace when
    # none drains the op's queue):
    #   arrived  work messages ingest sent in that minute (the arrival rate)
    #   done     jobs that finished with an output;  failed  jobs that ended Failed (worker reason or dead letter)
    #   busyMs   summed worker processing time of those jobs (throughput per replica = (done + failed) / busyMs)
    #   queueMs  summed time from enqueue to finish of those jobs (wait + processing, the latency a user sees)

    #   lastArrivalAt  when ingest last sent work in that minute (ISO 8601), the controller's sign of a trickle

    def add_stats(self, name: str, at: datetime, counters: dict[str, int | float], stamp: str | None = None,
                  namespace: str = DEFAULT_NAMESPACE) -> None:
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
                Key=_stats_key(namespace, name, minute),
                UpdateExpression=f"ADD {adds} SET {sets}",
                ExpressionAttributeNames={**names, "#ttl": TTL_ATTRIBUTE},
                ExpressionAttributeValues={**values, ":ttl": int(minute.timestamp()) + STATS_TTL_S},
            )
        except ClientError as error:
            raise translate(error, "add stats") from None

    def recent_stats(self, refs: Iterable[tuple[str, str]], at: datetime) -> dict[tuple[str, str], list[dict]]:
        """Each (namespace, name)'s stats of the minute holding `at` and the one before, as read_stats shows them
        (oldest first): one BatchGetItem per 50 workloads, not a query per workload. Ones with neither are left out."""
        minute = _minute(at)
        refs = list(dict.fromkeys(refs))
        by_partition = {_stats_partition(*ref): ref for ref in refs}
        keys = [_stats_key(*ref, m) for ref in refs for m in (minute - timedelta(minutes=1), minute)]
        found: dict[tuple[str, str], list[dict]] = {}
        for start in range(0, len(keys), BATCH_GET_KEYS):
            for item in self._batch_get(keys[start:start + BATCH_GET_KEYS]):
                found.setdefault(by_partition[item[PARTITION]], []).append(_bucket(item))
        return {ref: sorted(buckets, key=lambda b: b["minute"]) for ref, buckets in found.items()}

    def _batch_get(self, keys: list[dict]) -> list[dict]:
        client, table = self._table.meta.client, self._table.name
        request = {table: {"Keys": keys, "ConsistentRead": True}}
        items: list[dict] = []
        # DynamoDB may return part of a batch unprocessed under load; the rest is asked again, a few times at most.
        for _ in range(UNPROCESSED_RETRIES):
            try:
                answer = client.batch_get_item(RequestItems=request)
            except ClientError as error:
                raise translate(error, "read stats") from None
            # The table resource's client converts DynamoDB's typed values to Python ones, as the table does.
            items += answer["Responses"].get(table, [])
            request = answer.get("UnprocessedKeys") or {}
            if not request:
                return items
        raise Unavailable("the store left stats keys unprocessed; the next tick reads them", "UnprocessedKeys")

    def read_stats(self, name: str, since: datetime, namespace: str = DEFAULT_NAMESPACE) -> list[dict]:
        """Oldest minute first: [{"minute": iso, <counter>: number, ...}] from the minute holding `since` on."""
        start = _minute(since).isoformat()
        try:
            items = self._table.query(
                KeyConditionExpression=Key(PARTITION).eq(_stats_partition(namespace, name)) & Key(SORT).gte(start),
                ConsistentRead=True,
            ).get("Items", [])
        except ClientError as error:
            raise translate(error, "read stats") from None
        return [_bucket(item) for item in items]
