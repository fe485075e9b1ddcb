"""Photos made in the tests, the way cameras and phones make them: JPEGs carrying EXIF
orientations 1–8, capture time and a GPS fix (plus XMP, a comment and an ICC profile that
must not leak), PNG, WebP, HEIC; and the bad ones: truncated, random, 1×1, and a
20,000×20,000 decompression bomb a few kilobytes long. Also a real S3 endpoint on
loopback (moto's standalone server) for the store tests."""
from __future__ import annotations

import contextlib
import hashlib
import io
import os
import random
import socket
import struct
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zlib
from pathlib import Path

from PIL import ExifTags, Image, ImageCms, ImageDraw

RED, GREEN, WHITE = (220, 20, 20), (20, 180, 40), (255, 255, 255)
# Upright picture: landscape, a red block in the top-left corner and a green one in the
# top-right. Any of the seven wrong transforms moves at least one of them.
UPRIGHT_SIZE = (96, 64)


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def upright_picture(size=UPRIGHT_SIZE) -> Image.Image:
    w, h = size
    img = Image.new("RGB", size, WHITE)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w // 3 - 1, h // 3 - 1), fill=RED)
    draw.rectangle((w - w // 3, 0, w - 1, h // 3 - 1), fill=GREEN)
    return img


# How a camera lays the upright picture (W×H) into its stored raster for each EXIF
# orientation, written out from the EXIF 2.32 definitions of "row 0" and "column 0" (not
# from Pillow's transpose constants, so the tests do not repeat the code they check):
# stored pixel (x, y) shows upright pixel f(x, y, W, H); stored size is (W, H) or (H, W).
_STORED = {
    1: (False, lambda x, y, w, h: (x, y)),                  # row 0 top, column 0 left
    2: (False, lambda x, y, w, h: (w - 1 - x, y)),          # row 0 top, column 0 right
    3: (False, lambda x, y, w, h: (w - 1 - x, h - 1 - y)),  # row 0 bottom, column 0 right
    4: (False, lambda x, y, w, h: (x, h - 1 - y)),          # row 0 bottom, column 0 left
    5: (True, lambda x, y, w, h: (y, x)),                   # row 0 left, column 0 top
    6: (True, lambda x, y, w, h: (w - 1 - y, x)),           # row 0 right, column 0 top
    7: (True, lambda x, y, w, h: (w - 1 - y, h - 1 - x)),   # row 0 right, column 0 bottom
    8: (True, lambda x, y, w, h: (y, h - 1 - x)),           # row 0 left, column 0 bottom
}


def stored_raster(upright: Image.Image, orientation: int) -> Image.Image:
    swap, f = _STORED[orientation]
    w, h = upright.size
    size = (h, w) if swap else (w, h)
    src = upright.load()
    out = Image.new("RGB", size)
    out.putdata([src[f(x, y, w, h)] for y in range(size[1]) for x in range(size[0])])
    return out


def camera_exif(orientation: int = 1, taken_at: str | None = "2026:11:20 09:15:00", offset: str | None = "+08:00",
                gps: tuple | None = (30.2741, 120.1551, 8.0), subsec: str | None = None) -> Image.Exif:
    exif = Image.Exif()
    exif[ExifTags.Base.Make] = "Doorstep"
    exif[ExifTags.Base.Model] = "Test Camera"
    exif[ExifTags.Base.Orientation] = orientation
    exif[ExifTags.Base.Software] = "tests/photos_helpers.py"
    sub = exif.get_ifd(ExifTags.IFD.Exif)
    if taken_at:
        sub[ExifTags.Base.DateTimeOriginal] = taken_at
        sub[ExifTags.Base.DateTimeDigitized] = taken_at
    if offset:
        sub[ExifTags.Base.OffsetTimeOriginal] = offset
    if subsec:
        sub[ExifTags.Base.SubsecTimeOriginal] = subsec
    if gps:
        lat, lon, accuracy = gps
        g = exif.get_ifd(ExifTags.IFD.GPSInfo)
        g[ExifTags.GPS.GPSVersionID] = b"\x02\x02\x00\x00"
        g[ExifTags.GPS.GPSLatitudeRef] = "N" if lat >= 0 else "S"
        g[ExifTags.GPS.GPSLatitude] = _dms(abs(lat))
        g[ExifTags.GPS.GPSLongitudeRef] = "E" if lon >= 0 else "W"
        g[ExifTags.GPS.GPSLongitude] = _dms(abs(lon))
        if accuracy is not None:
            g[ExifTags.GPS.GPSHPositioningError] = float(accuracy)
    return exif


def _dms(value: float) -> tuple[float, float, float]:
    d = int(value)
    m = int((value - d) * 60)
    s = round((value - d - m / 60) * 3600, 4)
    return (float(d), float(m), s)


SECRET_XMP = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
              b'<rdf:Description xmlns:exif="http://ns.adobe.com/exif/1.0/" exif:GPSLatitude="30,16.446N"/>'
              b"</rdf:RDF></x:xmpmeta>")
SECRET_COMMENT = b"household of Zhang San, 30.2741N 120.1551E"


def camera_jpeg(orientation: int = 1, upright: Image.Image | None = None, *, quality: int = 92,
                icc: bool = True, **exif_kwargs) -> bytes:
    """A JPEG as a camera writes it: the raster stored sideways as the orientation says,
    EXIF with time and GPS, and XMP, a comment and an ICC profile that must not leak."""
    upright = upright or upright_picture()
    stored = stored_raster(upright, orientation) if upright.size[0] * upright.size[1] <= 200_000 \
        else _fast_stored(upright, orientation)
    extra = {"icc_profile": ImageCms.ImageCmsProfile(ImageCms.createProfile("sRGB")).tobytes()} if icc else {}
    out = io.BytesIO()
    stored.save(out, "JPEG", quality=quality, exif=camera_exif(orientation, **exif_kwargs),
                xmp=SECRET_XMP, comment=SECRET_COMMENT, **extra)
    return out.getvalue()


def _fast_stored(upright: Image.Image, orientation: int) -> Image.Image:
    # For big pictures only (the pixel-by-pixel version is the reference, checked on small ones).
    t = Image.Transpose
    inverse = {1: None, 2: t.FLIP_LEFT_RIGHT, 3: t.ROTATE_180, 4: t.FLIP_TOP_BOTTOM, 5: t.TRANSPOSE,
               6: t.ROTATE_90, 7: t.TRANSVERSE, 8: t.ROTATE_270}[orientation]
    return upright if inverse is None else upright.transpose(inverse)


def textured(size: tuple[int, int], seed: int = 1) -> Image.Image:
    """A photo-like picture (not flat colour) with the red/green top corner marks and
    white bottom corners, as in upright_picture."""
    rnd = random.Random(seed)
    w, h = size
    small = Image.frombytes("RGB", (16, 12), bytes(rnd.randrange(256) for _ in range(16 * 12 * 3)))
    img = small.resize(size, Image.Resampling.BICUBIC)
    draw = ImageDraw.Draw(img)
    draw.rectangle((0, 0, w // 3 - 1, h // 3 - 1), fill=RED)
    draw.rectangle((w - w // 3, 0, w - 1, h // 3 - 1), fill=GREEN)
    draw.rectangle((0, h - h // 3, w // 3 - 1, h - 1), fill=WHITE)
    draw.rectangle((w - w // 3, h - h // 3, w - 1, h - 1), fill=WHITE)
    return img


def png_bytes(img: Image.Image | None = None, **kwargs) -> bytes:
    out = io.BytesIO()
    (img or upright_picture()).save(out, "PNG", **kwargs)
    return out.getvalue()


def transparent_png() -> bytes:
    img = Image.new("RGBA", (40, 30), (0, 0, 0, 0))
    ImageDraw.Draw(img).rectangle((0, 0, 9, 9), fill=(*RED, 255))
    return png_bytes(img)


def webp_bytes(img: Image.Image | None = None, exif: Image.Exif | None = None) -> bytes:
    out = io.BytesIO()
    kwargs = {"exif": exif.tobytes()} if exif is not None else {}
    (img or upright_picture()).save(out, "WEBP", quality=85, **kwargs)
    return out.getvalue()


def heic_bytes(orientation: int = 1, **exif_kwargs) -> bytes:
    """A HEIC as a phone writes it (pillow_heif's x265 encoder), EXIF with time and GPS."""
    import pillow_heif

    pillow_heif.register_heif_opener()
    stored = stored_raster(upright_picture(), orientation)
    out = io.BytesIO()
    stored.save(out, "HEIF", quality=80, exif=camera_exif(orientation, **exif_kwargs).tobytes())
    return out.getvalue()


def one_pixel(fmt: str = "PNG") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1, 1), RED).save(out, fmt)
    return out.getvalue()


def truncated_jpeg() -> bytes:
    data = camera_jpeg(1, textured((640, 480)))
    return data[: len(data) * 6 // 10]


def random_bytes(n: int = 20_000, seed: int = 4) -> bytes:
    data = random.Random(seed).randbytes(n)
    return b"\x00" + data[1:]  # never by chance an image's magic number


def bomb_png(width: int = 20_000, height: int = 20_000) -> bytes:
    """A single-colour 1-bit PNG: 400 million pixels in a few tens of kilobytes. Decoded,
    Pillow would need 400 MB (one byte per pixel)."""
    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    row = b"\x00" + b"\x00" * ((width + 7) // 8)  # filter byte, then 1-bit pixels
    comp = zlib.compressobj(9)
    parts = [comp.compress(row * 1000) for _ in range(height // 1000)]
    parts.append(comp.compress(row * (height % 1000)))
    parts.append(comp.flush())
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)  # 1-bit greyscale
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", b"".join(parts)) + chunk(b"IEND", b"")


def jpeg_claiming(width: int, height: int) -> bytes:
    """A small JPEG whose frame header claims width×height (the data is for 16×16)."""
    out = io.BytesIO()
    Image.new("RGB", (16, 16), RED).save(out, "JPEG")
    data = bytearray(out.getvalue())
    i = 2
    while i < len(data):
        marker, length = data[i + 1], struct.unpack(">H", data[i + 2:i + 4])[0]
        if marker in (0xC0, 0xC1, 0xC2):
            data[i + 5:i + 9] = struct.pack(">HH", height, width)
            return bytes(data)
        i += 2 + length
    raise AssertionError("no frame header")


def jpeg_segments(data: bytes) -> list[int]:
    """The marker of every segment before the image data (0xE0 APP0 … 0xFE COM)."""
    assert data[:2] == b"\xff\xd8", "not a JPEG"
    markers, i = [], 2
    while i < len(data):
        assert data[i] == 0xFF
        marker = data[i + 1]
        if marker == 0xDA:  # start of scan: metadata cannot follow
            break
        length = struct.unpack(">H", data[i + 2:i + 4])[0]
        markers.append(marker)
        i += 2 + length
    return markers


def assert_no_metadata(data: bytes) -> None:
    """Served copies carry no EXIF/GPS (APP1), no XMP (APP1), no ICC (APP2), no
    comments (COM), nothing in any APPn but the bare JFIF header."""
    markers = jpeg_segments(data)
    extra = [hex(m) for m in markers if (0xE1 <= m <= 0xEF) or m == 0xFE]
    assert not extra, f"metadata segments in a served copy: {extra}"
    with Image.open(io.BytesIO(data)) as img:
        assert not img.getexif(), "EXIF in a served copy"
        assert not img.info.get("icc_profile") and not img.info.get("xmp") and not img.info.get("comment")
    for secret in (b"Exif", b"GPS", b"xmpmeta", SECRET_COMMENT[:20], b"Doorstep", b"Test Camera"):
        assert secret not in data


def corner_colours(data: bytes) -> dict[str, tuple[int, int, int]]:
    """The colour at the middle of each corner block (a sixth of the way in)."""
    with Image.open(io.BytesIO(data)) as img:
        rgb = img.convert("RGB")
        w, h = rgb.size
        return {
            "top_left": rgb.getpixel((w // 6, h // 6)), "top_right": rgb.getpixel((w - 1 - w // 6, h // 6)),
            "bottom_left": rgb.getpixel((w // 6, h - 1 - h // 6)),
            "bottom_right": rgb.getpixel((w - 1 - w // 6, h - 1 - h // 6)),
        }


def near(colour, target, tolerance: int = 60) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, target))


def assert_upright(data: bytes) -> None:
    c = corner_colours(data)
    assert near(c["top_left"], RED), c
    assert near(c["top_right"], GREEN), c
    assert near(c["bottom_left"], WHITE) and near(c["bottom_right"], WHITE), c


# --- a real S3 endpoint ---------------------------------------------------------------------

S3_CREDENTIALS = {"aws_access_key_id": "doorstep-test", "aws_secret_access_key": "doorstep-test-secret",
                  "region_name": "us-east-1"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def moto_server():
    """moto's standalone S3 server as a subprocess on a free loopback port; yields its URL."""
    exe = Path(sys.executable).with_name("moto_server")
    port = free_port()
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "doorstep-test", "AWS_SECRET_ACCESS_KEY": "doorstep-test-secret"}
    proc = subprocess.Popen([str(exe), "-H", "127.0.0.1", "-p", str(port)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=env)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"moto_server exited with {proc.returncode}")
            try:
                urllib.request.urlopen(url + "/", timeout=1).close()
                break
            except urllib.error.HTTPError:
                break  # it answers, if only to say no
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError("moto_server did not answer within 30 s") from None
                time.sleep(0.1)
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def name_in_visit(db_session, case, *hashes: str):
    """A stored visit of `case` that names `hashes` as its photos: what makes a photo part
    of a case (and so visible to whoever may see the case)."""
    import datetime as dt
    import uuid

    from server.photos.models import Photo
    from server.visits.models import Visit, VisitPhoto

    uploader = db_session.get(Photo, hashes[0]).uploaded_by_id  # the tablet that sent them
    start = dt.datetime(2026, 11, 20, 1, 12, tzinfo=dt.timezone.utc)
    visit = Visit(id=uuid.uuid4(), case_id=case.id, kind="initial", state="in_review", started_at=start,
                  ended_at=start + dt.timedelta(minutes=40), received_at=start + dt.timedelta(hours=1),
                  submitted_by_id=uploader, body={}, body_hash=uuid.uuid4().hex)
    db_session.add(visit)
    db_session.flush()
    for h in hashes:
        db_session.add(VisitPhoto(visit_id=visit.id, sha256=h, kind="exterior"))
    db_session.flush()
    return visit
