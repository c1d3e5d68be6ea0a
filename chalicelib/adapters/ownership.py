"""Ownership claims in the store's table: what a Workload or NodePool owns (a scale target, a node group), one owner
each, written in the same transaction as the object (KEDA's admission webhook refuses a second ScaledObject for one
target; here a conditional write does it, so two creates racing cannot both win)."""
from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.adapters.table import PARTITION, SORT, translate
from chalicelib.errors import Conflict

OWNER_PARTITION = "Owner"
# A claim is taken when free or already this object's, and released only by the object holding it.
_FREE_OR_MINE = "attribute_not_exists(pk) OR ownerUid = :uid"


class Ownership:
    """Mixed into Store: callers hold one object for the whole table."""

    def owner_of(self, claim: str) -> dict | None:
        """{kind, namespace, name, uid} of the object holding `claim`, or None when it is free."""
        try:
            item = self._table.get_item(Key={PARTITION: OWNER_PARTITION, SORT: claim}, ConsistentRead=True).get("Item")
        except ClientError as error:
            raise translate(error, "read owner") from None
        if item is None:
            return None
        return {"kind": item["ownerKind"], "namespace": item["ownerNamespace"], "name": item["ownerName"],
                "uid": item["ownerUid"]}

    def check_claims(self, claims: tuple[str, ...], uid: str | None) -> None:
        """A dry run's admission check: Conflict naming the owner of any claim held by an object other than `uid`."""
        for claim in claims:
            owner = self.owner_of(claim)
            if owner is not None and owner["uid"] != uid:
                raise Conflict(_managed_by(claim, owner))

    def take_claim(self, claim: str, kind: str, namespace: str, name: str, uid: str) -> dict | None:
        """Claims `claim` for the object unless another holds it (for objects stored before claims existed):
        None once the object holds it, else the other owner, as owner_of gives it."""
        put = self._claim_op(claim, kind, namespace, name, uid)["Put"]
        try:
            self._table.put_item(Item=put["Item"], ConditionExpression=put["ConditionExpression"],
                                 ExpressionAttributeValues=put["ExpressionAttributeValues"])
        except ClientError as error:
            if error.response.get("Error", {}).get("Code") != "ConditionalCheckFailedException":
                raise translate(error, "claim") from None
            return self.owner_of(claim)
        return None

    # ---- transaction parts, for the store's writes ------------------------------------------------------------
    # Plain Python values: the table resource's client serializes them to DynamoDB's typed ones, as for its own calls.

    def _put_op(self, item: dict, condition: str) -> dict:
        return {"Put": {"TableName": self._table.name, "Item": (item), "ConditionExpression": condition}}

    def _update_op(self, key: dict, expected_rv: int, expression: str, values: dict, names: dict) -> dict:
        return {"Update": {"TableName": self._table.name, "Key": (key),
                           "UpdateExpression": expression + ", rv = rv + :one",
                           "ConditionExpression": "attribute_exists(pk) AND rv = :rv",
                           "ExpressionAttributeValues": ({**values, ":one": 1, ":rv": expected_rv}),
                           "ExpressionAttributeNames": names}}

    def _claim_op(self, claim: str, kind: str, namespace: str, name: str, uid: str) -> dict:
        item = {PARTITION: OWNER_PARTITION, SORT: claim, "ownerKind": kind, "ownerNamespace": namespace,
                "ownerName": name, "ownerUid": uid}
        return {"Put": {"TableName": self._table.name, "Item": (item), "ConditionExpression": _FREE_OR_MINE,
                        "ExpressionAttributeValues": ({":uid": uid})}}

    def _release_op(self, claim: str, uid: str | None) -> dict:
        # A claim someone else holds is theirs (taken after a conflict the tick reported): releasing skips it.
        return {"Delete": {"TableName": self._table.name, "Key": ({PARTITION: OWNER_PARTITION, SORT: claim}),
                           "ConditionExpression": _FREE_OR_MINE, "ExpressionAttributeValues": ({":uid": uid or ""})}}

    def _transact(self, ops: list[dict], exists: str | None, claims: tuple[str, ...],
                  missing: tuple[str, str, str] | None = None) -> None:
        """Writes `ops` atomically: the object first, its claims after. A failed condition says which: the object
        (`exists` on a create; gone or moved on an update, told apart by `missing`) or a claim, naming its owner."""
        try:
            self._table.meta.client.transact_write_items(TransactItems=ops)
        except ClientError as error:
            reasons = error.response.get("CancellationReasons") or []
            failed = [i for i, reason in enumerate(reasons) if reason.get("Code") == "ConditionalCheckFailed"]
            if not failed:
                raise translate(error, "write") from None
            if failed[0] == 0:
                if exists is not None:
                    raise Conflict(exists) from None
                raise self._refused(*missing) from None
            raise self._claimed(ops[failed[0]]) from None

    def _claimed(self, op: dict) -> Exception:
        claim = (op["Put"]["Item"] if "Put" in op else op["Delete"]["Key"])[SORT]
        owner = self.owner_of(claim)
        if owner is None:  # released between the write and this read: the caller may simply try again
            return Conflict(f"{claim} changed owner meanwhile; try again")
        return Conflict(_managed_by(claim, owner))


def _managed_by(claim: str, owner: dict) -> str:
    kind, _, rest = claim.partition("/")
    return f"the {kind} {rest} is already managed by {owner['kind']} {owner['namespace']}/{owner['name']}"

