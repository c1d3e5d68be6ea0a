"""A client of Ballast's API server: SigV4-signed HTTP requests, Kubernetes Status error bodies turned into ApiError.

Every way a request can go wrong ends as one line: an ApiError (the server answered, or could not be reached) or a
UsageError (the endpoint, the profile or the credentials cannot be used as given).
"""
from __future__ import annotations

import http.client
import ipaddress
import json
import os
import re
import socket
import urllib.error
import urllib.request
from urllib.parse import urlencode, urlparse

from ballast.errors import UsageError

TIMEOUT_S = 30
# The local runtime admits any signature; without credentials of their own, its users sign with these.
LOCAL_CREDENTIALS = ("ballast-local", "ballast-local")
_EXECUTE_API = re.compile(r"\.execute-api\.([a-z0-9-]+)\.amazonaws\.com$")
_TITLE = re.compile(rb"<title>(.*?)</title>", re.IGNORECASE | re.DOTALL)


class ApiError(Exception):
    """An error answer of the API server: HTTP code, Kubernetes reason, message and, for a 400, the field at fault."""

    def __init__(self, code: int, reason: str, message: str, field: str | None = None):
        message = " ".join(str(message).split())  # one line, whatever the server sent
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message, self.field = code, reason, message, field

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field and self.field not in self.message else ""
        return f"{self.message}{where} [{self.code} {self.reason}]"


def check_endpoint(endpoint: str) -> str:
    parsed = urlparse(endpoint)
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise UsageError(f"--endpoint must be an http(s) URL such as https://abc123.execute-api.eu-west-1.amazonaws.com/api "
                         f"(`ballast up` prints the local one), got {endpoint!r}")
    return endpoint.rstrip("/")


