"""Working days as every deadline counts them: Monday–Friday, less public holidays, plus
the weekend make-up days (调休) from the calendar table."""
import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.core.workdays import Calendar

D = dt.date

# The 2025 Spring Festival as the State Council published it: off Tue 28 Jan – Tue 4 Feb
# (eight days, a weekend inside), with Sun 26 Jan and Sat 8 Feb worked to make up.
SPRING_FESTIVAL_2025 = Calendar(
    holidays=frozenset({D(2025, 1, 28), D(2025, 1, 29), D(2025, 1, 30), D(2025, 1, 31),
                        D(2025, 2, 3), D(2025, 2, 4)}),
    makeup_days=frozenset({D(2025, 1, 26), D(2025, 2, 8)}),
)
PLAIN = Calendar()


def test_monday_to_friday_are_working_days_and_the_weekend_is_not():
    week = [D(2026, 11, 16) + dt.timedelta(days=i) for i in range(7)]  # Mon 16 – Sun 22 Nov
    assert [PLAIN.is_working_day(d) for d in week] == [True] * 5 + [False] * 2


def test_adding_working_days_skips_the_weekend():
    assert PLAIN.add_working_days(D(2026, 11, 16), 1) == D(2026, 11, 17)  # Mon -> Tue
    assert PLAIN.add_working_days(D(2026, 11, 20), 1) == D(2026, 11, 23)  # Fri -> Mon
    assert PLAIN.add_working_days(D(2026, 11, 20), 3) == D(2026, 11, 25)  # M21's 3 days from a Friday
    assert PLAIN.add_working_days(D(2026, 11, 21), 1) == D(2026, 11, 23)  # from a Saturday


def test_the_start_day_is_day_zero():
    assert PLAIN.add_working_days(D(2026, 11, 21), 0) == D(2026, 11, 21)  # even a Saturday


def test_negative_days_are_refused():
    with pytest.raises(ValueError):
        PLAIN.add_working_days(D(2026, 11, 20), -1)


def test_a_weekday_holiday_is_not_a_working_day():
    national_day = Calendar(holidays=frozenset({D(2026, 10, 1)}))  # a Thursday
    assert not national_day.is_working_day(D(2026, 10, 1))
    assert national_day.add_working_days(D(2026, 9, 30), 1) == D(2026, 10, 2)
    assert national_day.working_days_between(D(2026, 9, 30), D(2026, 10, 2)) == 1


def test_a_makeup_saturday_is_a_working_day():
    cal = Calendar(makeup_days=frozenset({D(2026, 9, 26)}))  # a Saturday
    assert cal.is_working_day(D(2026, 9, 26))
    assert cal.add_working_days(D(2026, 9, 25), 1) == D(2026, 9, 26)
    assert cal.working_days_between(D(2026, 9, 25), D(2026, 9, 28)) == 2  # Sat (make-up) and Mon


def test_spring_festival_week_shape():
    cal = SPRING_FESTIVAL_2025
    # Fri 24 Jan, then the make-up Sunday, Monday, and nothing until Wed 5 Feb.
    assert cal.add_working_days(D(2025, 1, 24), 1) == D(2025, 1, 26)
    assert cal.add_working_days(D(2025, 1, 24), 2) == D(2025, 1, 27)
    assert cal.add_working_days(D(2025, 1, 24), 3) == D(2025, 2, 5)
    # Wed 5 – Fri 7 Feb, then the make-up Saturday 8 Feb, then Monday 10 Feb.
    assert cal.add_working_days(D(2025, 2, 5), 3) == D(2025, 2, 8)
    assert cal.add_working_days(D(2025, 2, 5), 4) == D(2025, 2, 10)
    holiday = [D(2025, 1, 28) + dt.timedelta(days=i) for i in range(8)]
    assert not any(cal.is_working_day(d) for d in holiday)
    # Sun 26 (make-up), Mon 27, then Wed 5 – Fri 7 Feb.
    assert cal.working_days_between(D(2025, 1, 24), D(2025, 2, 7)) == 5
    # Three weeks: 15 weekdays, less six weekday holidays, plus two make-up days.
    assert cal.working_days_between(D(2025, 1, 19), D(2025, 2, 9)) == 15 - 6 + 2


def test_m21_three_working_days_across_the_spring_festival():
    # Accepted on the eve of the holiday, the investigation is due after it, not during.
    assert SPRING_FESTIVAL_2025.add_working_days(D(2025, 1, 27), 3) == D(2025, 2, 7)


def test_working_days_between_counts_after_start_up_to_and_including_end():
    assert PLAIN.working_days_between(D(2026, 11, 20), D(2026, 11, 20)) == 0
    assert PLAIN.working_days_between(D(2026, 11, 20), D(2026, 11, 23)) == 1  # Fri -> Mon
    assert PLAIN.working_days_between(D(2026, 11, 16), D(2026, 11, 30)) == 10


def test_working_days_between_is_negative_backwards():
    assert PLAIN.working_days_between(D(2026, 11, 23), D(2026, 11, 20)) == -1
    # Sun 26, Mon 27 Jan; Wed 5 – Sat 8 Feb; Mon 10 Feb, counted backwards.
    assert SPRING_FESTIVAL_2025.working_days_between(D(2025, 2, 10), D(2025, 1, 24)) == -7


@given(start=st.dates(D(2024, 1, 1), D(2027, 12, 31)), n=st.integers(0, 60),
       cal=st.sampled_from([PLAIN, SPRING_FESTIVAL_2025]))
def test_working_days_between_undoes_add_working_days(start, n, cal):
    end = cal.add_working_days(start, n)
    assert cal.working_days_between(start, end) == n
    assert n == 0 or cal.is_working_day(end)  # a deadline always falls on a working day
