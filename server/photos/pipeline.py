"""The photo pipeline, run once per photo when it arrives: check what the bytes are, refuse
a decompression bomb before decoding it, read the capture time and GPS from EXIF, and make
the two copies that are ever shown (display, long edge ≤ 2048 px; thumbnail, 320 px):
upright, sRGB, re-encoded as JPEG with no metadata at all. The original is kept untouched
elsewhere as evidence; nothing here changes it.

Pure: bytes in, a `Processed` out, a `Problem` (422) for bytes that are not a usable
image. No Flask, no database.

Speed (issue 4, "Speed"): a camera JPEG is decoded straight at 1/2, 1/4 or 1/8 scale by
libjpeg's DCT scaling (`draft`), which is both the decode and most of the downscale; the
orientation is applied to the small image, not the 12 MP one. A 4000×3000 JPEG therefore
yields a 2000×1500 display copy: the display edge is 2048 at most, and at least
DRAFT_MIN_EDGE when the source is that large."""
from __future__ import annotations

import datetime as dt
import io
import math
import re
import struct
import zlib
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

from PIL import ExifTags, Image, ImageCms, UnidentifiedImageError

from server.core.errors import Problem

try:  # HEIC/HEIF: what phones and tablets shoot
    import pillow_heif

    pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    HEIF = True
except ImportError:  # pragma: no cover - a declared dependency
    HEIF = False

DISPLAY_EDGE = 2048
THUMB_EDGE = 320
DISPLAY_QUALITY = 82
THUMB_QUALITY = 80
# A JPEG decoded by DCT scaling is used as the display copy as it comes, without a
# second resize, when its long edge is between this and DISPLAY_EDGE.
DRAFT_MIN_EDGE = 1536
DEFAULT_MAX_PIXELS = 50_000_000  # DEFAULT_SETTINGS["photo_limits"]["max_pixels"]
DEFAULT_TIMEZONE = "Asia/Shanghai"

# Pillow plugins we let near the bytes: only these four (never EPS, PSD, TGA, … whose
# parsers are a larger attack surface, and EPS would start Ghostscript).
_PIL_FORMATS = ["JPEG", "PNG", "WEBP", "HEIF"]
_HEIF_BRANDS = {b"heic", b"heix", b"heim", b"heis", b"hevc", b"hevx", b"hevm", b"hevs", b"mif1", b"msf1",
                b"heif"}

# EXIF orientation 1–8 → the transpose that makes the picture upright (EXIF 2.32 §4.6.4).
_ORIENTATION = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}

# What can go wrong inside a decoder fed hostile bytes.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, IndexError, TypeError, KeyError, struct.error,
                  zlib.error, RuntimeError, Image.DecompressionBombError)


class NotAnImage(Problem):
    status, code, title = 422, "not-an-image", "Not an image"


class CorruptImage(Problem):
    status, code, title = 422, "corrupt-image", "Corrupt image"


class TooManyPixels(Problem):
    status, code, title = 422, "too-many-pixels", "Too many pixels"


@dataclass(frozen=True)
class Processed:
    content_type: str  # of the original, from its bytes (not from what the client said)
    width: int  # upright
    height: int
    taken_at: dt.datetime | None  # aware
    lat: float | None
    lon: float | None
    accuracy: Decimal | None  # metres, one decimal
    phash: str  # 64-bit dHash, 16 hex digits
    display_bytes: bytes
    thumb_bytes: bytes
    display_size: tuple[int, int]
    thumb_size: tuple[int, int]


def sniff(data: bytes) -> str | None:
    """The content type the magic numbers say, for the four formats we accept."""
    head = bytes(data[:32])
    if head.startswith(b"\xff\xd8\xff"):
        return "image/jpeg"
    if head.startswith(b"\x89PNG\r\n\x1a\n"):
        return "image/png"
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and HEIF:
        major = head[8:12]
        if major in _HEIF_BRANDS:
            return "image/heic" if major.startswith(b"he") else "image/heif"
        # The compatible brands follow the minor version; the box may be longer than 32 bytes.
        size = int.from_bytes(head[:4], "big")
        brands = bytes(data[16:max(16, min(size, 256))])
        for i in range(0, len(brands) - 3, 4):
            if brands[i:i + 4] in _HEIF_BRANDS:
                return "image/heif"
    return None


