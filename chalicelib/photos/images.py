"""The images API of DESIGN.md's API server: presigned upload and download, a user's images with their jobs, delete.

Each caller owns the prefix `input/<op>/<user>/` (and `output/<op>/<user>/`), where <user> is "u-" and a hash of the
IAM identity API Gateway verified; every key is built here from that prefix and a validated name, so a caller cannot
name another's key. A request with no identity (the local runtime, tests) is the user DEFAULT_USER.
Presigned URLs are returned, never logged.
"""
from __future__ import annotations

import hashlib
import unicodedata
from urllib.parse import unquote

from aws_lambda_powertools import Logger

from chalicelib import config
from chalicelib.photos import job
from chalicelib.adapters.objects import Objects
from chalicelib.adapters.store import Store
from chalicelib.errors import NotFound, SpecError

logger = Logger(child=True)
DEFAULT_USER = "u-local"
# What workers/ops.py decodes (ACCEPTED_FORMATS); anything else would only end as a failed job.
CONTENT_TYPES = ("image/jpeg", "image/png", "image/gif", "image/webp", "image/tiff", "image/bmp")
MAX_UPLOAD_BYTES = 50 * 1024 * 1024
MAX_NAME_BYTES = 255
UPLOAD_EXPIRES_S = 900  # S3 accepts the POST until then; a slow client asks again
DOWNLOAD_EXPIRES_S = 300
DEFAULT_PAGE, MAX_PAGE = 50, 500


def user_of(context: dict | None) -> str:
    """The caller's prefix, from the identity API Gateway's IAM authorizer verified (never from anything the caller wrote)."""
    identity = (context or {}).get("identity") or {}
    who = identity.get("userArn") or identity.get("cognitoIdentityId") or identity.get("caller")
    return f"u-{hashlib.sha256(who.encode()).hexdigest()[:20]}" if who else DEFAULT_USER


def check_name(name: object, field: str = "name") -> str:
    if not isinstance(name, str) or not name:
        raise SpecError(field, "is required")
    if len(name.encode()) > MAX_NAME_BYTES:
        raise SpecError(field, f"must be at most {MAX_NAME_BYTES} bytes, got {len(name.encode())}")
    if "/" in name or name in (".", "..") or ".." in name:
        raise SpecError(field, f"must not contain '/' or '..', got {name!r}")
    if any(unicodedata.category(char) in ("Cc", "Cf") for char in name):
        raise SpecError(field, "must not contain control characters")
    return name


def check_op(op: object, field: str = "op") -> str:
    if op not in config.OPERATIONS:
        raise SpecError(field, f"must be one of {', '.join(config.OPERATIONS)}, got {op!r}")
    return op


def _keys(user: str, op: str, name: str) -> tuple[str, str]:
    rest = f"{check_op(op)}/{user}/{check_name(name)}"
    return f"input/{rest}", f"output/{rest}"


def presign_upload(objects: Objects, user: str, body: object) -> dict:
    """A presigned POST for exactly one key, this content type and this size, valid for UPLOAD_EXPIRES_S."""
    if not isinstance(body, dict):
        raise SpecError("body", "must be a JSON object with op, name, contentType and size")
    content_type, size = body.get("contentType"), body.get("size")
    key, _ = _keys(user, body.get("op"), body.get("name"))
    if content_type not in CONTENT_TYPES:
        raise SpecError("contentType", f"must be one of {', '.join(CONTENT_TYPES)}, got {content_type!r}")
    if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= MAX_UPLOAD_BYTES:
        raise SpecError("size", f"must be an integer from 1 to {MAX_UPLOAD_BYTES}, got {size!r}")
    post = objects.presign_post(config.BUCKET, key, {"Content-Type": content_type},
                                [{"Content-Type": content_type}, ["content-length-range", size, size]], UPLOAD_EXPIRES_S)
    logger.info("presigned upload", extra={"key": key, "size": size})
    return {"key": key, "url": post["url"], "fields": post["fields"], "expiresIn": UPLOAD_EXPIRES_S}


