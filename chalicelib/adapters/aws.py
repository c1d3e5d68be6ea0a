"""What every AWS adapter shares: the botocore retry configuration, and botocore's errors turned into Ballast's."""
from __future__ import annotations

from collections.abc import Collection, Iterator
from contextlib import contextmanager

import botocore.config
from botocore.exceptions import ClientError, HTTPClientError
from botocore.exceptions import ConnectionError as EndpointUnreachable

from chalicelib.errors import BallastError, NotFound, Unavailable

# Adaptive mode adds client-side rate limiting to the retries, so a throttled tick slows down instead of hammering;
# the timeouts keep one stuck endpoint from eating the 15 s tick.
RETRY_CONFIG = botocore.config.Config(retries={"mode": "adaptive", "max_attempts": 5}, connect_timeout=3, read_timeout=10)



def error_code(error: ClientError) -> str:
    return error.response.get("Error", {}).get("Code", "")


def as_error(error: ClientError, what: str, not_found: Collection[str] = ()) -> BallastError:
    """The domain error for a botocore one: the caller's not-found codes → NotFound, anything else → Unavailable.

    Throttling and denial are named by code so the controller's condition can say which it was; other codes
    (validation, limits) are Unavailable too, because the loop retries next tick and must report, not crash.
    """
    code = error_code(error)
    message = error.response.get("Error", {}).get("Message", "") or str(error)
    if code in not_found:
        return NotFound(f"{what}: {message}")
    return Unavailable(f"{what}: {message}", code)


@contextmanager
def translated(what: str, not_found: Collection[str] = ()) -> Iterator[None]:
    """Raise chalicelib.errors instead of botocore's, so nothing above the adapters imports botocore."""
    try:
        yield
    except ClientError as error:
        raise as_error(error, what, not_found) from None
    except (EndpointUnreachable, HTTPClientError) as error:
        raise Unavailable(f"{what}: {error}", "Unreachable") from None
