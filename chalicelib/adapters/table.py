"""The one DynamoDB table behind the store, its leases and its stats: key names and error translation they share."""
from __future__ import annotations

from botocore.exceptions import ClientError

from chalicelib.errors import Conflict, Unavailable

# The table's key schema lives in infra/ballast.yaml; these are the names the adapters rely on.
PARTITION, SORT, TTL_ATTRIBUTE = "pk", "sk", "expiresAt"
_THROTTLED = {"ProvisionedThroughputExceededException", "ThrottlingException", "RequestLimitExceeded",
              "InternalServerError", "ServiceUnavailable", "AccessDeniedException"}


def translate(error: ClientError, what: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    if code == "ConditionalCheckFailedException":
        return Conflict(what)
    if code == "ResourceNotFoundException":
        return Unavailable(f"the store's table is missing: {error}", code)
    if code in _THROTTLED:
        return Unavailable(f"the store is unavailable: {code}", code)
    return error