def list_images(store: Store, user: str, query: dict) -> dict:
    """The caller's images, one per job, in job-id order; `continue` pages on, as the Kubernetes API does."""
    limit = _limit(query.get("limit"))
    jobs, token = store.list(job.KIND, user, limit=limit, continue_token=query.get("continue"))
    return {"items": [_image(j) for j in jobs], "continue": token}


def name_in_path(raw: str) -> str:
    """A name as the route's path carried it: API Gateway's REST API (and chalice local) pass path parameters as sent,
    percent-encoded, so a client sends quote(name, safe="") and "50%25 off.jpg" arrives as "50%2525%20off.jpg"."""
    return unquote(raw)


def get_image(store: Store, objects: Objects, user: str, op: str, name: str) -> dict:
    """The image's job and short-lived download URLs for the original and (once done) the output."""
    key, output_key = _keys(user, op, name)
    head = objects.head(config.BUCKET, key)
    found = _jobs_of(store, user, key)
    current = job.job_id(config.BUCKET, key, job.version_of(head["versionId"], head["eTag"]))
    record = next((j for j in found if j["metadata"]["name"] == current), None)
    image = _image(record) if record else {"op": op, "name": name, "key": key, "jobId": None, "phase": None}
    image["original"] = {**_urls(objects, key, name), "bytes": head["size"]}
    done = record is not None and record["status"]["phase"] == job.DONE
    image["output"] = {**record["status"]["output"], **_urls(objects, output_key, name)} if done else None
    image["expiresIn"] = DOWNLOAD_EXPIRES_S
    return image


def _urls(objects: Objects, key: str, name: str) -> dict:
    """To show (`url`) and to save under the image's name (`download`), both short-lived."""
    return {"url": objects.presign_get(config.BUCKET, key, DOWNLOAD_EXPIRES_S),
            "download": objects.presign_get(config.BUCKET, key, DOWNLOAD_EXPIRES_S, download_as=name)}


def delete_image(store: Store, objects: Objects, user: str, op: str, name: str) -> dict:
    """Removes the original, the output and every job of the key; NotFound only if none of them existed."""
    key, output_key = _keys(user, op, name)
    found = _jobs_of(store, user, key)
    try:
        objects.head(config.BUCKET, key)
    except NotFound:
        if not found:
            raise NotFound(f"image {op}/{name} not found") from None
    # Objects before records: a retried DELETE after a crash still finds the job and finishes the work.
    objects.delete(config.BUCKET, key)
    objects.delete(config.BUCKET, output_key)
    for record in found:
        try:
            store.delete(job.KIND, user, record["metadata"]["name"])
        except NotFound:
            continue  # a concurrent DELETE of the same image got there first
    logger.info("deleted image", extra={"key": key, "jobs": len(found)})
    return {"op": op, "name": name, "deleted": {"original": key, "output": output_key, "jobs": len(found)}}


def get_job(store: Store, user: str, job_id: str) -> dict:
    if not job.ID.fullmatch(job_id or ""):
        raise SpecError("id", "must be 32 lower-case hex characters")
    return store.get(job.KIND, user, job_id)


def _jobs_of(store: Store, user: str, key: str) -> list[dict]:
    jobs, _ = store.list(job.KIND, user, labels={"image": job.image_label(key)})
    return jobs


def _image(record: dict) -> dict:
    spec, status = record["spec"], record["status"]
    return {"op": spec["op"], "name": spec["key"].rsplit("/", 1)[-1], "key": spec["key"],
            "jobId": record["metadata"]["name"], "phase": status["phase"], "reason": status.get("reason"),
            "output": status.get("output"), "uploadedAt": record["metadata"]["creationTimestamp"],
            "startedAt": status.get("startedAt"), "finishedAt": status.get("finishedAt")}


def _limit(raw: object) -> int:
    if raw is None:
        return DEFAULT_PAGE
    try:
        limit = int(raw)
    except (TypeError, ValueError):
        limit = 0
    if not 1 <= limit <= MAX_PAGE:
        raise SpecError("limit", f"must be an integer from 1 to {MAX_PAGE}, got {raw!r}")
    return limit
