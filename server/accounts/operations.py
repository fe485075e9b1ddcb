"""Writes about people: accounts, sign-in with lock-out, device tokens."""
from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import ROLES, DeviceToken, User, UserRole
from server.core import audit
from server.core.auth import hash_password, new_token, verify_password
from server.core.db import utcnow
from server.core.errors import Problem, ValidationProblem
from server.core.models import Jurisdiction

MIN_PASSWORD = 8


class InvalidCredentials(Problem):
    status, code, title = 401, "invalid-credentials", "Wrong username or password"


class AccountLocked(Problem):
    status, code, title = 403, "account-locked", "Account locked"


def create_user(session: Session, *, username: str, display_name: str, password: str, roles: list[str],
                jurisdiction: Jurisdiction, actor: User | None, **fields) -> User:
    errors: dict[str, list[str]] = {}
    if not username or len(username) > 64 or not username.replace("_", "").replace("-", "").replace(".", "").isalnum():
        errors["username"] = ["Letters, digits, '.', '-' and '_' only, up to 64."]
    elif session.scalar(sa.select(User.id).where(User.username == username)):
        errors["username"] = ["This username is taken."]
    if len(password) < MIN_PASSWORD:
        errors["password"] = [f"At least {MIN_PASSWORD} characters."]
    bad = [r for r in roles if r not in ROLES]
    if not roles or bad:
        errors["roles"] = ["Choose roles from: " + ", ".join(ROLES)]
    if errors:
        raise ValidationProblem(errors)
    user = User(username=username, display_name=display_name, password_hash=hash_password(password),
                jurisdiction_id=jurisdiction.id, **fields)
    user.role_rows = [UserRole(role=r) for r in sorted(set(roles))]
    session.add(user)
    session.flush()
    audit.record(session, "user.created", "user", user.id, actor=actor,
                 after={"username": username, "roles": sorted(set(roles)), "jurisdiction": jurisdiction.code})
    return user


def authenticate(session: Session, username: str, password: str, *, max_failures: int, lock_minutes: int) -> User:
    """The user, or InvalidCredentials / AccountLocked. Failures count towards a lock-out;
    the caller must keep this transaction even though it answers with an error."""
    now = utcnow()
    user = session.scalar(sa.select(User).where(User.username == username))
    if user is not None and user.locked_until is not None and user.locked_until > now:
        audit.record(session, "auth.refused_locked", "user", user.id, actor=user)
        raise AccountLocked("Too many failed sign-ins; try again later.", locked_until=user.locked_until.isoformat())
    if user is None or not user.active or not verify_password(user.password_hash if user else None, password):
        if user is not None:
            user.failed_logins = (user.failed_logins or 0) + 1
            after = {"failed_logins": user.failed_logins}
            if user.failed_logins >= max_failures:
                user.locked_until = now + dt.timedelta(minutes=lock_minutes)
                user.failed_logins = 0
                after["locked_until"] = user.locked_until
            audit.record(session, "auth.failed", "user", user.id, actor=user, after=after)
        raise InvalidCredentials()
    user.failed_logins = 0
    user.locked_until = None
    user.last_login_at = now
    return user


def issue_token(session: Session, user: User, device_name: str, days: int) -> tuple[str, DeviceToken]:
    raw, digest = new_token()
    token = DeviceToken(user_id=user.id, token_hash=digest, device_name=device_name,
                        expires_at=utcnow() + dt.timedelta(days=days))
    session.add(token)
    session.flush()
    audit.record(session, "token.issued", "device_token", token.id, actor=user,
                 after={"device_name": device_name, "expires_at": token.expires_at})
    return raw, token


def revoke_token(session: Session, token: DeviceToken, actor: User) -> None:
    if token.revoked_at is None:
        token.revoked_at = utcnow()
        audit.record(session, "token.revoked", "device_token", token.id, actor=actor,
                     after={"device_name": token.device_name, "user": token.user.username})


def revoke_all_tokens(session: Session, user: User, actor: User) -> int:
    """A lost tablet, or a person who left: every device of theirs signs out at once."""
    count = 0
    for token in user.tokens:
        if token.revoked_at is None:
            revoke_token(session, token, actor)
            count += 1
    return count


# --- administration: users, passwords, deactivation -------------------------------------


def _user_state(user: User) -> dict:
    return {"username": user.username, "display_name": user.display_name, "roles": sorted(user.roles),
            "jurisdiction": user.jurisdiction.code if user.jurisdiction else None, "phone": user.phone,
            "id_number_set": bool(user.id_number), "active": user.active}


def update_user(session: Session, user: User, *, display_name: str, roles: list[str], jurisdiction: Jurisdiction,
                phone: str | None, id_number: str | None, actor: User) -> User:
    """Name, roles, scope (jurisdiction), phone and ID number; a change of roles or scope
    ends the user's browser sessions, so the new rights apply at once."""
    from server.core.validators import parse_id_number

    errors: dict[str, list[str]] = {}
    if not display_name or len(display_name) > 100:
        errors["display_name"] = ["A name of up to 100 characters."]
    bad = [r for r in roles if r not in ROLES]
    if not roles or bad:
        errors["roles"] = ["Choose roles from: " + ", ".join(ROLES)]
    if id_number:
        try:
            parse_id_number(id_number)
        except ValueError as exc:
            errors["id_number"] = [str(exc)]
    if errors:
        raise ValidationProblem(errors)
    before = _user_state(user)
    rights_changed = set(roles) != user.roles or jurisdiction.id != user.jurisdiction_id
    user.display_name = display_name
    user.jurisdiction_id = jurisdiction.id
    user.jurisdiction = jurisdiction
    user.phone = phone or None
    user.id_number = id_number.upper() if id_number else None
    if set(roles) != user.roles:
        user.role_rows = [UserRole(role=r) for r in sorted(set(roles))]
    if rights_changed:
        user.session_version = (user.session_version or 1) + 1
    session.flush()
    after = _user_state(user)
    if after != before:
        audit.record(session, "user.updated", "user", user.id, actor=actor, before=before, after=after)
    return user


def set_password(session: Session, user: User, password: str, actor: User) -> None:
    """A reset by an administrator: every browser session of the user ends; the devices
    keep their tokens (revoke them separately when a tablet is lost)."""
    if len(password) < MIN_PASSWORD:
        raise ValidationProblem({"password": [f"At least {MIN_PASSWORD} characters."]})
    user.password_hash = hash_password(password)
    user.session_version = (user.session_version or 1) + 1
    user.failed_logins = 0
    user.locked_until = None
    audit.record(session, "user.password_reset", "user", user.id, actor=actor,
                 after={"username": user.username})  # never the password, nor its hash


def deactivate_user(session: Session, user: User, actor: User) -> int:
    """A person who left: no more sign-in, every browser session and every device token ends."""
    if user.id == actor.id:
        raise ValidationProblem({"user": ["You cannot deactivate yourself."]})
    revoked = revoke_all_tokens(session, user, actor)
    if user.active:
        user.active = False
        user.session_version = (user.session_version or 1) + 1
        audit.record(session, "user.deactivated", "user", user.id, actor=actor, before={"active": True},
                     after={"active": False, "tokens_revoked": revoked})
    return revoked


def reactivate_user(session: Session, user: User, actor: User) -> None:
    if not user.active:
        user.active = True
        user.failed_logins = 0
        user.locked_until = None
        audit.record(session, "user.reactivated", "user", user.id, actor=actor, before={"active": False},
                     after={"active": True})
