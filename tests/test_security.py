"""Security of issue 8 not covered elsewhere: no secrets in tracked files, no presigned URL in any log line the images
API writes (stdout, where Lambda's logs go), download URLs short-lived and for one key, the bucket private and encrypted.
tests/test_images.py covers the presigned POST's one key, type, size and 15 minutes; tests/test_app_auth.py the IAM auth."""
import io
import json
import logging
import re
import subprocess
from pathlib import Path
from urllib.parse import parse_qs, unquote, urlsplit

import boto3
import pytest
from cfnlint.decode import decode_str

import infra
from chalicelib.photos import images
from tests.pipeline import BUCKET, drain, upload

ROOT = Path(__file__).resolve().parent.parent
JSON = {"Content-Type": "application/json"}
SECRETS = {
    "AWS access key id": re.compile(r"\b(AKIA|ASIA)[0-9A-Z]{16}\b"),
    "AWS secret access key": re.compile(r"aws_?secret_?access_?key\W{1,4}[A-Za-z0-9/+=]{40}\b", re.IGNORECASE),
    "private key": re.compile(r"-----BEGIN (RSA |EC |DSA |OPENSSH |ENCRYPTED )?PRIVATE KEY-----"),
}
SIGNED = re.compile(r"x-amz-(signature|credential|security-token)", re.IGNORECASE)


def secrets_in(text: str) -> list[str]:
    return [name for name, pattern in SECRETS.items() if pattern.search(text)]


def test_no_tracked_file_holds_an_aws_key_or_a_private_key():
    tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, check=True).stdout.split(b"\0")
    found = {}
    for name in filter(None, tracked):
        path = ROOT / name.decode()
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        data = path.read_bytes()
        if b"\0" not in data[:8192]:
            found.update({name.decode(): hits for hits in [secrets_in(data.decode("utf-8", "replace"))] if hits})
    assert found == {}


@pytest.mark.parametrize("sample", [
    "AKIA" + "IOSFODNN7" + "EXAMPLE",
    "aws_secret_access_key = " + "wJalrXUtnFEMI/K7MDENG/" + "bPxRfiCYEXAMPLEKEY",
    "-----BEGIN " + "RSA PRIVATE KEY-----",
], ids=["key-id", "secret", "pem"])
def test_the_secret_scan_finds_a_planted_secret(sample):
    assert secrets_in(f"config = {{\n  {sample}\n}}")


@pytest.fixture
def service_log():
    """The service's log exactly as Lambda would ship it: Powertools' JSON lines, through its own formatter."""
    from chalicelib.telemetry import logger

    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logger.registered_formatter)
    logger._logger.addHandler(handler)
    yield stream
    logger._logger.removeHandler(handler)


def test_no_log_line_carries_a_presigned_url(client, store, service_log, caplog, capfd):
    answer = json.loads(client.http.post("/images", headers=JSON, body=json.dumps(
        {"op": "grayscale", "name": "beach.jpg", "contentType": "image/jpeg", "size": 8})).body)
    upload(client, answer["key"], b"original")
    [message] = drain("ballast-dev-grayscale")
    boto3.client("s3").put_object(Bucket=BUCKET, Key=message["outputKey"], Body=b"output")
    client.lambda_.invoke("on_completion", {"Records": [{
        "messageId": "9b1f3a52-0000-4000-8000-000000000001", "receiptHandle": "h", "attributes": {"ApproximateReceiveCount": "1"},
        "body": json.dumps({**message, "status": "done", "finishedAt": "2026-11-25T06:00:03+00:00"}),
        "messageAttributes": {}, "md5OfBody": "0", "eventSource": "aws:sqs", "awsRegion": "us-east-1",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:ballast-dev-completions"}]})
    image = json.loads(client.http.get("/images/grayscale/beach.jpg").body)
    assert SIGNED.search(image["output"]["url"]) and SIGNED.search(json.dumps(answer["fields"]))
    client.http.get("/images")
    client.http.get(f"/jobs/{message['jobId']}")
    client.http.delete("/images/grayscale/beach.jpg")
    lines = service_log.getvalue()
    assert '"message":"presigned upload"' in lines and '"message":"job finished"' in lines, "the capture must see the log"
    printed, errors = capfd.readouterr()  # what print() and the metrics write
    assert not SIGNED.search(lines + printed + errors)
    assert not [r for r in caplog.records if SIGNED.search(json.dumps(r.__dict__, default=str))]


def test_download_urls_last_five_minutes_and_name_exactly_one_key(client):
    key = "input/thumbnail/u-local/cat.png"
    boto3.client("s3").put_object(Bucket=BUCKET, Key=key, Body=b"original")
    url = json.loads(client.http.get("/images/thumbnail/cat.png").body)["original"]["url"]
    parts = urlsplit(url)
    assert parse_qs(parts.query)["X-Amz-Expires"] == [str(images.DOWNLOAD_EXPIRES_S)] and images.DOWNLOAD_EXPIRES_S <= 300
    assert unquote(parts.path).endswith(f"/{BUCKET}/{key}") or (parts.hostname.startswith(BUCKET) and unquote(parts.path) == f"/{key}")
    assert "*" not in unquote(parts.path)


def test_the_bucket_is_encrypted_and_nothing_in_it_is_public(stack):
    s3 = boto3.client("s3")
    [rule] = s3.get_bucket_encryption(Bucket=BUCKET)["ServerSideEncryptionConfiguration"]["Rules"]
    assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] in ("AES256", "aws:kms")
    assert [grant["Grantee"]["Type"] for grant in s3.get_bucket_acl(Bucket=BUCKET)["Grants"]] == ["CanonicalUser"]
    with pytest.raises(s3.exceptions.ClientError, match="NoSuchBucketPolicy"):
        s3.get_bucket_policy(Bucket=BUCKET)
    # moto's CloudFormation does not apply a public access block, so it is read from the template that AWS applies.
    template, _ = decode_str(infra.TEMPLATE.read_text())
    block = template["Resources"]["Bucket"]["Properties"]["PublicAccessBlockConfiguration"]
    assert block == dict.fromkeys(("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets"), True)