def process(data: bytes, *, max_pixels: int = DEFAULT_MAX_PIXELS, timezone: str = DEFAULT_TIMEZONE) -> Processed:
    """Check and process one photo's bytes (see module doc)."""
    content_type = sniff(data)
    if content_type is None:
        raise NotAnImage("The bytes are not a JPEG, PNG, WebP or HEIC/HEIF image.")
    try:
        img = Image.open(io.BytesIO(data), formats=_PIL_FORMATS)  # reads the header only
    except Image.DecompressionBombError:
        # Pillow's own ceiling (2 × Image.MAX_IMAGE_PIXELS), met before ours when the policy is generous.
        raise TooManyPixels(f"More pixels than Pillow will decode; the limit is {max_pixels}.",
                            max_pixels=max_pixels) from None
    except (UnidentifiedImageError, *_DECODE_ERRORS):
        raise CorruptImage(f"The bytes start like {content_type} but cannot be read as one.") from None

    with img:
        w, h = img.size
        if w < 1 or h < 1:
            raise CorruptImage("The image has no pixels.")
        # Decompression bombs: the header's dimensions decide, before a byte is decoded.
        if w * h > max_pixels:
            raise TooManyPixels(f"{w}×{h} is {w * h} pixels; the limit is {max_pixels}.",
                                width=w, height=h, max_pixels=max_pixels)
        if img.format == "PNG":
            _verify_png(data)
        if img.format == "JPEG":
            _draft(img)  # before anything loads the pixels
        try:
            img.load()
            pixels = _to_rgb(img)
        except _DECODE_ERRORS:
            raise CorruptImage("The image data is truncated or corrupt.") from None
        exif = _exif(img)
        orientation = _orientation(exif)
        display = _fit(pixels, DISPLAY_EDGE)
        if orientation in _ORIENTATION:
            display = display.transpose(_ORIENTATION[orientation])
        display = _to_srgb(display, img.info.get("icc_profile"))
        if display is img:
            display = img.copy()  # outlives the `with`, which closes img
        taken_at = _taken_at(exif, timezone)
        lat, lon, accuracy = _gps(exif)

    thumb = _fit(display, THUMB_EDGE, reducing_gap=1.5)  # a thumbnail: more of the cut by box averaging
    upright = (h, w) if orientation in (5, 6, 7, 8) else (w, h)
    return Processed(
        content_type=content_type, width=upright[0], height=upright[1], taken_at=taken_at,
        lat=lat, lon=lon, accuracy=accuracy, phash=dhash(thumb),
        display_bytes=_jpeg(display, DISPLAY_QUALITY), thumb_bytes=_jpeg(thumb, THUMB_QUALITY),
        display_size=display.size, thumb_size=thumb.size,
    )


def _verify_png(data: bytes) -> None:
    """Every chunk's CRC: a PNG damaged in transit is refused, not shown half-grey."""
    try:
        with Image.open(io.BytesIO(data), formats=["PNG"]) as probe:
            probe.verify()
    except _DECODE_ERRORS:
        raise CorruptImage("The PNG is truncated or its checksums do not match.") from None