def is_loopback(endpoint: str) -> bool:
    host = urlparse(endpoint).hostname or ""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class Api:
    """Signs every request as API Gateway's IAM authorizer expects (service execute-api).

    Credentials come from the profile (--profile, else AWS_PROFILE, else the default chain); the region from --region,
    else an execute-api URL's own, else the profile's. A loopback endpoint (the local runtime) needs no credentials.
    """

    def __init__(self, endpoint: str, region: str | None = None, session=None, profile: str | None = None,
                 timeout_s: float = TIMEOUT_S):
        self.endpoint = check_endpoint(endpoint)
        self._session, self._profile, self._region = session, profile, region
        self._given_session = session is not None
        self._credentials = None
        self.timeout_s = timeout_s

    @property
    def session(self):
        if self._session is None:
            import boto3
            import botocore.exceptions

            try:
                self._session = boto3.Session(profile_name=self._profile)
            except botocore.exceptions.ProfileNotFound:
                name = self._profile or os.environ.get("AWS_PROFILE")
                raise UsageError(f"AWS profile {name!r} is not in your AWS configuration: name one that "
                                 f"`aws configure list-profiles` shows with --profile or AWS_PROFILE") from None
        return self._session

    @property
    def region(self) -> str:
        if self._region is None:
            match = _EXECUTE_API.search(urlparse(self.endpoint).hostname or "")
            self._region = match.group(1) if match else (self.session.region_name or "us-east-1")
        return self._region

    def credentials(self):
        if self._credentials is None:
            import botocore.exceptions
            from botocore.credentials import ReadOnlyCredentials

            if is_loopback(self.endpoint) and not (self._profile or os.environ.get("AWS_PROFILE")) and self._session is None:
                # The local runtime checks no signature: sign with local credentials rather than search for real ones
                # (the search would end at the EC2 metadata service, seconds away on a laptop).
                self._credentials = ReadOnlyCredentials(*LOCAL_CREDENTIALS, None)
                return self._credentials
            try:
                found = self.session.get_credentials()
                self._credentials = found.get_frozen_credentials() if found is not None else None
            except botocore.exceptions.BotoCoreError as error:
                raise UsageError(f"AWS credentials could not be loaded: {error}") from None
            if self._credentials is None:
                if not is_loopback(self.endpoint) or self._given_session:
                    raise UsageError("no AWS credentials to sign the request: set AWS_PROFILE (or --profile), or "
                                     "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY")
                self._credentials = ReadOnlyCredentials(*LOCAL_CREDENTIALS, None)
        return self._credentials

    def get(self, path: str, **query) -> dict:
        return self.request("GET", path, query=query)

    def all_items(self, path: str, **query) -> list[dict]:
        """Every item of a paged list, following `continue` tokens 500 at a time."""
        items, token = [], None
        while True:
            page = self.get(path, limit="500", **{"continue": token}, **query)
            items += page.get("items", [])
            token = page.get("continue") or (page.get("metadata") or {}).get("continue")
            if not token:
                return items

    def post(self, path: str, body: object, **query) -> dict:
        return self.request("POST", path, body, query=query)

    def put(self, path: str, body: object, **query) -> dict:
        return self.request("PUT", path, body, query=query)

    def patch(self, path: str, body: object, **query) -> dict:
        return self.request("PATCH", path, body, query=query, content_type="application/merge-patch+json")

    def delete(self, path: str, **query) -> dict:
        return self.request("DELETE", path, query=query)

    def request(self, method: str, path: str, body: object = None, query: dict | None = None,
                content_type: str = "application/json") -> dict:
        data = json.dumps(body).encode() if body is not None else None
        code, raw, kind = self._send(method, path, data, query, content_type)
        if code >= 400:
            raise api_error(code, raw, kind, self.endpoint)
        if not raw:
            return {}
        try:
            return json.loads(raw)
        except ValueError:
            raise ApiError(502, "NotBallast", f"the server at {self.endpoint} answered {method} {path} with "
                                              f"{kind or 'a body'} that is not JSON: is --endpoint Ballast's API?") from None

    def exchange(self, method: str, path: str, data: bytes | None = None, query: dict | None = None,
                 content_type: str = "application/json") -> tuple[int, bytes]:
        """One signed request; the answer's status and body as they came (the console's proxy forwards them whole).

        ApiError only when there is no answer (no API server at the endpoint), UsageError when there is nothing to
        sign with.
        """
        code, raw, _ = self._send(method, path, data, query, content_type)
        return code, raw

    def _send(self, method: str, path: str, data: bytes | None, query: dict | None,
              content_type: str) -> tuple[int, bytes, str]:
        from botocore.auth import SigV4Auth
        from botocore.awsrequest import AWSRequest

        query = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.endpoint + path + (f"?{urlencode(sorted(query.items()))}" if query else "")
        signed = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": content_type, "Accept": "application/json"})
        SigV4Auth(self.credentials(), "execute-api", self.region).add_auth(signed)
        request = urllib.request.Request(url, data=data, method=method, headers=dict(signed.headers.items()))
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                return response.status, response.read(), response.headers.get("Content-Type", "")
        except urllib.error.HTTPError as error:
            return error.code, error.read(), error.headers.get("Content-Type", "")
        except urllib.error.URLError as error:
            raise self._unreachable(error.reason) from None
        except (TimeoutError, socket.timeout, ConnectionError, http.client.HTTPException) as error:
            raise self._unreachable(error) from None

    def _unreachable(self, reason: object) -> ApiError:
        if isinstance(reason, (TimeoutError, socket.timeout)) or "timed out" in str(reason):
            why = f"no answer within {self.timeout_s:g}s (--request-timeout)"
        else:
            why = str(getattr(reason, "strerror", None) or reason or "connection failed")
        return ApiError(503, "Unreachable", f"cannot reach the API server at {self.endpoint}: {why}; is it running "
                                            f"(`ballast up` locally) and is --endpoint right?")


def api_error(code: int, raw: bytes, kind: str = "", endpoint: str = "the endpoint") -> ApiError:
    """An error answer, whichever shape it came in, as one ApiError."""
    try:
        body = json.loads(raw)
    except ValueError:
        title = _TITLE.search(raw or b"")
        shown = title.group(1).decode(errors="replace").strip() if title else raw.decode(errors="replace").strip()[:200]
        return ApiError(code, "NotBallast", f"the server at {endpoint} answered {code} with {kind or 'a body'} that is "
                                            f"not a Ballast Status ({shown or 'empty'}): is --endpoint Ballast's API?")
    if not isinstance(body, dict):
        return ApiError(code, "Error", str(body)[:500])
    if body.get("kind") == "Status":
        return ApiError(code, body.get("reason", "Error"), body.get("message", ""), (body.get("details") or {}).get("field"))
    # API Gateway's own answers (403 from the IAM authorizer, 429) are {"message": ...}; Chalice's are {Code, Message}.
    return ApiError(code, body.get("Code", "Error"), body.get("message") or body.get("Message") or json.dumps(body)[:500])
