import boto3
import pytest

from chalicelib import wiring
from chalicelib.errors import NotFound
from tests.pipeline import BUCKET


@pytest.fixture
def objects(stack):
    return wiring.objects()


def test_put_head_get_delete_round_trip(objects):
    objects.put(BUCKET, "input/grayscale/a b.jpg", b"bytes", "image/jpeg")
    head = objects.head(BUCKET, "input/grayscale/a b.jpg")
    assert (head["size"], head["contentType"]) == (5, "image/jpeg")
    assert not head["eTag"].startswith('"')
    assert objects.get(BUCKET, "input/grayscale/a b.jpg") == b"bytes"
    objects.delete(BUCKET, "input/grayscale/a b.jpg")
    with pytest.raises(NotFound):
        objects.head(BUCKET, "input/grayscale/a b.jpg")


def test_missing_objects_are_not_found_and_deleting_one_is_fine(objects):
    with pytest.raises(NotFound):
        objects.get(BUCKET, "nothing")
    objects.delete(BUCKET, "nothing")


def test_head_etag_matches_what_s3_events_carry(objects):
    objects.put(BUCKET, "k", b"x", "image/png")
    assert objects.head(BUCKET, "k")["eTag"] == boto3.client("s3").head_object(Bucket=BUCKET, Key="k")["ETag"].strip('"')


def test_presigned_get_is_sigv4_and_expires(objects):
    url = objects.presign_get(BUCKET, "input/grayscale/a.jpg", 60)
    assert "X-Amz-Algorithm=AWS4-HMAC-SHA256" in url and "X-Amz-Expires=60" in url


def test_presigned_post_carries_the_callers_conditions(objects):
    post = objects.presign_post(BUCKET, "input/grayscale/a.jpg", {"Content-Type": "image/png"},
                                [{"Content-Type": "image/png"}, ["content-length-range", 1, 9]], 60)
    assert post["fields"]["key"] == "input/grayscale/a.jpg" and post["fields"]["Content-Type"] == "image/png"