def _draft(img: Image.Image) -> None:
    """Ask libjpeg for the smallest DCT scale (1/2, 1/4, 1/8) that still leaves the long
    edge at least DRAFT_MIN_EDGE, so most of the downscale happens inside the decoder."""
    w, h = img.size
    long_edge = max(w, h)
    if long_edge <= DISPLAY_EDGE:
        return
    scale = 1
    for s in (8, 4, 2):
        if -(-long_edge // s) >= DRAFT_MIN_EDGE:
            scale = s
            break
    if scale > 1:
        img.draft("RGB", (w // scale, h // scale))


def _exif(img: Image.Image) -> Image.Exif | None:
    try:
        return img.getexif()
    except _DECODE_ERRORS:
        return None  # broken EXIF is not a broken photo: it just tells us nothing


def _orientation(exif) -> int:
    try:
        value = int(exif.get(ExifTags.Base.Orientation, 1)) if exif is not None else 1
    except (TypeError, ValueError):
        return 1
    return value if 1 <= value <= 8 else 1


def _to_rgb(img: Image.Image) -> Image.Image:
    if img.mode == "RGB":
        return img
    if img.mode in ("I;16", "I;16L", "I;16B", "I;16N", "I", "F"):
        # 16-bit and float greys: scale into 8 bits instead of clipping everything to white.
        img = img.convert("I") if img.mode != "F" else img
        lo, hi = img.getextrema()
        span = max(hi - lo, 1)
        return img.point(lambda v: (v - lo) * 255 / span).convert("L").convert("RGB")
    if img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (img.mode == "P" and "transparency" in img.info):
        # Transparent areas become white, as a browser would show them on the page.
        rgba = img.convert("RGBA")
        background = Image.new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return img.convert("RGB")


def _fit(img: Image.Image, edge: int, reducing_gap: float = 2.0) -> Image.Image:
    w, h = img.size
    long_edge = max(w, h)
    if long_edge <= edge:
        return img
    scale = edge / long_edge
    size = (max(1, round(w * scale)), max(1, round(h * scale)))
    # reducing_gap: a cheap box reduction first where the factor allows, then a good filter.
    return img.resize(size, Image.Resampling.BICUBIC, reducing_gap=reducing_gap)


_SRGB = ImageCms.createProfile("sRGB")


def _to_srgb(img: Image.Image, icc: bytes | None) -> Image.Image:
    """A picture tagged with another colour space (Adobe RGB, Display P3) is converted, so
    the copies can go out untagged (browsers assume sRGB) and still look right."""
    if not icc:
        return img
    try:
        source = ImageCms.ImageCmsProfile(io.BytesIO(icc))
        if "srgb" in (ImageCms.getProfileDescription(source) or "").lower():
            return img
        return ImageCms.profileToProfile(img, source, _SRGB, outputMode="RGB")
    except (ImageCms.PyCMSError, OSError, ValueError, TypeError):
        return img  # an unreadable profile: show the pixels as they are


def _jpeg(img: Image.Image, quality: int) -> bytes:
    """JPEG with no metadata: a fresh image with an empty info dict, so nothing of the
    source (EXIF, GPS, XMP, ICC, comments, DPI) can ride along into the copy."""
    clean = img if img.mode == "RGB" else img.convert("RGB")
    clean.info = {}
    out = io.BytesIO()
    clean.save(out, "JPEG", quality=quality)
    return out.getvalue()


def dhash(img: Image.Image) -> str:
    """64-bit difference hash: the picture shrunk to 9×8 grey, one bit per horizontal
    neighbour pair (1 where the right pixel is brighter), row by row, most significant
    bit first. Re-encoding, resizing and mild edits move it by a few bits."""
    grey = img.convert("L").resize((9, 8), Image.Resampling.BOX)
    px = grey.tobytes()
    bits = 0
    for row in range(8):
        for col in range(8):
            bits = (bits << 1) | (px[row * 9 + col + 1] > px[row * 9 + col])
    return f"{bits:016x}"


def hash_bands(phash: str) -> list[int]:
    """The 8 bytes of the hash, most significant first (PhotoHashBand.band 0–7)."""
    return list(int(phash, 16).to_bytes(8, "big"))


# --- EXIF time and place ---------------------------------------------------------------

_EXIF_TIME = re.compile(r"^\s*(\d{4})[:\-](\d{2})[:\-](\d{2})[ T](\d{2}):(\d{2}):(\d{2})")
_EXIF_OFFSET = re.compile(r"^\s*([+-])(\d{2}):?(\d{2})\s*$")


def _text(value) -> str | None:
    if isinstance(value, bytes):
        value = value.decode("ascii", "replace")
    if not isinstance(value, str):
        return None
    return value.strip("\x00 ")


def _taken_at(exif, timezone: str) -> dt.datetime | None:
    """DateTimeOriginal (or DateTimeDigitized), with OffsetTimeOriginal when the camera
    wrote one; otherwise the camera's clock is taken to be local time in `timezone`."""
    if exif is None:
        return None
    try:
        ifd = exif.get_ifd(ExifTags.IFD.Exif)
    except _DECODE_ERRORS:
        return None
    for tag, offset_tag, subsec_tag in (
        (ExifTags.Base.DateTimeOriginal, ExifTags.Base.OffsetTimeOriginal, ExifTags.Base.SubsecTimeOriginal),
        (ExifTags.Base.DateTimeDigitized, ExifTags.Base.OffsetTimeDigitized, ExifTags.Base.SubsecTimeDigitized),
    ):
        text = _text(ifd.get(tag))
        match = _EXIF_TIME.match(text) if text else None
        if not match:
            continue
        try:
            naive = dt.datetime(*(int(g) for g in match.groups()))
        except ValueError:  # "0000:00:00 00:00:00" and other placeholders
            continue
        if not 1990 <= naive.year <= 2200:
            continue
        subsec = _text(ifd.get(subsec_tag))
        if subsec and subsec.isdigit():
            naive = naive.replace(microsecond=int(subsec[:6].ljust(6, "0")))
        offset = _text(ifd.get(offset_tag))
        off = _EXIF_OFFSET.match(offset) if offset else None
        if off:
            minutes = int(off.group(2)) * 60 + int(off.group(3))
            if minutes <= 14 * 60:
                sign = -1 if off.group(1) == "-" else 1
                return naive.replace(tzinfo=dt.timezone(dt.timedelta(minutes=sign * minutes)))
        return naive.replace(tzinfo=zoneinfo.ZoneInfo(timezone))
    return None


def _rational(value) -> float | None:
    try:
        f = float(value)
    except (TypeError, ValueError, ZeroDivisionError):
        return None
    return f if math.isfinite(f) else None


def _degrees(value, ref, negative: str) -> float | None:
    if value is None:
        return None
    parts = value if isinstance(value, (tuple, list)) else (value,)
    if not 1 <= len(parts) <= 3:
        return None
    total = 0.0
    for part, divisor in zip(parts, (1, 60, 3600)):
        f = _rational(part)
        if f is None or f < 0:
            return None
        total += f / divisor
    ref_text = (_text(ref) or "").upper()
    return -total if ref_text.startswith(negative) else total


def _gps(exif) -> tuple[float | None, float | None, Decimal | None]:
    if exif is None:
        return None, None, None
    try:
        gps = exif.get_ifd(ExifTags.IFD.GPSInfo)
    except _DECODE_ERRORS:
        return None, None, None
    if not gps:
        return None, None, None
    if (_text(gps.get(ExifTags.GPS.GPSStatus)) or "A").upper().startswith("V"):
        return None, None, None  # the receiver said its fix is void
    lat = _degrees(gps.get(ExifTags.GPS.GPSLatitude), gps.get(ExifTags.GPS.GPSLatitudeRef), "S")
    lon = _degrees(gps.get(ExifTags.GPS.GPSLongitude), gps.get(ExifTags.GPS.GPSLongitudeRef), "W")
    if lat is None or lon is None or not (-90 <= lat <= 90 and -180 <= lon <= 180) or (lat == 0 and lon == 0):
        return None, None, None  # 0,0 is what a camera without a fix writes
    accuracy = _rational(gps.get(ExifTags.GPS.GPSHPositioningError))
    acc = None
    if accuracy is not None and 0 <= accuracy < 1_000_000:
        acc = Decimal(str(round(accuracy, 1)))
    return round(lat, 7), round(lon, 7), acc
