"""S3 for the photos of DESIGN.md "How data flows": head, get, put, delete and presigned URLs; botocore errors become ours."""
from __future__ import annotations

from urllib.parse import quote

from botocore.exceptions import ClientError

from chalicelib.errors import NotFound, Unavailable

_MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}


def _translate(error: ClientError, what: str) -> Exception:
    code = error.response.get("Error", {}).get("Code", "")
    if code in _MISSING:
        return NotFound(f"{what} not found")
    return Unavailable(f"S3 failed on {what}: {code}", code)


class Objects:
    def __init__(self, s3):
        self._s3 = s3

    def head(self, bucket: str, key: str) -> dict:
        """{"size", "eTag" (unquoted, as S3 events spell it), "versionId" (None when unversioned), "contentType"}."""
        try:
            head = self._s3.head_object(Bucket=bucket, Key=key)
        except ClientError as error:
            raise _translate(error, f"s3://{bucket}/{key}") from None
        return {"size": head["ContentLength"], "eTag": head["ETag"].strip('"'),
                "versionId": head.get("VersionId"), "contentType": head.get("ContentType")}

    def get(self, bucket: str, key: str) -> bytes:
        try:
            return self._s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        except ClientError as error:
            raise _translate(error, f"s3://{bucket}/{key}") from None

    def put(self, bucket: str, key: str, data: bytes, content_type: str) -> None:
        try:
            self._s3.put_object(Bucket=bucket, Key=key, Body=data, ContentType=content_type)
        except ClientError as error:
            raise _translate(error, f"s3://{bucket}/{key}") from None

    def delete(self, bucket: str, key: str) -> None:
        """Idempotent, as S3's DeleteObject is: a missing key is not an error."""
        try:
            self._s3.delete_object(Bucket=bucket, Key=key)
        except ClientError as error:
            raise _translate(error, f"s3://{bucket}/{key}") from None

    def presign_get(self, bucket: str, key: str, expires_s: int, download_as: str | None = None) -> str:
        """A GET URL; with `download_as`, S3 answers it as an attachment of that name (a browser saves, not shows, it)."""
        params = {"Bucket": bucket, "Key": key}
        if download_as is not None:
            params["ResponseContentDisposition"] = f"attachment; filename*=UTF-8''{quote(download_as, safe='')}"
        return self._s3.generate_presigned_url("get_object", Params=params, ExpiresIn=expires_s)

    def presign_post(self, bucket: str, key: str, fields: dict[str, str], conditions: list, expires_s: int) -> dict:
        """{"url", "fields"}: boto3 adds the exact-key and bucket conditions itself; `conditions` add the caller's."""
        return self._s3.generate_presigned_post(Bucket=bucket, Key=key, Fields=fields, Conditions=conditions,
                                                ExpiresIn=expires_s)
