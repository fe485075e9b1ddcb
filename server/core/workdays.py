"""Working days: Monday–Friday, less public holidays, plus make-up working days on
weekends (调休), both from the editable calendar table. Every deadline counts with this."""
from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.core.models import CalendarDay


@dataclass(frozen=True)
class Calendar:
    holidays: frozenset[dt.date] = field(default_factory=frozenset)
    makeup_days: frozenset[dt.date] = field(default_factory=frozenset)

    @classmethod
    def load(cls, session: Session) -> Calendar:
        rows = session.execute(sa.select(CalendarDay.day, CalendarDay.working)).all()
        return cls(frozenset(d for d, w in rows if not w), frozenset(d for d, w in rows if w))

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.makeup_days:
            return True
        if day in self.holidays:
            return False
        return day.weekday() < 5

    def add_working_days(self, start: dt.date, n: int) -> dt.date:
        """The n-th working day after `start` (the start day itself is day 0)."""
        if n < 0:
            raise ValueError("n must be >= 0")
        day = start
        while n > 0:
            day += dt.timedelta(days=1)
            if self.is_working_day(day):
                n -= 1
        return day

    def working_days_between(self, start: dt.date, end: dt.date) -> int:
        """Working days after `start` up to and including `end` (negative if end < start)."""
        if end < start:
            return -self.working_days_between(end, start)
        count, day = 0, start
        while day < end:
            day += dt.timedelta(days=1)
            count += self.is_working_day(day)
        return count


# --- editing the calendar (the admin's working-day calendar page) ----------------------


class CalendarError(ValueError):
    """`field` names the form field the message is about."""

    def __init__(self, field: str, message: str):
        self.field, self.message = field, message
        super().__init__(f"{field}: {message}")


MAX_SPAN_DAYS = 31


def add_days(session: Session, start: dt.date, end: dt.date, *, working: bool, name: str, actor) -> list[CalendarDay]:
    """Public holidays (working=False) from `start` to `end`, or a make-up working day on a
    weekend (working=True; 调休). Days already in the calendar are refused, not overwritten."""
    from flask_babel import gettext as _

    from server.core import audit

    if end < start:
        raise CalendarError("end", _("The last day comes before the first."))
    if (end - start).days >= MAX_SPAN_DAYS:
        raise CalendarError("end", _("At most %(n)s days at once.", n=MAX_SPAN_DAYS))
    if not name.strip() or len(name) > 100:
        raise CalendarError("name", _("Name the day (up to 100 characters), e.g. 国庆节."))
    days = [start + dt.timedelta(days=i) for i in range((end - start).days + 1)]
    if working and any(d.weekday() < 5 for d in days):
        raise CalendarError("start", _("A make-up working day falls on a Saturday or Sunday."))
    taken = session.scalars(sa.select(CalendarDay.day).where(CalendarDay.day.in_(days))).all()
    if taken:
        raise CalendarError("start", _("Already in the calendar: %(days)s. Remove it first.",
                                       days=", ".join(d.isoformat() for d in sorted(taken))))
    rows = [CalendarDay(day=d, working=working, name=name.strip()) for d in days]
    session.add_all(rows)
    session.flush()
    for row in rows:
        audit.record(session, "calendar.day_added", "calendar_day", row.day.isoformat(), actor=actor,
                     after={"day": row.day, "working": row.working, "name": row.name})
    return rows


def remove_day(session: Session, day: dt.date, *, actor) -> bool:
    from server.core import audit

    row = session.get(CalendarDay, day)
    if row is None:
        return False
    before = {"day": row.day, "working": row.working, "name": row.name}
    session.delete(row)
    session.flush()
    audit.record(session, "calendar.day_removed", "calendar_day", day.isoformat(), actor=actor, before=before)
    return True
