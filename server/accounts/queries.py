"""Reads about accounts."""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import DeviceToken, User
from server.cases.access import jurisdiction_subtree


def users_under(session: Session, admin: User) -> list[User]:
    return session.scalars(
        sa.select(User).where(User.jurisdiction_id.in_(jurisdiction_subtree(admin.jurisdiction_id)))
        .order_by(User.username)
    ).all()


def active_token_counts(session: Session, user_ids: list[int], now) -> dict[int, int]:
    rows = session.execute(
        sa.select(DeviceToken.user_id, sa.func.count())
        .where(DeviceToken.user_id.in_(user_ids), DeviceToken.revoked_at.is_(None), DeviceToken.expires_at > now)
        .group_by(DeviceToken.user_id)
    ).all()
    return dict(rows)


def tokens_of(session: Session, user: User) -> list[DeviceToken]:
    return session.scalars(
        sa.select(DeviceToken).where(DeviceToken.user_id == user.id).order_by(DeviceToken.created_at.desc())
    ).all()
