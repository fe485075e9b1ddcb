"""The photo pipeline on photos made the way cameras make them (tests/photos_helpers.py)."""
from __future__ import annotations

import datetime as dt
import io
import time
import tracemalloc
from decimal import Decimal

import pytest
from PIL import Image

from server.photos import pipeline
from server.photos.pipeline import CorruptImage, NotAnImage, TooManyPixels
from tests import photos_helpers as ph


def size_of(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as img:
        assert img.format == "JPEG"
        return img.size


@pytest.mark.parametrize("orientation", range(1, 9))
def test_the_reference_rasters_follow_the_exif_definitions(orientation):
    """The helper's sideways rasters: corner marks where EXIF 2.32 puts row 0 / column 0."""
    stored = ph.stored_raster(ph.upright_picture(), orientation)
    w, h = stored.size
    assert (w, h) == ((64, 96) if orientation >= 5 else (96, 64))
    # Where the upright top-left (red) corner lands in the stored raster.
    expected_red = {1: (0, 0), 2: (w - 1, 0), 3: (w - 1, h - 1), 4: (0, h - 1),
                    5: (0, 0), 6: (0, h - 1), 7: (w - 1, h - 1), 8: (w - 1, 0)}[orientation]
    assert stored.getpixel(expected_red) == ph.RED


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_comes_out_upright(orientation):
    out = pipeline.process(ph.camera_jpeg(orientation))
    ph.assert_upright(out.display_bytes)
    ph.assert_upright(out.thumb_bytes)
    assert (out.width, out.height) == ph.UPRIGHT_SIZE
    assert size_of(out.display_bytes) == ph.UPRIGHT_SIZE  # never enlarged


@pytest.mark.parametrize("orientation", [1, 6, 8])
def test_a_big_camera_jpeg_is_cut_to_the_display_and_thumb_edges(orientation):
    """4000×3000 is decoded at half scale (DCT scaling): display 2000 px, within 1536–2048."""
    data = ph.camera_jpeg(orientation, ph.textured((4000, 3000)), quality=85)
    out = pipeline.process(data)
    ph.assert_upright(out.display_bytes)
    ph.assert_upright(out.thumb_bytes)
    assert (out.width, out.height) == (4000, 3000)
    dw, dh = size_of(out.display_bytes)
    assert pipeline.DRAFT_MIN_EDGE <= max(dw, dh) <= pipeline.DISPLAY_EDGE and dw > dh
    assert abs(dw / dh - 4 / 3) < 0.01
    tw, th = size_of(out.thumb_bytes)
    assert max(tw, th) == pipeline.THUMB_EDGE and tw > th


@pytest.mark.parametrize("size,expected_long_edge", [((3000, 2000), 2048), ((2400, 1800), 2048),
                                                     ((2048, 1000), 2048), ((1000, 2047), 2047)])
def test_display_long_edge_without_dct_scaling(size, expected_long_edge):
    """Where halving would drop below 1536 px (or there is nothing to cut) the long edge is
    2048 exactly, or the photo's own when smaller."""
    out = pipeline.process(ph.png_bytes(ph.textured(size)) if size[0] < 2000 else
                           ph.camera_jpeg(1, ph.textured(size), quality=80))
    assert max(size_of(out.display_bytes)) == expected_long_edge
    assert max(size_of(out.thumb_bytes)) == min(320, expected_long_edge)


def test_served_copies_carry_no_metadata_at_all():
    """The camera JPEG has EXIF with GPS, XMP with GPS, a comment, an ICC profile: none of it
    survives into the copies (APP0/JFIF is the only segment before the picture)."""
    data = ph.camera_jpeg(6)
    assert b"Exif" in data and b"xmpmeta" in data and ph.SECRET_COMMENT in data
    out = pipeline.process(data)
    for copy in (out.display_bytes, out.thumb_bytes):
        ph.assert_no_metadata(copy)
        assert ph.jpeg_segments(copy)[0] == 0xE0


def test_exif_capture_time_with_its_offset():
    out = pipeline.process(ph.camera_jpeg(1, taken_at="2026:11:20 09:15:00", offset="+05:30", subsec="25"))
    assert out.taken_at == dt.datetime(2026, 11, 20, 9, 15, 0, 250000,
                                       tzinfo=dt.timezone(dt.timedelta(hours=5, minutes=30)))


def test_exif_capture_time_without_offset_is_local_time():
    out = pipeline.process(ph.camera_jpeg(1, taken_at="2026:11:20 09:15:00", offset=None))
    assert out.taken_at.utcoffset() == dt.timedelta(hours=8)
    assert out.taken_at.astimezone(dt.timezone.utc) == dt.datetime(2026, 11, 20, 1, 15, tzinfo=dt.timezone.utc)
    other = pipeline.process(ph.camera_jpeg(1, offset=None), timezone="Europe/Berlin")
    assert other.taken_at.utcoffset() == dt.timedelta(hours=1)


@pytest.mark.parametrize("bad", ["0000:00:00 00:00:00", "    :  :     :  :  ", "garbage", "2026:13:40 25:00:00"])
def test_placeholder_capture_times_are_no_time(bad):
    assert pipeline.process(ph.camera_jpeg(1, taken_at=bad)).taken_at is None


def test_gps_position_and_accuracy():
    out = pipeline.process(ph.camera_jpeg(1, gps=(30.2741, 120.1551, 8.0)))
    assert out.lat == pytest.approx(30.2741, abs=1e-6) and out.lon == pytest.approx(120.1551, abs=1e-6)
    assert out.accuracy == Decimal("8.0")


def test_gps_south_and_west_are_negative():
    out = pipeline.process(ph.camera_jpeg(1, gps=(-33.8568, -70.6483, None)))
    assert out.lat == pytest.approx(-33.8568, abs=1e-6) and out.lon == pytest.approx(-70.6483, abs=1e-6)
    assert out.accuracy is None


def test_no_exif_no_time_no_place():
    out = pipeline.process(ph.png_bytes())
    assert (out.taken_at, out.lat, out.lon, out.accuracy) == (None, None, None, None)


def test_png_webp_and_heic_are_accepted():
    png = pipeline.process(ph.png_bytes())
    assert png.content_type == "image/png"
    ph.assert_upright(png.display_bytes)

    webp = pipeline.process(ph.webp_bytes())
    assert webp.content_type == "image/webp"
    ph.assert_upright(webp.display_bytes)

    heic = pipeline.process(ph.heic_bytes(6))
    assert heic.content_type == "image/heic"
    ph.assert_upright(heic.display_bytes)  # the HEIF container's rotation, applied once
    assert (heic.width, heic.height) == ph.UPRIGHT_SIZE
    assert heic.taken_at == dt.datetime(2026, 11, 20, 9, 15, tzinfo=dt.timezone(dt.timedelta(hours=8)))
    assert heic.lat == pytest.approx(30.2741, abs=1e-6)
    ph.assert_no_metadata(heic.display_bytes)


def test_transparency_becomes_white():
    out = pipeline.process(ph.transparent_png())
    with Image.open(io.BytesIO(out.display_bytes)) as img:
        assert ph.near(img.getpixel((35, 25)), ph.WHITE, 10)
        assert ph.near(img.getpixel((3, 3)), ph.RED)


def test_a_one_pixel_image_is_a_photo():
    for fmt in ("PNG", "JPEG"):
        out = pipeline.process(ph.one_pixel(fmt))
        assert (out.width, out.height) == (1, 1)
        assert size_of(out.display_bytes) == size_of(out.thumb_bytes) == (1, 1)


@pytest.mark.parametrize("data", [ph.random_bytes(), b"", b"GIF89a" + b"\x00" * 100, b"%PDF-1.7\n",
                                  b"\x00\x00\x00\x1cftypavif" + b"\x00" * 64],
                         ids=["random", "empty", "gif", "pdf", "avif"])
def test_anything_else_is_not_an_image(data):
    with pytest.raises(NotAnImage) as err:
        pipeline.process(data)
    assert err.value.status == 422 and err.value.code == "not-an-image"


@pytest.mark.parametrize("make", [ph.truncated_jpeg, lambda: ph.camera_jpeg(1)[:200],
                                  lambda: ph.png_bytes(ph.textured((200, 100)))[:-300],
                                  lambda: _flip_byte(ph.png_bytes(ph.textured((200, 100))), 120)],
                         ids=["truncated-jpeg", "jpeg-header-only", "truncated-png", "png-bad-crc"])
def test_truncated_or_corrupted_is_a_corrupt_image(make):
    with pytest.raises(CorruptImage) as err:
        pipeline.process(make())
    assert err.value.status == 422 and err.value.code == "corrupt-image"


def _flip_byte(data: bytes, at: int) -> bytes:
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1:]


