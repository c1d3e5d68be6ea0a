"""The controller's lease in the store's table: one holder at a time, renewed by conditional writes, woken by nudges."""
from __future__ import annotations

from datetime import datetime, timezone

from boto3.dynamodb.conditions import Attr
from botocore.exceptions import ClientError

from chalicelib.adapters.table import PARTITION, SORT, translate
from chalicelib.errors import Conflict, LeaseHeld


class Leases:
    """Mixed into Store: callers hold one object for the whole table."""

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
            translated = translate(error, "")
            if isinstance(translated, Conflict):
                raise LeaseHeld(f"lease {name} is held by another controller") from None
            raise translated from None
        return datetime.fromtimestamp(expires, timezone.utc)

    def release_lease(self, name: str, holder: str, unless_woken_after: datetime | None = None) -> bool:
        """Frees the holder's lease; False, keeping it, when a wake newer than `unless_woken_after` was asked for.

        The check and the delete are one conditional write: a nudge that found the lease held just before an idle
        holder let go is either seen here (the holder ticks again) or finds the lease free and takes it itself.
        """
        condition = Attr("holder").eq(holder)
        if unless_woken_after is not None:
            condition &= Attr("wake").not_exists() | Attr("wake").lte(int(unless_woken_after.timestamp() * 1000))
        try:
            self._table.delete_item(Key={PARTITION: "Lease#ballast", SORT: name}, ConditionExpression=condition)
        except ClientError as error:
            translated = translate(error, "")
            if not isinstance(translated, Conflict):
                raise translated from None
            # Someone else took over after expiry (theirs to release), or a wake came: still ours, tick again.
            return (self.lease_holder(name) or {}).get("holder") != holder
        return True

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
            translated = translate(error, "")
            if isinstance(translated, Conflict):
                return False
            raise translated from None
        return True
