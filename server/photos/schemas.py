"""What the photo API answers. The request body of a PUT is the image bytes themselves
(documented in api.py), so there is no input schema."""
from marshmallow import Schema, fields

from server.core.fields import AwareDateTime


class PhotoPointOut(Schema):
    lat = fields.Float()
    lon = fields.Float()
    accuracy_m = fields.Float(allow_none=True)


class PhotoOut(Schema):
    """The stored photo as the server read it: the device can check that the capture time
    and place it recorded agree with the photo's own EXIF."""

    sha256 = fields.String(metadata={"description": "SHA-256 of the original bytes, 64 lowercase hex digits"})
    content_type = fields.String(metadata={"description": "the original's type, from its bytes"})
    size_bytes = fields.Integer()
    width = fields.Integer(metadata={"description": "upright, after the EXIF orientation"})
    height = fields.Integer()
    taken_at = AwareDateTime(allow_none=True, metadata={"description": "EXIF DateTimeOriginal"})
    location = fields.Nested(PhotoPointOut, allow_none=True, metadata={"description": "EXIF GPS"})
    phash = fields.String(allow_none=True, metadata={"description": "64-bit dHash, 16 hex digits"})
    received_at = AwareDateTime()