def test_a_decompression_bomb_is_refused_before_decoding():
    """20,000×20,000 (400 MP, 400 MB decoded) in a few tens of kB: refused from the header
    at once, and the pipeline never holds more than a little memory doing it."""
    bomb = ph.bomb_png()
    assert len(bomb) < 100_000
    tracemalloc.start()
    try:
        started = time.perf_counter()
        with pytest.raises(TooManyPixels) as err:
            pipeline.process(bomb)
        elapsed = time.perf_counter() - started
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert err.value.status == 422 and err.value.code == "too-many-pixels"
    assert elapsed < 1.0
    assert peak < 5_000_000


@pytest.mark.parametrize("make", [lambda: ph.bomb_png(10_000, 6_000), lambda: ph.jpeg_claiming(9_000, 6_000)],
                         ids=["png-60MP", "jpeg-header-54MP"])
def test_the_policy_pixel_limit_is_checked_from_the_header(make):
    """Above the policy's 50 MP but below Pillow's own ceiling: our check refuses it."""
    with pytest.raises(TooManyPixels) as err:
        pipeline.process(make(), max_pixels=50_000_000)
    assert err.value.extra["max_pixels"] == 50_000_000 and err.value.extra["width"] in (10_000, 9_000)


def test_the_pixel_limit_is_the_policys():
    data = ph.png_bytes(ph.textured((400, 300)))
    pipeline.process(data, max_pixels=120_000)
    with pytest.raises(TooManyPixels):
        pipeline.process(data, max_pixels=119_999)


