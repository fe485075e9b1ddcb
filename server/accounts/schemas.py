from marshmallow import RAISE, Schema, fields, validate

from server.core.errors import InputSchema


class TokenIn(InputSchema):
    class Meta:
        unknown = RAISE

    username = fields.String(required=True, validate=validate.Length(min=1, max=64))
    password = fields.String(required=True, validate=validate.Length(min=1, max=200), load_only=True)
    device_name = fields.String(required=True, validate=validate.Length(min=1, max=100))


class CommunityOut(Schema):
    code = fields.String()
    name = fields.String()
    kind = fields.String()


class TokenUserOut(Schema):
    username = fields.String()
    display_name = fields.String()
    roles = fields.List(fields.String())
    community = fields.Nested(CommunityOut)


class TokenOut(Schema):
    token = fields.String()
    expires_at = fields.DateTime(format="iso")
    user = fields.Nested(TokenUserOut)
