import base64
import json
from datetime import datetime, timedelta, timezone

import boto3
import pytest
import requests

from chalicelib.photos import images, job
from tests.pipeline import BUCKET, drain, upload

JSON = {"Content-Type": "application/json"}


def post_image(client, **body):
    request = {"op": "grayscale", "name": "beach.jpg", "contentType": "image/jpeg", "size": 1000, **body}
    return client.http.post("/images", headers=JSON, body=json.dumps(request))


def finish(store, message, user="u-local"):
    """What the worker and the completions Lambda do for a message: an output, and the job Done."""
    boto3.client("s3").put_object(Bucket=BUCKET, Key=message["outputKey"], Body=b"out")
    current = store.get("Job", user, message["jobId"])["status"]
    store.update_status("Job", user, message["jobId"], {
        **current, "phase": "Done", "output": {"key": message["outputKey"], "bytes": 3, "width": 1, "height": 1}})


def exists(key):
    return "Contents" in boto3.client("s3").list_objects_v2(Bucket=BUCKET, Prefix=key)


@pytest.fixture
def done_image(client, store):
    upload(client, "input/grayscale/u-local/beach.jpg", b"original")
    [message] = drain("ballast-dev-grayscale")
    finish(store, message)
    return message


def test_presigned_post_allows_exactly_one_key_this_type_and_this_size(client):
    response = post_image(client, size=1234)
    assert response.status_code == 201
    body = json.loads(response.body)
    assert body["key"] == "input/grayscale/u-local/beach.jpg"
    policy = json.loads(base64.b64decode(body["fields"]["policy"]))
    assert {"key": "input/grayscale/u-local/beach.jpg"} in policy["conditions"]
    assert {"bucket": BUCKET} in policy["conditions"]
    assert {"Content-Type": "image/jpeg"} in policy["conditions"]
    assert ["content-length-range", 1234, 1234] in policy["conditions"]
    assert not any(isinstance(c, list) and c[0] == "starts-with" for c in policy["conditions"])
    expires = datetime.strptime(policy["expiration"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
    assert expires <= datetime.now(timezone.utc) + timedelta(minutes=15)


@pytest.mark.parametrize("field, value", [
    pytest.param("name", "../beach.jpg", id="dot-dot"),
    pytest.param("name", "a/b.jpg", id="slash"),
    pytest.param("name", "/beach.jpg", id="leading-slash"),
    pytest.param("name", "be\x00ach.jpg", id="control-character"),
    pytest.param("name", "é" * 128 + ".jpg", id="longer-than-255-bytes"),
    pytest.param("name", "", id="empty-name"),
    pytest.param("op", "sepia", id="unknown-op"),
    pytest.param("contentType", "text/html", id="not-an-image-type"),
    pytest.param("size", 0, id="zero-size"),
    pytest.param("size", 51 * 1024 * 1024, id="too-large"),
    pytest.param("size", "10", id="size-not-a-number"),
])
def test_bad_upload_requests_are_400_naming_the_field(client, field, value):
    response = post_image(client, **{field: value})
    assert response.status_code == 400
    assert json.loads(response.body)["details"]["field"] == field


def test_get_image_gives_the_job_and_download_urls_and_never_logs_them(client, store, done_image, caplog):
    response = client.http.get("/images/grayscale/beach.jpg")
    assert response.status_code == 200
    body = json.loads(response.body)
    assert (body["jobId"], body["phase"], body["output"]["key"]) == (done_image["jobId"], "Done", done_image["outputKey"])
    assert "input/grayscale/u-local/beach.jpg" in body["original"]["url"]
    assert "output/grayscale/u-local/beach.jpg" in body["output"]["url"]
    assert "X-Amz-Signature" in body["original"]["url"] and body["expiresIn"] <= 900
    assert not [r for r in caplog.records if "X-Amz-Signature" in str(r.__dict__)]


def test_the_download_urls_make_s3_answer_an_attachment_of_the_images_name(client, done_image):
    body = json.loads(client.http.get("/images/grayscale/beach.jpg").body)
    saved = requests.get(body["output"]["download"], timeout=5)  # moto's mock answers presigned URLs too
    assert (saved.status_code, saved.content) == (200, b"out")
    assert saved.headers["Content-Disposition"] == "attachment; filename*=UTF-8''beach.jpg"
    assert "Content-Disposition" not in requests.get(body["output"]["url"], timeout=5).headers
    assert requests.get(body["original"]["download"], timeout=5).content == b"original"


def test_get_image_of_a_queued_job_has_no_output(client, store):
    upload(client, "input/thumbnail/u-local/cat.png", b"png")
    body = json.loads(client.http.get("/images/thumbnail/cat.png").body)
    assert (body["phase"], body["output"]) == ("Queued", None)


def test_get_job_by_id(client, store, done_image):
    response = client.http.get(f"/jobs/{done_image['jobId']}")
    assert json.loads(response.body)["status"]["phase"] == "Done"
    assert client.http.get("/jobs/not-an-id").status_code == 400
    assert client.http.get("/jobs/" + "f" * 32).status_code == 404


def test_list_images_pages_through_the_callers_images(client, store):
    for name in ("a.jpg", "b.jpg", "c.jpg"):
        upload(client, f"input/grayscale/u-local/{name}", name.encode())
    first = json.loads(client.http.get("/images?limit=2").body)
    second = json.loads(client.http.get(f"/images?limit=2&continue={first['continue']}").body)
    names = [i["name"] for i in first["items"] + second["items"]]
    assert sorted(names) == ["a.jpg", "b.jpg", "c.jpg"]
    assert second["continue"] is None or json.loads(client.http.get(f"/images?continue={second['continue']}").body)["items"] == []


def test_delete_removes_original_output_and_job_together(client, store, done_image):
    response = client.http.delete("/images/grayscale/beach.jpg")
    assert response.status_code == 200
    assert not exists(done_image["key"]) and not exists(done_image["outputKey"])
    assert store.list_all("Job", "u-local") == []
    assert client.http.delete("/images/grayscale/beach.jpg").status_code == 404


def test_another_user_cannot_reach_an_image_or_its_job(client, store, done_image, monkeypatch):
    monkeypatch.setattr(images, "user_of", lambda context: "u-mallory")
    assert client.http.get("/images/grayscale/beach.jpg").status_code == 404
    assert client.http.get(f"/jobs/{done_image['jobId']}").status_code == 404
    assert client.http.delete("/images/grayscale/beach.jpg").status_code == 404
    assert json.loads(client.http.get("/images").body)["items"] == []
    assert client.http.get("/images/grayscale/..%2Fu-local%2Fbeach.jpg").status_code in (400, 404)
    assert exists(done_image["key"]) and exists(done_image["outputKey"])
    assert store.get("Job", "u-local", done_image["jobId"])


@pytest.mark.parametrize("identity, want", [
    pytest.param({"userArn": "arn:aws:iam::123456789012:user/alice"}, "u-", id="iam-user"),
    pytest.param({"cognitoIdentityId": "us-east-1:1234"}, "u-", id="cognito"),
    pytest.param({"sourceIp": "127.0.0.1"}, images.DEFAULT_USER, id="no-identity"),
])
def test_user_prefix_comes_from_the_verified_identity(identity, want):
    user = images.user_of({"identity": identity})
    assert user.startswith(want) and job.USER_SEGMENT.fullmatch(user)


def test_two_identities_get_two_prefixes():
    alice = images.user_of({"identity": {"userArn": "arn:aws:iam::123456789012:user/alice"}})
    bob = images.user_of({"identity": {"userArn": "arn:aws:iam::123456789012:user/bob"}})
    assert alice != bob


@pytest.mark.parametrize("pillow_format, content_type", [
    ("JPEG", "image/jpeg"), ("PNG", "image/png"), ("GIF", "image/gif"), ("WEBP", "image/webp"), ("TIFF", "image/tiff"),
    ("BMP", "image/bmp"),
])
def test_every_format_the_workers_decode_can_be_uploaded(client, pillow_format, content_type):
    import io

    from PIL import Image

    from workers import ops

    photo = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 30)).save(photo, pillow_format)
    assert ops.apply("thumbnail", photo.getvalue()).width > 0  # the worker takes it
    assert post_image(client, name=f"x.{pillow_format.lower()}", contentType=content_type).status_code == 201


def test_the_api_takes_exactly_the_workers_formats():
    from workers import ops

    assert set(images.CONTENT_TYPES) == {f"image/{f.lower()}" for f in ops.ACCEPTED_FORMATS}