def test_dhash_is_64_bits_and_stable_under_reencoding():
    picture = ph.textured((1200, 900), seed=9)
    a = pipeline.process(ph.camera_jpeg(1, picture, quality=92)).phash
    b = pipeline.process(ph.png_bytes(picture.resize((600, 450)))).phash
    c = pipeline.process(ph.camera_jpeg(1, ph.textured((1200, 900), seed=10))).phash
    assert len(a) == 16 and int(a, 16) >= 0
    distance = bin(int(a, 16) ^ int(b, 16)).count("1")
    assert distance <= 6, (a, b)
    assert bin(int(a, 16) ^ int(c, 16)).count("1") > 12, (a, c)


def test_dhash_is_taken_from_the_upright_picture():
    picture = ph.textured((800, 600), seed=3)
    upright = pipeline.process(ph.camera_jpeg(1, picture)).phash
    for orientation in (3, 6, 8):
        turned = pipeline.process(ph.camera_jpeg(orientation, picture)).phash
        assert bin(int(upright, 16) ^ int(turned, 16)).count("1") <= 6


def test_hash_bands_are_the_eight_bytes():
    assert pipeline.hash_bands("0123456789abcdef") == [0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]


@pytest.mark.parametrize("name,data", [
    ("jpeg", b"\xff\xd8\xff\xe0"), ("png", b"\x89PNG\r\n\x1a\n"), ("webp", b"RIFF\x00\x00\x00\x00WEBPVP8 "),
    ("heic", b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic"),
    ("heif-by-compatible-brand", b"\x00\x00\x00\x18ftypmsf1\x00\x00\x00\x00mif1heic"),
])
def test_sniff(name, data):
    expected = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp", "heic": "image/heic"}.get(name,
                                                                                                         "image/heif")
    assert pipeline.sniff(data) == expected
