"""The photo store: one behaviour, two backends. Every test here runs against a local
folder and against S3 (moto's standalone server, a real S3 HTTP endpoint on loopback)."""
from __future__ import annotations

import io
import os
import threading
import uuid

import pytest

from server.core.storage import LocalStore, ObjectMissing, S3Store, current_store, store_from_config
from tests.photos_helpers import S3_CREDENTIALS, moto_server


@pytest.fixture(scope="module")
def s3_endpoint():
    with moto_server() as url:
        yield url


@pytest.fixture(params=["local", "s3"])
def store(request, tmp_path):
    if request.param == "local":
        return LocalStore(tmp_path / "photos")
    url = request.getfixturevalue("s3_endpoint")
    s3 = S3Store(f"doorstep-{uuid.uuid4().hex[:12]}", endpoint_url=url, **S3_CREDENTIALS)
    s3.ensure_bucket()
    return s3


def test_put_then_get_exists_open(store):
    assert not store.exists("originals/abc")
    assert store.put("originals/abc", b"\xff\xd8 photo bytes", "image/jpeg") is True
    assert store.exists("originals/abc")
    assert store.get("originals/abc") == b"\xff\xd8 photo bytes"
    f = store.open("originals/abc")
    try:
        assert f.read(4) == b"\xff\xd8 p"
        assert f.read() == b"hoto bytes"
    finally:
        f.close()


def test_a_key_is_written_once_and_never_rewritten(store):
    """Content-addressed: the second put of a key reports no write and leaves the bytes."""
    assert store.put("display/k.jpg", b"first", "image/jpeg") is True
    assert store.put("display/k.jpg", b"second", "image/jpeg") is False
    assert store.get("display/k.jpg") == b"first"


def test_put_takes_a_file(store):
    data = os.urandom(3 * 1024 * 1024 + 17)  # more than one chunk
    assert store.put("originals/big", io.BytesIO(data), "image/png") is True
    assert store.get("originals/big") == data


def test_missing_keys(store):
    with pytest.raises(ObjectMissing):
        store.get("thumbs/none.jpg")
    with pytest.raises(ObjectMissing):
        store.open("thumbs/none.jpg")
    store.delete("thumbs/none.jpg")  # deleting nothing is fine


def test_delete(store):
    store.put("thumbs/t.jpg", b"x", "image/jpeg")
    store.delete("thumbs/t.jpg")
    assert not store.exists("thumbs/t.jpg")
    assert store.put("thumbs/t.jpg", b"y", "image/jpeg") is True


@pytest.mark.parametrize("key", ["../etc/passwd", "/abs", "a/../../b", "A/Upper", "a//b", "", "a/", "a b",
                                 "originals/x\n"])
def test_keys_cannot_leave_the_store(store, key):
    with pytest.raises(ValueError):
        store.put(key, b"x", "image/jpeg")
    with pytest.raises(ValueError):
        store.exists(key)


def test_concurrent_puts_of_one_key_store_it_once(store):
    """Twenty writers at once: one object, intact, and exactly one reports the write
    (S3 through If-None-Match; the folder through an atomic no-clobber link)."""
    data = os.urandom(256 * 1024)
    results, barrier = [], threading.Barrier(20)

    def put():
        barrier.wait()
        results.append(store.put("originals/race", data, "image/jpeg"))

    threads = [threading.Thread(target=put) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert store.get("originals/race") == data
    assert results.count(True) == 1 and results.count(False) == 19


def test_local_store_leaves_no_temporary_files(tmp_path):
    store = LocalStore(tmp_path)
    store.put("originals/a", b"1", "image/jpeg")
    store.put("originals/a", b"1", "image/jpeg")
    assert sorted(p.name for p in (tmp_path / "originals").iterdir()) == ["a"]


def test_s3_objects_keep_their_content_type(s3_endpoint):
    s3 = S3Store("doorstep-content-type", endpoint_url=s3_endpoint, **S3_CREDENTIALS)
    s3.ensure_bucket()
    s3.ensure_bucket()  # a second time is fine
    s3.put("originals/h", b"heic", "image/heic")
    head = s3.client.head_object(Bucket="doorstep-content-type", Key="originals/h")
    assert head["ContentType"] == "image/heic"


def test_store_from_config_chooses_the_backend(tmp_path, s3_endpoint, monkeypatch):
    local = store_from_config({"PHOTO_STORE": str(tmp_path / "p"), "S3_BUCKET": None})
    assert isinstance(local, LocalStore) and local.root == (tmp_path / "p").resolve()

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", S3_CREDENTIALS["aws_access_key_id"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", S3_CREDENTIALS["aws_secret_access_key"])
    s3 = store_from_config({"PHOTO_STORE": str(tmp_path / "p"), "S3_BUCKET": "doorstep-from-config",
                            "S3_ENDPOINT_URL": s3_endpoint, "S3_REGION": "us-east-1", "S3_CREATE_BUCKET": True})
    assert isinstance(s3, S3Store) and s3.bucket == "doorstep-from-config"
    assert s3.put("originals/c", b"c", "image/jpeg") is True
    assert s3.get("originals/c") == b"c"


def test_current_store_is_made_once_per_app(app):
    with app.app_context():
        first = current_store()
        assert current_store() is first
        assert isinstance(first, LocalStore)
        assert str(first.root) == str(os.path.realpath(app.config["PHOTO_STORE"]))
