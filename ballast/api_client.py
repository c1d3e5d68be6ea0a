"""A client of Ballast's API server: SigV4-signed HTTP requests, Kubernetes Status error bodies turned into ApiError."""
from __future__ import annotations

import json
import urllib.error
import urllib.request
from urllib.parse import urlencode

import boto3
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.exceptions import BotoCoreError

TIMEOUT_S = 30


class ApiError(Exception):
    """An error answer of the API server: HTTP code, Kubernetes reason, message and, for a 400, the field at fault."""

    def __init__(self, code: int, reason: str, message: str, field: str | None = None):
        super().__init__(f"{code} {reason}: {message}")
        self.code, self.reason, self.message, self.field = code, reason, message, field

    def __str__(self) -> str:
        where = f" (field {self.field})" if self.field and self.field not in self.message else ""
        return f"{self.message}{where} [{self.code} {self.reason}]"


class Api:
    """Signs every request as API Gateway's IAM authorizer expects (service execute-api) with the default credentials."""

    def __init__(self, endpoint: str, region: str | None = None, session: boto3.Session | None = None):
        self.endpoint = endpoint.rstrip("/")
        self._session = session or boto3.Session()
        self._region = region or self._session.region_name or "us-east-1"

    def get(self, path: str, **query) -> dict:
        return self.request("GET", path, query=query)

    def all_items(self, path: str) -> list[dict]:
        """Every item of a paged list, following `continue` tokens 500 at a time."""
        items, token = [], None
        while True:
            page = self.get(path, limit="500", **{"continue": token})
            items += page.get("items", [])
            token = page.get("continue")
            if not token:
                return items

    def post(self, path: str, body: object) -> dict:
        return self.request("POST", path, body)

    def put(self, path: str, body: object) -> dict:
        return self.request("PUT", path, body)

    def patch(self, path: str, body: object) -> dict:
        return self.request("PATCH", path, body, content_type="application/merge-patch+json")

    def delete(self, path: str, **query) -> dict:
        return self.request("DELETE", path, query=query)

    def request(self, method: str, path: str, body: object = None, query: dict | None = None,
                content_type: str = "application/json") -> dict:
        data = json.dumps(body).encode() if body is not None else None
        code, raw = self.exchange(method, path, data, query, content_type)
        if code >= 400:
            raise api_error(code, raw)
        return json.loads(raw) if raw else {}

    def exchange(self, method: str, path: str, data: bytes | None = None, query: dict | None = None,
                 content_type: str = "application/json") -> tuple[int, bytes]:
        """One signed request; the answer's status and body as they came (the console's proxy forwards them whole).

        ApiError only when there is no answer: no credentials to sign with, or no API server at the endpoint.
        """
        query = {k: v for k, v in (query or {}).items() if v is not None}
        url = self.endpoint + path + (f"?{urlencode(sorted(query.items()))}" if query else "")
        signed = AWSRequest(method=method, url=url, data=data, headers={"Content-Type": content_type, "Accept": "application/json"})
        SigV4Auth(self._credentials(), "execute-api", self._region).add_auth(signed)
        request = urllib.request.Request(url, data=data, method=method, headers=dict(signed.headers.items()))
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()
        except OSError as error:  # URLError, a timeout, a connection dropped mid-answer
            why = getattr(error, "reason", None) or error
            raise ApiError(503, "Unreachable", f"cannot reach the API server at {self.endpoint}: {why}") from None

    def _credentials(self):
        try:
            credentials = self._session.get_credentials()
            frozen = credentials.get_frozen_credentials() if credentials is not None else None
        except BotoCoreError as error:  # an expired SSO session, a profile that does not resolve
            raise ApiError(401, "NoCredentials", f"the AWS credentials could not be loaded: {error}") from None
        if frozen is None:
            raise ApiError(401, "NoCredentials", "no AWS credentials found to sign the request (set AWS_PROFILE or AWS_ACCESS_KEY_ID)")
        return frozen


def api_error(code: int, raw: bytes) -> ApiError:
    """An error answer, whichever shape it came in, as one ApiError."""
    try:
        body = json.loads(raw)
    except ValueError:
        return ApiError(code, "Error", raw.decode(errors="replace")[:500])
    if not isinstance(body, dict):
        return ApiError(code, "Error", str(body)[:500])
    if body.get("kind") == "Status":
        return ApiError(code, body.get("reason", "Error"), body.get("message", ""), (body.get("details") or {}).get("field"))
    # API Gateway's own answers (403 from the IAM authorizer, 429) are {"message": ...}; Chalice's are {Code, Message}.
    return ApiError(code, body.get("Code", "Error"), body.get("message") or body.get("Message") or json.dumps(body))
