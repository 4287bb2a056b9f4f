"""Media on an S3-compatible store: our Content-Type on every object, nothing public.

The store is moto's S3 server: a real HTTP S3 API on a local port, spoken to by boto3 exactly
as AWS or MinIO would be.
"""

from __future__ import annotations

import socket

import pytest
import requests

from config.storage import content_type_for

pytestmark = pytest.mark.django_db
BUCKET = "atelier-media"
PUBLIC_GROUPS = (
    "http://acs.amazonaws.com/groups/global/AllUsers",
    "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
)


@pytest.fixture(scope="module")
def s3_endpoint():
    from moto.server import ThreadedMotoServer

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    yield f"http://127.0.0.1:{port}"
    server.stop()


@pytest.fixture
def s3(settings, s3_endpoint, monkeypatch):
    import boto3

    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    client = boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", **credentials)
    client.create_bucket(Bucket=BUCKET)
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "config.storage.MediaS3Storage",
            "OPTIONS": {
                "bucket_name": BUCKET,
                "endpoint_url": s3_endpoint,
                "region_name": "us-east-1",
                "access_key": "testing",
                "secret_key": "testing",
                "signature_version": "s3v4",
            },
        },
    }
    yield client
    for item in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=item["Key"])
    client.delete_bucket(Bucket=BUCKET)


def test_an_image_and_its_thumbnails_are_private_objects_with_our_content_type(make_image, s3):
    image = make_image()
    for name, expected in (
        (image.file.name, "image/png"),
        (image.thumb_small.name, "image/webp"),
        (image.thumb_large.name, "image/webp"),
    ):
        head = s3.head_object(Bucket=BUCKET, Key=name)
        assert head["ContentType"] == expected
        grants = s3.get_object_acl(Bucket=BUCKET, Key=name)["Grants"]
        assert not [g for g in grants if g["Grantee"].get("URI") in PUBLIC_GROUPS]


def test_the_api_links_to_signed_urls_that_serve_the_image(make_image, s3, api):
    image = make_image()
    body = api.get(f"/api/images/{image.id}/").json()
    assert "X-Amz-Signature=" in body["image_url"]
    response = requests.get(body["image_url"], timeout=10)
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "image/png"
    assert response.content[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_unexpected_file_kind_is_a_download_never_rendered():
    assert content_type_for("uploads/x.svg") == "application/octet-stream"
    assert content_type_for("images/ab/cd/x.PNG") == "image/png"
