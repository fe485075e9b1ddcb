"""Demo data (DESIGN.md "Demo data"): 桐庐县 (Tonglu County, Hangzhou) with one township
and three communities, the demo users (password `demo1234`), the holiday calendar, two
policy versions, and households with cases in every state of the lifecycle, each with the
history, visits, panel sessions, notices and decisions its state implies.

`build_demo(session, households=N)` scales to 100,000 households: the bulk is built as plain
rows and inserted in batches (no ORM object or audit event per row), ids are taken here,
and every random choice comes from one seeded `random.Random`, so a seed and a day give
the same county every time. The caller commits (the CLI, after one "demo.created" event).
"""
from __future__ import annotations

import calendar as pycal
import datetime as dt
import hashlib
import json
import math
import operator
import random
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from decimal import ROUND_DOWN, ROUND_UP, Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Session

from server.accounts.models import StaffRelation, Team, TeamMember, User, UserRole
from server.cases.models import STATES, Assignment, Case, CaseTransition, Decision, Household, Member
from server.core.db import point_wkt
from server.core.models import CalendarDay, Jurisdiction
from server.core.validators import make_id_number
from server.core.workdays import Calendar
from server.panel.models import AgendaItem, PanelMember, PanelSession, Recusal, Score, Vote, VoteReceipt
from server.policy.models import PolicyVersion
from server.publicity.models import Notice, Objection
from server.publicity.operations import mask_name  # one masking rule for the demo and real notices
from server.review.models import CaseReturn
from server.sync.models import Counter as SyncCounter
from server.sync.models import SyncChange
from server.visits.models import (
    Asset, Expenditure, IncomeItem, Signature, Testimony, Visit, VisitInvestigator, VisitMember,
)

DEMO_PASSWORD = "demo1234"
DEFAULT_HOUSEHOLDS = 60
BATCH = 2000  # rows per INSERT … executemany
CHUNK = 2000  # households built and written at a time, so 100,000 never sit in memory at once
# Asia/Shanghai as a fixed offset: China has kept UTC+8 without daylight saving since 1991,
# and a fixed offset converts many times faster than the zone database.
TZ = dt.timezone(dt.timedelta(hours=8), "Asia/Shanghai")
REGION = "330122"  # 桐庐县: the first six digits of a local national ID number
CENT = Decimal("0.01")
ZERO = Decimal("0.00")

# --- places ---------------------------------------------------------------------------

COUNTY = {"code": "330122", "name": "桐庐县", "name_en": "Tonglu County", "lat": 29.797, "lon": 119.691}
TOWNSHIP = {"code": "330122001", "name": "桐君街道", "name_en": "Tongjun Subdistrict", "lat": 29.7990, "lon": 119.6930}
# Each a few km from the others around the county town.
COMMUNITIES = (
    {"code": "330122001001", "name": "迎春社区", "name_en": "Yingchun Community", "lat": 29.8005, "lon": 119.6850,
     "rural": False, "streets": ("迎春路", "迎春南路", "学圣路", "富春路", "春江路"),
     "place": "迎春社区党群服务中心二楼会议室", "cadre": "楼建新"},
    {"code": "330122001002", "name": "白云源社区", "name_en": "Baiyunyuan Community", "lat": 29.7850, "lon": 119.7080,
     "rural": False, "streets": ("白云源路", "桐君路", "瑶琳路", "滨江路", "开元路"),
     "place": "白云源社区居民议事厅", "cadre": "袁春燕"},
    {"code": "330122001201", "name": "梅蓉村", "name_en": "Meirong Village", "lat": 29.8180, "lon": 119.7120,
     "rural": True, "streets": (),
     "place": "梅蓉村村民委员会会议室", "cadre": "申屠建林"},
)
COMMUNITY_WEIGHTS = (0.40, 0.35, 0.25)

# --- the working-day calendar -----------------------------------------------------------

# Editable data, not code: the public holidays and make-up working days (调休) as the State
# Council's notices on the 2025 and 2026 holidays announced them; 1 Jan 2027 is a statutory
# holiday, the rest of 2027 goes in when its notice is out. Offices correct the calendar
# table itself; this list only fills an empty one.
HOLIDAYS = (
    ("元旦", "2025-01-01", "2025-01-01"),
    ("春节", "2025-01-28", "2025-02-04"),
    ("清明节", "2025-04-04", "2025-04-06"),
    ("劳动节", "2025-05-01", "2025-05-05"),
    ("端午节", "2025-05-31", "2025-06-02"),
    ("国庆节、中秋节", "2025-10-01", "2025-10-08"),
    ("元旦", "2026-01-01", "2026-01-03"),
    ("春节", "2026-02-15", "2026-02-23"),
    ("清明节", "2026-04-04", "2026-04-06"),
    ("劳动节", "2026-05-01", "2026-05-05"),
    ("端午节", "2026-06-19", "2026-06-21"),
    ("中秋节", "2026-09-25", "2026-09-27"),
    ("国庆节", "2026-10-01", "2026-10-07"),
    ("元旦", "2027-01-01", "2027-01-01"),
)
MAKEUP_DAYS = (
    ("春节调休上班", "2025-01-26"), ("春节调休上班", "2025-02-08"), ("劳动节调休上班", "2025-04-27"),
    ("国庆节调休上班", "2025-09-28"), ("国庆节调休上班", "2025-10-11"),
    ("元旦调休上班", "2026-01-04"), ("春节调休上班", "2026-02-14"), ("春节调休上班", "2026-02-28"),
    ("劳动节调休上班", "2026-05-09"), ("国庆节调休上班", "2026-09-20"), ("国庆节调休上班", "2026-10-10"),
)

# --- people -----------------------------------------------------------------------------

# (username, display name, role, where, sex, birth year). Investigators 1–2 and office1 work
# in the first community, 3–4 in the second; panel1–5 sit on the first community's panel.
USERS = (
    ("investigator1", "王建国", "investigator", 0, "M", 1978),
    ("investigator2", "李秀英", "investigator", 0, "F", 1984),
    ("investigator3", "陈志强", "investigator", 1, "M", 1981),
    ("investigator4", "周丽华", "investigator", 1, "F", 1990),
    ("office1", "徐晓燕", "office", 0, "F", 1986),
    ("panel1", "俞国平", "panel", 0, "M", 1969),
    ("panel2", "叶卫东", "panel", 0, "M", 1975),
    ("panel3", "申屠美琴", "panel", 0, "F", 1965),
    ("panel4", "钱永康", "panel", 0, "M", 1958),
    ("panel5", "何桂芳", "panel", 0, "F", 1962),
    ("county1", "方振华", "county", None, "M", 1972),
    ("admin", "赵立新", "admin", None, "M", 1983),
)
# The first community's panel: a cadre, the community police officer, and residents'
# representatives, who must be at least 2/3 of the panel (M12 Art 22–24); two of the
# representatives have no account.
PANEL_ROSTER_C1 = (
    ("panel1", "俞国平", "cadre"), ("panel2", "叶卫东", "police"), ("panel3", "申屠美琴", "resident_rep"),
    ("panel4", "钱永康", "resident_rep"), ("panel5", "何桂芳", "resident_rep"),
    (None, "金德明", "resident_rep"), (None, "孙彩凤", "resident_rep"),
)
PANEL_ROSTER_OTHER = (
    ((None, "袁春燕", "cadre"), (None, "吴海峰", "police"), (None, "胡秀兰", "resident_rep"),
     (None, "朱国良", "resident_rep"), (None, "杨美华", "resident_rep"), (None, "邵金根", "resident_rep"),
     (None, "蒋丽萍", "resident_rep")),
    ((None, "申屠建林", "cadre"), (None, "皇甫志刚", "police"), (None, "申屠水根", "resident_rep"),
     (None, "方月娥", "resident_rep"), (None, "俞樟法", "resident_rep"), (None, "王彩娟", "resident_rep"),
     (None, "钟福生", "resident_rep")),
)
# Register of staff relatives (M21 Art 11). The first is the head of a demo household whose
# case is on the panel's agenda, flagged related_to_staff, with panel3 recused.
STAFF_RELATIVES = (
    ("panel3", "申屠美娟", "sibling", "F", dt.date(1968, 4, 12)),
    ("investigator2", "李德高", "parent", "M", dt.date(1955, 9, 3)),
    ("office1", "蒋立平", "spouse", "M", dt.date(1984, 2, 27)),
    ("panel1", "俞晓峰", "child", "M", dt.date(1994, 7, 19)),
)

SURNAMES = ("王" * 8 + "陈" * 8 + "张" * 6 + "李" * 6 + "吴" * 5 + "徐" * 5 + "周" * 4 + "胡" * 4 + "叶" * 4
            + "俞" * 4 + "杨" * 3 + "黄" * 3 + "朱" * 3 + "金" * 3 + "何" * 3 + "方" * 3 + "钱" * 2 + "孙" * 2
            + "赵" * 2 + "沈" * 2 + "蒋" * 2 + "邵" * 2 + "袁" * 2 + "钟" * 2 + "楼" + "洪" + "章" + "汪" + "潘")
COMPOUND_SURNAMES = ("申屠", "皇甫")  # common in Tonglu
GIVEN = {  # (sex, generation) -> given names
    ("M", 0): ("金根", "水根", "土根", "福生", "樟法", "根土", "阿毛", "长富", "德明", "荣华", "金法", "有才",
               "寿根", "炳炎", "关林"),
    ("F", 0): ("秀英", "桂英", "玉兰", "菊花", "彩凤", "月娥", "金花", "素珍", "雪英", "兰芳", "杏娟", "爱娣",
               "彩娟", "月仙", "美娟"),
    ("M", 1): ("建国", "国强", "建平", "卫东", "国平", "立新", "永康", "建华", "新民", "学军", "志明", "国庆",
               "海林", "建林", "伟民"),
    ("F", 1): ("丽华", "红梅", "美琴", "亚萍", "雅芳", "丽萍", "海燕", "小红", "爱芬", "晓燕", "丽娟", "美华",
               "彩萍", "芳", "静"),
    ("M", 2): ("志强", "海峰", "晓东", "剑锋", "伟", "军", "勇", "斌", "杰", "磊", "浩", "俊杰", "一鸣", "家豪",
               "宇"),
    ("F", 2): ("婷", "丹", "欣怡", "佳怡", "雨涵", "梦瑶", "思琪", "婉婷", "倩", "露", "佳丽", "静怡", "晨曦",
               "可欣", "诗涵"),
    ("M", 3): ("子轩", "浩宇", "宇轩", "梓睿", "沐阳", "皓轩", "一诺", "俊熙", "子墨", "睿泽", "博文", "铭轩"),
    ("F", 3): ("梓涵", "若汐", "语桐", "欣妍", "可馨", "诗琪", "芷若", "一诺", "梓萱", "雨桐", "思彤", "安然"),
}

# --- the plan: how many cases in each state ---------------------------------------------

# At least this many of each state, whatever the size (the tablets' five cases per team
# come from `investigating` and `returned`) …
MIN_COUNTS = {
    "application": 3, "accepted": 3, "investigating": 10, "submitted": 2, "in_review": 3, "returned": 5,
    "panel": 4, "publicity": 4, "objection": 1, "county_review": 3, "approved": 2, "rejected": 2,
    "active": 1, "recheck": 2, "adjusted": 2, "stopped": 2,
}
# … and this many per 100,000 households: a few hundred in each state, the rest active.
PER_100K = {
    "application": 300, "accepted": 300, "investigating": 450, "submitted": 150, "in_review": 300,
    "returned": 150, "panel": 300, "publicity": 300, "objection": 40, "county_review": 300, "approved": 100,
    "rejected": 800, "recheck": 500, "adjusted": 700, "stopped": 900,
}
TEAM_STATES = ("investigating", "returned")  # cases waiting for a visit on the team's tablets

RETURN_REASONS = (
    "缺少厨房照片", "邻居证言不足两份", "缺少家庭成员签名", "定位与登记地址相距较远，请核实住址",
    "申报收入与走访情况不符，请补充务工收入证明", "缺少残疾证复印件", "房屋内景照片不清晰",
    "未核实子女赡养能力", "缺少户主银行流水",
)
OBJECTIONS = (
    "有群众反映该户儿子在杭州开网约车，收入较高，申报情况不实。",
    "邻居反映该户家中新买了一辆小轿车，停在村口。",
    "有村民反映户主平时在镇上做小生意，收入不低。",
    "来电反映该户有一套房屋出租，租金未申报。",
)
NOTES = (
    "户主配合调查，提供了病历和收入证明复印件。", "房屋为上世纪八十年代自建房，墙面有渗水。",
    "家中电器陈旧，冰箱已不能正常使用。", "", "", "申请人情绪稳定，对调查无异议。",
    "子女在外地务工，电话核实了赡养情况。", "门牌号与户籍登记一致。",
)
STORIES = {
    "single_elderly": ("独居老人，子女不在身边", "年老体弱，独自生活，无固定收入"),
    "elderly_couple": ("老两口年纪大了，身体不好", "夫妻年老多病，仅靠少量养老金生活"),
    "elderly_disabled_child": ("家中有重度残疾子女需要长期照料", "子女重度残疾需长期照料，家庭无劳动力"),
    "family": ("夫妻两人打零工，收入不稳定，孩子还在上学", "夫妻务工收入低且不稳定，子女上学开支大"),
    "single_parent": ("单亲家庭，一个人带孩子，收入很低", "单亲抚养子女，收入微薄"),
    "three_gen": ("儿子打零工，老人和孩子都靠他一个人", "家庭人口多，仅一人务工，收入难以维持生活"),
    "ill_head": ("户主得了重病，医药费开支很大", "户主患重病，医疗费用高，因病致贫"),
    "with_parent": ("家里有高龄老人要照顾，没法出去上班", "需照料高龄父母，无法正常就业"),
}
STABLE_KINDS = ("single_elderly", "elderly_couple", "elderly_disabled_child")
UNSTABLE_KINDS = ("family", "single_parent", "three_gen", "ill_head", "with_parent")
WORK_CITIES = ("杭州", "富阳", "桐庐县城", "义乌", "宁波", "上海")


# --- small helpers ----------------------------------------------------------------------


def _money(value) -> str:
    return f"{Decimal(value).quantize(CENT)}"


def _yuan(r: random.Random, lo: int, hi: int, step: int = 10) -> Decimal:
    return Decimal(r.randrange(lo // step, hi // step + 1) * step).quantize(CENT)


def _uuid(r: random.Random) -> uuid.UUID:
    return uuid.UUID(int=r.getrandbits(128), version=4)


def _sha(*parts) -> str:
    return hashlib.sha256(":".join(map(str, parts)).encode()).hexdigest()


def _body_hash(body: dict) -> str:
    raw = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(raw.encode()).hexdigest()


def _add_months(d: dt.date, months: int) -> dt.date:
    y, m = divmod(d.month - 1 + months, 12)
    y, m = d.year + y, m + 1
    return dt.date(y, m, min(d.day, pycal.monthrange(y, m)[1]))


def _next_month_first(d: dt.date) -> dt.date:
    return _add_months(d.replace(day=1), 1)


def _age(birth: dt.date, on: dt.date) -> int:
    return on.year - birth.year - ((on.month, on.day) < (birth.month, birth.day))


def _iso(t: dt.datetime) -> str:
    return t.astimezone(TZ).isoformat(timespec="seconds")


def _jitter(r: random.Random, lat: float, lon: float, lo_m: float, hi_m: float) -> tuple[float, float]:
    """A point lo_m..hi_m metres from (lat, lon), in a random direction."""
    dist = lo_m + (hi_m - lo_m) * math.sqrt(r.random())
    angle = r.random() * 2 * math.pi
    dlat = dist * math.cos(angle) / 111_320
    dlon = dist * math.sin(angle) / (111_320 * math.cos(math.radians(lat)))
    return round(lat + dlat, 6), round(lon + dlon, 6)


def _phone(r: random.Random) -> str:
    return "1" + r.choice("3578") + str(r.randrange(10)) + f"{r.randrange(10**8):08d}"


_COMPILED: dict = {}
FAST_SQLITE_INSERT = True  # False: SQLAlchemy's own executemany (kept to compare the two)


def _insert(session: Session, table: sa.Table, rows: list[dict]) -> None:
    """INSERT `rows` (dicts with the same keys) in batches.

    On SQLite the statement is compiled once and the DB-API's executemany gets tuples made
    by the columns' own bind processors: the values SQLAlchemy would send, without its
    per-row bookkeeping, which took longer than SQLite's own work.
    PostgreSQL keeps SQLAlchemy's path, which batches rows into multi-row VALUES there.
    """
    if not rows:
        return
    conn = session.connection()
    if conn.dialect.name != "sqlite" or not FAST_SQLITE_INSERT:
        for start in range(0, len(rows), BATCH):
            session.execute(sa.insert(table), rows[start:start + BATCH])
        return
    keys = tuple(rows[0])
    cache_key = (table.name, keys)
    if cache_key not in _COMPILED:
        compiled = sa.insert(table).compile(dialect=conn.dialect, column_keys=list(keys))
        processors = compiled._bind_processors
        names = compiled.positiontup
        getter = operator.itemgetter(*names) if len(names) > 1 else (lambda row, k=names[0]: (row[k],))
        _COMPILED[cache_key] = (compiled.string, getter,
                                [(i, processors[name]) for i, name in enumerate(names) if name in processors])
    sql, values_of, processed = _COMPILED[cache_key]
    for start in range(0, len(rows), BATCH):
        batch = []
        for row in rows[start:start + BATCH]:
            values = list(values_of(row))
            for i, process in processed:
                values[i] = process(values[i])
            batch.append(tuple(values))
        conn.exec_driver_sql(sql, batch)


class _Ids:
    """Integer primary keys taken here (max + 1 at the start), for rows others refer to."""

    def __init__(self, session: Session, table: sa.Table):
        self.next = (session.scalar(sa.select(sa.func.max(table.c.id))) or 0) + 1

    def take(self) -> int:
        value, self.next = self.next, self.next + 1
        return value


@dataclass
class _Clock:
    """The demo's calendar time: events happen on working days between 08:30 and 17:30
    local time, up to the last working day before `today`, so they are all in the past and
    the same seed gives the same data all day long."""

    cal: Calendar
    today: dt.date
    day0: dt.date | None = None  # the latest working day events fall on

    def start(self, cal: Calendar) -> None:
        """Index the working days once: the demo asks a few million date questions."""
        self.cal = cal
        self._days: list[dt.date] = []
        self._last: dict[dt.date, int] = {}  # date -> index of the last working day on or before it
        day, end = dt.date(2023, 1, 1), self.today + dt.timedelta(days=400)
        while day <= end:
            if cal.is_working_day(day):
                self._days.append(day)
            if self._days:
                self._last[day] = len(self._days) - 1
            day += dt.timedelta(days=1)
        self.day0 = self.back_wd(self.today, 1)

    def back_wd(self, day: dt.date, n: int) -> dt.date:
        """The n-th working day before `day` (`day` itself for n = 0)."""
        if n == 0:
            return day
        j = self._last.get(day)
        if j is not None and self._days[j] == day:
            j -= 1
        if j is None or j - n + 1 < 0:
            while n > 0:
                day -= dt.timedelta(days=1)
                n -= self.cal.is_working_day(day)
            return day
        return self._days[j - n + 1]

    def add_wd(self, start: dt.date, n: int) -> dt.date:
        """Calendar.add_working_days, from the index."""
        j = self._last.get(start)
        if n == 0 or j is None or j + n >= len(self._days):
            return self.cal.add_working_days(start, n)
        return self._days[j + n]

    def snap(self, day: dt.date) -> dt.date:
        """The working day on or before `day`."""
        j = self._last.get(day)
        if j is None:
            while not self.cal.is_working_day(day):
                day -= dt.timedelta(days=1)
            return day
        return self._days[j]

    def times(self, r: random.Random, day: dt.date, k: int) -> list[dt.datetime]:
        """k ascending moments of a working day, in UTC."""
        seconds = sorted(r.randrange(8 * 3600 + 1800, 17 * 3600 + 1800) for _ in range(k))
        base = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc) - dt.timedelta(hours=8)
        out, prev = [], None
        for s in seconds:
            t = base + dt.timedelta(seconds=s)
            if prev is not None and t <= prev:
                t = prev + dt.timedelta(seconds=1)
            out.append(t)
            prev = t
        return out


# --- the plan ---------------------------------------------------------------------------


@dataclass
class _Spec:
    """One case to build: its state, where, and which of the state's variants."""

    state: str
    community: int
    k: int  # index among the cases of its state: picks variants evenly
    revisit: bool = False
    panel_failed: bool = False
    rechecked: bool = False
    overdue: bool = False
    special: bool = False
    stable: bool | None = None
    finance: str = "eligible"  # eligible / income / asset: what the (first) visit finds
    reject_kind: str | None = None
    related: bool = False
    old: bool = False  # an earlier, closed case of the same household


def _state_counts(n: int) -> Counter:
    counts = Counter({s: max(MIN_COUNTS[s], round(PER_100K.get(s, 0) * n / 100_000)) for s in STATES})
    rest = n - (sum(counts.values()) - counts["active"])
    if rest >= 1:
        counts["active"] = rest
        return counts
    # Too few households for the whole picture: one case in each state first, then the
    # minimums, in order (the two teams' tablet cases among the first).
    order = list(STATES) + [s for s in TEAM_STATES for _ in range(MIN_COUNTS[s] - 1)]
    order += [s for s in STATES if s not in TEAM_STATES for _ in range(MIN_COUNTS[s] - 1)]
    return Counter(order[:n])


def _plan(n: int, r: random.Random) -> list[_Spec]:
    counts = _state_counts(n)
    specs: list[_Spec] = []
    team_cases = 0
    for state in STATES:
        for k in range(counts[state]):
            if state in TEAM_STATES:
                community = team_cases % 3  # round robin: every team gets its share of tablet cases
                team_cases += 1
            elif state == "panel" and k < 2:
                community = 0  # panel1–5 see an agenda
            else:
                community = r.choices((0, 1, 2), COMMUNITY_WEIGHTS)[0]
            s = _Spec(state=state, community=community, k=k)
            s.special = k % 10 == 7
            if state == "accepted":
                s.overdue = k % 3 == 0
            elif state == "investigating":
                s.revisit = k % 3 == 1
                s.overdue = k % 5 == 4
            elif state == "in_review":
                s.revisit = k % 4 == 2
                s.finance = ("eligible", "eligible", "income", "eligible", "asset")[k % 5]
            elif state in ("submitted", "returned"):
                s.finance = ("eligible", "income", "eligible", "asset")[k % 4] if k else "eligible"
            elif state == "county_review":
                s.panel_failed = k % 4 == 3
                s.overdue = k % 3 == 1
            elif state == "rejected":
                # The panel votes it down (on its own view, or on the income or car the visit
                # found) and the county follows; no public notice for a refusal.
                s.panel_failed = True
                s.reject_kind = ("panel", "income", "asset")[k % 3]
                s.finance = "eligible" if s.reject_kind == "panel" else s.reject_kind
            elif state == "active":
                s.rechecked = k % 7 == 3
                s.overdue = k % 25 == 0
            if state in ("approved", "active", "recheck", "adjusted"):
                s.stable = k % 5 < 3
            elif state == "stopped":
                s.stable = False  # stopped because someone found steady work
            elif state == "rejected" or (state == "county_review" and s.panel_failed):
                s.stable = False  # the panel thought the family could work
            specs.append(s)
    related = next((s for s in specs if s.state == "panel" and s.community == 0), None)
    if related is not None:
        related.related = True
    r.shuffle(specs)
    return specs


# --- a case's history ---------------------------------------------------------------------

INTAKE = ["application", "accepted", "investigating", "submitted", "in_review"]
REVISIT = ["returned", "investigating", "submitted", "in_review"]


def _path(s: _Spec) -> list[str]:
    state = s.state
    if state in INTAKE:
        if s.revisit and state in ("investigating", "in_review"):
            return INTAKE + REVISIT[:REVISIT.index(state) + 1]
        return INTAKE[:INTAKE.index(state) + 1]
    p = INTAKE + (REVISIT if s.revisit else [])
    if state == "returned":
        return p + ["returned"]
    p = p + ["panel"]
    if state == "panel":
        return p
    if s.panel_failed and state in ("county_review", "rejected"):
        return p + ["county_review"] + (["rejected"] if state == "rejected" else [])
    p = p + ["publicity"]
    if state in ("publicity", "objection"):
        return p + (["objection"] if state == "objection" else [])
    p = p + ["county_review"]
    if state in ("county_review", "rejected"):
        return p + (["rejected"] if state == "rejected" else [])
    p = p + ["approved"]
    if state == "approved":
        return p
    p = p + ["active"] + (["recheck", "active"] if s.rechecked else [])
    if state == "active":
        return p
    p = p + ["recheck"]
    return p if state == "recheck" else p + [state]


def _entry_age(s: _Spec, r: random.Random, clock: _Clock) -> tuple[str, int]:
    """How long ago the case entered its present state."""
    st = s.state
    months = 12 if s.stable else 6
    if st == "accepted" and s.overdue:
        return "wd", r.randint(5, 9)  # M21 Art 15 missed: no investigation within 3 working days
    if st == "investigating" and s.overdue:
        return "wd", r.randint(30, 36)  # whole-case deadline missed
    if st == "county_review" and s.overdue:
        return "wd", r.randint(11, 15)  # county decision deadline missed
    if st == "active":
        span = months * 30
        if s.overdue:
            return "days", r.randint(span + 5, span + 40)  # re-check overdue
        return "days", r.randint(3, span - 45 if s.rechecked else span - 5)
    table = {
        "application": ("wd", 0, 2), "accepted": ("wd", 0, 2), "investigating": ("wd", 0, 4),
        "submitted": ("wd", 0, 0), "in_review": ("wd", 0, 3), "returned": ("wd", 0, 4), "panel": ("wd", 0, 4),
        # A notice still up: posted within the last seven days.
        "publicity": ("days", 0, max(0, 6 - (clock.today - clock.day0).days)),
        "objection": ("wd", 0, 3), "county_review": ("wd", 0, 8),
        "approved": ("wd", 0, 0), "rejected": ("days", 1, 120), "recheck": ("wd", 0, 12),
        "adjusted": ("days", 3, 150), "stopped": ("days", 3, 150),
    }
    unit, lo, hi = table[st]
    return unit, r.randint(lo, hi)


def _gap(frm: str, to: str, r: random.Random, s: _Spec):
    """Working days from entering `frm` to entering `to` (or a rule for the odd ones)."""
    if (frm, to) == ("publicity", "county_review"):
        return "publicity", r.randint(0, 1)  # seven days of notice (M21 Art 19), then the county
    if (frm, to) == ("active", "recheck"):
        return "months", 12 if s.stable else 6
    lo, hi = {
        ("application", "accepted"): (0, 2), ("accepted", "investigating"): (1, 2),
        ("investigating", "submitted"): (1, 4), ("submitted", "in_review"): (0, 0),
        ("in_review", "returned"): (1, 3), ("returned", "investigating"): (0, 1),
        ("in_review", "panel"): (1, 3), ("panel", "publicity"): (2, 6), ("panel", "county_review"): (2, 3),
        ("publicity", "objection"): (1, 4), ("county_review", "approved"): (2, 8),
        ("county_review", "rejected"): (2, 8), ("approved", "active"): (0, 1),
        ("recheck", "active"): (5, 12), ("recheck", "adjusted"): (5, 12), ("recheck", "stopped"): (5, 12),
    }[(frm, to)]
    return "wd", r.randint(lo, hi)


def _timeline(s: _Spec, r: random.Random, clock: _Clock, end: dt.date | None = None) -> list[tuple[str, dt.datetime]]:
    """[(state, entered_at)] from the application to the present state, walked back from
    the day the case entered its present state."""
    path = _path(s)
    if end is None:
        unit, n = _entry_age(s, r, clock)
        end = clock.back_wd(clock.day0, n) if unit == "wd" else clock.snap(clock.day0 - dt.timedelta(days=n))
    dates = [end]
    for i in range(len(path) - 1, 0, -1):
        unit, n = _gap(path[i - 1], path[i], r, s)
        later = dates[0]
        if unit == "wd":
            earlier = clock.back_wd(later, n)
        elif unit == "publicity":
            earlier = clock.snap(later - dt.timedelta(days=7 + n))
        else:
            earlier = clock.snap(_add_months(later, -n))
        dates.insert(0, earlier)
    out: list[tuple[str, dt.datetime]] = []
    i = 0
    while i < len(dates):
        j = i
        while j < len(dates) and dates[j] == dates[i]:
            j += 1
        for k, t in enumerate(clock.times(r, dates[i], j - i)):
            out.append((path[i + k], t))
        i = j
    return out


# --- households ---------------------------------------------------------------------------


class _People:
    """Names and national ID numbers, each ID number once in the whole county."""

    def __init__(self, r: random.Random, today: dt.date):
        self.r = r
        self.today = today
        self.used: set[tuple[dt.date, str, int]] = set()

    def id_number(self, birth: dt.date, sex: str) -> str:
        seq = self.r.randrange(500)
        for _ in range(500):
            if (birth, sex, seq) not in self.used:
                break
            seq = (seq + 1) % 500
        self.used.add((birth, sex, seq))
        return make_id_number(REGION, birth, seq, sex)

    def surname(self) -> str:
        return self.r.choice(COMPOUND_SURNAMES) if self.r.random() < 0.03 else self.r.choice(SURNAMES)

    def given(self, sex: str, birth_year: int) -> str:
        gen = 0 if birth_year < 1955 else 1 if birth_year < 1980 else 2 if birth_year < 2008 else 3
        return self.r.choice(GIVEN[(sex, gen)])

    def birth(self, age: int) -> dt.date:
        return self.today - dt.timedelta(days=age * 365 + self.r.randrange(365) + age // 4)


def _member(people: _People, r: random.Random, name: str, sex: str, birth: dt.date, relation: str,
            rural: bool, today: dt.date, **force) -> dict:
    age = _age(birth, today)
    if "health" in force:
        health = force["health"]
    elif age < 18:
        health = r.choices(("healthy", "chronic"), (95, 5))[0]
    elif age < 60:
        health = r.choices(("healthy", "chronic", "serious_illness"), (70, 22, 8))[0]
    else:
        health = r.choices(("healthy", "chronic", "serious_illness"), (35, 55, 10))[0]
    grade = force.get("disability_grade", r.choice((1, 2, 3, 4)) if r.random() < 0.10 else None)
    student = 6 <= age <= 21 and not (grade in (1, 2))
    if age < 16 or age >= 70 or health == "serious_illness" or grade in (1, 2):
        labour = "none"
    elif health == "chronic" or grade in (3, 4) or age >= 60:
        labour = "partial"
    else:
        labour = "full"
    labour = force.get("labour_ability", labour)
    if student:
        labour = "none"
    if age < 6:
        work = "none"
    elif student:
        work = "student"
    elif age >= 60:
        work = "farming" if rural and labour != "none" and r.random() < 0.5 else "retired"
    elif labour == "full":
        work = r.choices(("employed", "flexible", "farming" if rural else "unemployed", "unemployed"),
                         (30, 35, 15, 20))[0]
    elif labour == "partial":
        work = r.choices(("flexible", "unemployed", "farming" if rural else "unemployed"), (35, 45, 20))[0]
    else:
        work = "none"
    born = birth.year
    if age < 6:
        education = "none"
    elif student:
        education = ("primary" if age < 12 else "junior_high" if age < 15 else "senior_high" if age < 18
                     else "college" if r.random() < 0.6 else "vocational")
    elif born < 1960:
        education = r.choice(("none", "primary", "primary", "junior_high"))
    elif born < 1980:
        education = r.choice(("primary", "junior_high", "junior_high", "senior_high"))
    else:
        education = r.choice(("junior_high", "senior_high", "vocational", "college"))
    if health == "serious_illness" or grade in (1, 2):
        klass = "A"
    elif age >= 60 or age < 16 or grade in (3, 4) or (health == "chronic" and labour == "none"):
        klass = "B"
    else:
        klass = None
    return {
        "name": name, "id_number": people.id_number(birth, sex), "relation": relation, "sex": sex,
        "birth_date": birth, "hukou_type": "rural" if rural else "urban", "education": education,
        "health": health, "disability_grade": grade, "labour_ability": labour, "work_status": work,
        "student": student, "special_identity": "veteran" if 30 < age and r.random() < 0.03 else None,
        "class": klass, "counted": True,
    }


def _is_worker(m: dict, today: dt.date) -> bool:
    return 16 <= _age(m["birth_date"], today) < 60 and m["labour_ability"] in ("full", "partial")


def _household_people(people: _People, r: random.Random, s: _Spec, rural: bool,
                      today: dt.date) -> tuple[str, list[dict]]:
    if s.stable is True:
        kind = r.choices(STABLE_KINDS, (45, 40, 15))[0]
    elif s.stable is False:
        kind = r.choices(UNSTABLE_KINDS, (30, 20, 25, 15, 10))[0]
    else:
        kind = r.choices(STABLE_KINDS + UNSTABLE_KINDS, (18, 14, 6, 18, 10, 16, 10, 8))[0]
    surname = people.surname()

    def person(relation, sex, age, family=surname, **force):
        birth = people.birth(age)
        return _member(people, r, family + people.given(sex, birth.year), sex, birth, relation, rural, today, **force)

    def other_surname():
        while True:
            name = people.surname()
            if name != surname:
                return name

    out: list[dict] = []
    if kind == "single_elderly":
        out.append(person("self", r.choices("FM", (60, 40))[0], r.randint(62, 80)))
    elif kind == "elderly_couple":
        age = r.randint(63, 80)
        sex = r.choices("MF", (75, 25))[0]
        out.append(person("self", sex, age))
        out.append(person("spouse", "F" if sex == "M" else "M", max(58, min(88, age + r.randint(-5, 4))),
                          other_surname()))
    elif kind == "elderly_disabled_child":
        age = r.randint(60, 78)
        sex = r.choice("MF")
        out.append(person("self", sex, age))
        if r.random() < 0.5:
            out.append(person("spouse", "F" if sex == "M" else "M", max(56, age + r.randint(-5, 4)), other_surname()))
        child_family = surname if sex == "M" else other_surname()
        out.append(person("child", r.choice("MF"), r.randint(max(28, age - 45), age - 24), child_family,
                          disability_grade=r.choice((1, 2)), labour_ability="none"))
    elif kind in ("family", "ill_head"):
        age = r.randint(36, 55)
        sex = r.choices("MF", (70, 30))[0]
        force = {"health": "serious_illness"} if kind == "ill_head" else {}
        out.append(person("self", sex, age, **force))
        spouse_family = other_surname()
        out.append(person("spouse", "F" if sex == "M" else "M", max(30, age + r.randint(-4, 4)), spouse_family,
                          **({"health": "healthy", "disability_grade": None} if kind == "ill_head" else {})))
        child_family = surname if sex == "M" else spouse_family
        for _ in range(r.choice((1, 1, 2)) if kind == "family" else 1):
            out.append(person("child", r.choice("MF"), r.randint(1, min(22, age - 23)), child_family))
    elif kind == "single_parent":
        age = r.randint(35, 50)
        sex = r.choices("FM", (75, 25))[0]
        out.append(person("self", sex, age))
        family = surname if sex == "M" or r.random() < 0.5 else other_surname()
        for _ in range(r.choice((1, 2))):
            out.append(person("child", r.choice("MF"), r.randint(3, min(18, age - 22)), family))
    elif kind == "three_gen":
        age = r.randint(58, 75)
        sex = r.choices("MF", (65, 35))[0]
        out.append(person("self", sex, age))
        if r.random() < 0.6:
            out.append(person("spouse", "F" if sex == "M" else "M", max(52, age + r.randint(-5, 4)), other_surname()))
        child_sex = r.choices("MF", (70, 30))[0]
        child_age = r.randint(max(28, age - 38), min(45, age - 22))
        child_family = surname if sex == "M" else other_surname()
        out.append(person("child", child_sex, child_age, child_family, health="healthy", disability_grade=None))
        grand_family = child_family if child_sex == "M" else other_surname()
        for _ in range(min(r.choice((1, 1, 2)), 5 - len(out))):
            out.append(person("grandchild", r.choice("MF"), r.randint(0, min(14, child_age - 22)), grand_family))
    else:  # with_parent
        age = r.randint(40, 56)
        sex = r.choice("MF")
        out.append(person("self", sex, age))
        parent_age = min(95, age + r.randint(24, 32))
        parent_sex = r.choices("FM", (65, 35))[0]
        out.append(person("parent", parent_sex, parent_age, surname if parent_sex == "M" else other_surname()))
        if r.random() < 0.4:
            out.append(person("child", r.choice("MF"), r.randint(8, min(20, age - 22)), surname))
    if s.stable is False and not any(_is_worker(m, today) for m in out):
        # Unstable income means someone of working age who can work (seed re-check rule).
        candidates = [m for m in out if 18 <= _age(m["birth_date"], today) < 60] or out[:1]
        m = candidates[0]
        m.update(labour_ability="partial", work_status="flexible", student=False)
        if m["health"] == "serious_illness":
            m["health"] = "chronic"
        if m["disability_grade"] in (1, 2):
            m["disability_grade"] = 3
        if m["class"] == "A":
            m["class"] = "B"
        if _age(m["birth_date"], today) >= 60:
            m["birth_date"] = dt.date(today.year - 55, m["birth_date"].month, min(m["birth_date"].day, 28))
            m["id_number"] = people.id_number(m["birth_date"], m["sex"])
    if s.stable is True:
        for m in out:
            if _is_worker(m, today):
                m.update(labour_ability="none", work_status="none")
    return kind, out


def _income(r: random.Random, kind: str, members: list[dict], today: dt.date) -> list[dict]:
    """Monthly income items as the visit records them: [{member, kind, amount, note}]."""
    items = []
    for i, m in enumerate(members):
        age = _age(m["birth_date"], today)
        work = m["work_status"]
        if age >= 60:
            items.append({"member": i, "kind": "pension", "amount": _yuan(r, 180, 420, 1), "note": "城乡居民基本养老金"})
        elif work == "employed":
            items.append({"member": i, "kind": "wage", "amount": _yuan(r, 1600, 2600), "note": "务工工资"})
        elif work == "flexible":
            items.append({"member": i, "kind": "wage", "amount": _yuan(r, 500, 1400), "note": "打零工收入"})
        elif work == "farming":
            items.append({"member": i, "kind": "other", "amount": _yuan(r, 150, 500), "note": "茶叶、毛竹种植净收入"})
        elif work == "unemployed" and r.random() < 0.12:
            items.append({"member": i, "kind": "unemployment", "amount": _yuan(r, 1500, 1900), "note": "失业保险金"})
        if m["disability_grade"] in (1, 2):
            items.append({"member": i, "kind": "government_assistance", "amount": _yuan(r, 120, 300),
                          "note": "残疾人两项补贴"})
        if m["special_identity"] == "veteran":
            items.append({"member": i, "kind": "special_care", "amount": _yuan(r, 400, 900), "note": "优待抚恤金"})
        if m["student"] and age >= 18 and r.random() < 0.4:
            items.append({"member": i, "kind": "scholarship", "amount": _yuan(r, 200, 400), "note": "国家助学金"})
    if kind in ("single_elderly", "elderly_couple") and r.random() < 0.6:
        items.append({"member": 0, "kind": "maintenance", "amount": _yuan(r, 200, 600), "note": "子女赡养费"})
    if _age(members[0]["birth_date"], today) >= 60 and r.random() < 0.1:
        items.append({"member": 0, "kind": "family_planning_award", "amount": _yuan(r, 80, 150),
                      "note": "独生子女父母奖励扶助金"})
    if r.random() < 0.04:
        items.append({"member": 0, "kind": "property", "amount": _yuan(r, 200, 600), "note": "出租闲置房屋租金"})
    return items


def _counted_total(items: list[dict], counted_kinds) -> Decimal:
    return sum((i["amount"] for i in items if i["kind"] in counted_kinds), ZERO)


def _make_eligible(r: random.Random, items: list[dict], n: int, counted_kinds) -> None:
    """Below the lower of the two standards, so the household qualifies under either."""
    limit = Decimal(1050 * n) * Decimal(r.randint(30, 85)) / 100
    scalable = [i for i in items if i["kind"] in counted_kinds and i["kind"] != "pension"]
    total = _counted_total(items, counted_kinds)
    if total <= limit or not scalable:
        return
    fixed = total - sum((i["amount"] for i in scalable), ZERO)
    room = max(ZERO, limit - fixed)
    factor = room / (total - fixed)
    for i in scalable:
        i["amount"] = (i["amount"] * factor / 10).quantize(Decimal(1), ROUND_DOWN) * 10
        i["amount"] = i["amount"].quantize(CENT)
    items[:] = [i for i in items if i["amount"] >= 50 or i["kind"] not in counted_kinds]


def _raise_income(r: random.Random, items: list[dict], members: list[dict], today: dt.date,
                  counted_kinds) -> str | None:
    """Someone has found steady work: income above 1.2 × the standard. Returns who."""
    workers = [i for i, m in enumerate(members) if _is_worker(m, today)]
    if not workers:
        return None
    who = workers[0]
    items[:] = [i for i in items if not (i["member"] == who and i["kind"] in ("wage", "other", "unemployment"))]
    target = Decimal(1115 * len(members)) * Decimal(r.randint(125, 170)) / 100
    need = target - _counted_total(items, counted_kinds)
    wage = max(Decimal(2600), (need / 10).quantize(Decimal(1), ROUND_UP) * 10).quantize(CENT)
    items.append({"member": who, "kind": "wage", "amount": wage, "note": f"在{r.choice(WORK_CITIES)}务工工资"})
    members[who]["work_status"] = "employed"
    members[who]["labour_ability"] = "full" if members[who]["health"] == "healthy" else members[who]["labour_ability"]
    return members[who]["name"]


def _assets(r: random.Random, rural: bool, tenure: str, n: int, finance: str) -> list[dict]:
    out = []
    if tenure == "owned" and r.random() < 0.7:
        value = _yuan(r, 80_000, 260_000, 1000) if rural else _yuan(r, 150_000, 420_000, 1000)
        out.append({"category": "home", "description": "自有住房一处（自住）" if not rural else "自建农村住房一处",
                    "value": value, "count": 1, "disqualifying": False})
    if r.random() < 0.5:
        out.append({"category": "vehicle", "description": "电动自行车", "value": _yuan(r, 800, 2500, 100),
                    "count": 1, "disqualifying": False})
    if r.random() < 0.35:
        out.append({"category": "financial", "description": "银行活期存款", "value": _yuan(r, 500, 6000 * n, 100),
                    "count": 1, "disqualifying": False})
    if r.random() < 0.2:
        out.append({"category": "other", "description": "旧彩电、冰箱各一台", "value": _yuan(r, 300, 1500, 100),
                    "count": 1, "disqualifying": False})
    if finance == "asset":
        car = r.choice(("大众朗逸", "吉利帝豪", "比亚迪秦", "丰田卡罗拉", "别克英朗"))
        out.append({"category": "vehicle", "description": f"小型轿车（{car}），{r.randint(2018, 2023)}年购买",
                    "value": _yuan(r, 42_000, 95_000, 1000), "count": 1, "disqualifying": True})
    return out


def _expenditure(r: random.Random, members: list[dict], tenure: str) -> list[dict]:
    out = [{"kind": "utilities", "amount": _yuan(r, 60, 220)}]
    sick = sum(1 for m in members if m["health"] in ("chronic", "serious_illness"))
    serious = any(m["health"] == "serious_illness" for m in members)
    if sick:
        out.append({"kind": "medical", "amount": _yuan(r, 600, 2500) if serious else _yuan(r, 100, 300 * sick)})
    students = sum(1 for m in members if m["student"])
    if students:
        out.append({"kind": "education", "amount": _yuan(r, 100, 400 * students)})
    if tenure == "rented":
        out.append({"kind": "rent", "amount": _yuan(r, 400, 1000, 50)})
    return out


# --- the builder ------------------------------------------------------------------------


class _Builder:
    def __init__(self, session: Session, r: random.Random, clock: _Clock):
        from server.policy import engine
        from server.policy.settings import DEFAULT_SETTINGS, PolicySettings

        self.session, self.r, self.clock = session, r, clock
        self.engine = engine
        self.today = clock.today
        self.settings_doc = json.loads(json.dumps(DEFAULT_SETTINGS))  # a copy: the default stays as it is
        self.settings_2026 = PolicySettings.from_dict(self.settings_doc)
        old = json.loads(json.dumps(DEFAULT_SETTINGS))
        old["monthly_standard"] = "1050.00"  # last year's standard, so the history shows a change
        self.settings_2025_doc = old
        self.settings_2025 = PolicySettings.from_dict(old)
        self.counted_kinds = frozenset(self.settings_2026.counted_income_kinds)
        self.rows: dict[sa.Table, list[dict]] = defaultdict(list)
        self.counts: Counter = Counter()
        self.sync: list[tuple[dt.datetime, int, uuid.UUID]] = []
        self.people = _People(r, clock.today)
        self._last_key = self._last_result = None

    # -- writing --

    def add(self, model, row: dict) -> None:
        self.rows[model.__table__].append(row)

    def flush_rows(self) -> None:
        order = (Household, Member, Case, CaseTransition, Assignment, Visit, VisitInvestigator, VisitMember,
                 IncomeItem, Expenditure, Asset, Testimony, Signature, CaseReturn, Decision, Notice, Objection,
                 AgendaItem, Recusal, Vote, Score, VoteReceipt)
        for model in order:
            table = model.__table__
            rows = self.rows.pop(table, [])
            _insert(self.session, table, rows)
            self.counts[table.name] += len(rows)
        assert not self.rows, f"rows of tables not written: {list(self.rows)}"

    # -- the fixed part: places, people, policy, calendar --

    def setup(self, password_hash: str) -> None:
        s = self.session
        county = Jurisdiction(code=COUNTY["code"], name=COUNTY["name"], name_en=COUNTY["name_en"], kind="county",
                              location=point_wkt(COUNTY["lat"], COUNTY["lon"]))
        township = Jurisdiction(code=TOWNSHIP["code"], name=TOWNSHIP["name"], name_en=TOWNSHIP["name_en"],
                                kind="township", parent=county, location=point_wkt(TOWNSHIP["lat"], TOWNSHIP["lon"]))
        communities = [Jurisdiction(code=c["code"], name=c["name"], name_en=c["name_en"], kind="community",
                                    parent=township, location=point_wkt(c["lat"], c["lon"])) for c in COMMUNITIES]
        s.add_all([county, township, *communities])
        s.flush()
        self.county, self.communities = county, communities
        self.counts["jurisdictions"] = 2 + len(communities)

        self.policies = []
        versions = ((dt.date(2025, 1, 1), self.settings_2025_doc), (dt.date(2026, 1, 1), self.settings_doc))
        for effective, doc in versions:
            note = f"{effective.year}年度桐庐县城乡低保标准：每人每月{Decimal(doc['monthly_standard']):.0f}元"
            version = PolicyVersion(jurisdiction_id=county.id, effective_from=effective, settings=doc, note=note)
            s.add(version)
            self.policies.append(version)

        existing = set(s.scalars(sa.select(CalendarDay.day)))
        days = []
        for name, start, end in HOLIDAYS:
            d, last = dt.date.fromisoformat(start), dt.date.fromisoformat(end)
            while d <= last:
                days.append(CalendarDay(day=d, working=False, name=name))
                d += dt.timedelta(days=1)
        days += [CalendarDay(day=dt.date.fromisoformat(d), working=True, name=name) for name, d in MAKEUP_DAYS]
        s.add_all([d for d in days if d.day not in existing])
        self.counts["calendar_days"] = len([d for d in days if d.day not in existing])

        self.users: dict[str, User] = {}
        for username, name, role, where, sex, year in USERS:
            birth = dt.date(year, 1 + self.r.randrange(12), 1 + self.r.randrange(28))
            user = User(username=username, display_name=name, password_hash=password_hash,
                        jurisdiction_id=(county if where is None else communities[where]).id,
                        id_number=self.people.id_number(birth, sex), phone=_phone(self.r))
            user.role_rows = [UserRole(role=role)]
            s.add(user)
            self.users[username] = user
        s.flush()
        self.counts["users"] = len(USERS)
        u = self.users
        # Investigators 3–4 also cover the village, which has no investigators of its own.
        team_defs = ((0, "迎春社区调查一组", ("investigator1", "investigator2"), "tl-yc-pad"),
                     (1, "白云源社区调查组", ("investigator3", "investigator4"), "tl-byy-pad"),
                     (2, "梅蓉村调查组", ("investigator3", "investigator4"), "tl-mr-pad"))
        self.teams = []
        for community, name, members, device in team_defs:
            team = Team(community_id=communities[community].id, name=name)
            team.members = [TeamMember(user_id=u[m].id) for m in members]
            s.add(team)
            self.teams.append((team, [u[m] for m in members], device))
        s.flush()
        self.counts["teams"] = len(self.teams)

        self.relatives = {}
        roles = {username: role for username, _, role, *_ in USERS}
        for staff, name, relation, sex, birth in STAFF_RELATIVES:
            id_number = self.people.id_number(birth, sex)
            self.relatives[name] = id_number
            s.add(StaffRelation(jurisdiction_id=communities[0].id, staff_user_id=u[staff].id,
                                staff_name=u[staff].display_name, staff_role=roles[staff],
                                relative_name=name, relative_id_number=id_number, relation=relation,
                                created_by_id=u["office1"].id))
        s.flush()
        self.counts["staff_relations"] = len(STAFF_RELATIVES)
        self.calendar = Calendar.load(s)
        self.clock.start(self.calendar)

    def policy_on(self, day: dt.date):
        """The version in force on `day` (DESIGN "Money"), and its settings."""
        if day >= self.policies[1].effective_from:
            return self.policies[1], self.settings_2026
        return self.policies[0], self.settings_2025

    def evaluate(self, members: list[dict], income: list[dict], assets: list[dict], expenditure: list[dict],
                 on: dt.date):
        e = self.engine
        version, settings = self.policy_on(on)
        # Everything the engine reads; of the date, only who is elderly. The notice and the
        # approval a fortnight later usually ask the same question.
        key = (version.id,
               tuple((m["counted"], m["class"], m["health"], m["disability_grade"], m["student"],
                      _age(m["birth_date"], on) >= settings.elderly_age) for m in members),
               tuple((i["member"], i["kind"], i["amount"]) for i in income),
               tuple((a["category"], a["value"], a["count"], a["disqualifying"]) for a in assets),
               tuple((x["kind"], x["amount"]) for x in expenditure))
        if key == self._last_key:
            return version, self._last_result
        household = e.HouseholdIn(
            members=tuple(e.MemberIn(name=m["name"], birth_date=m["birth_date"], relation=m["relation"],
                                     counted=m["counted"], klass=m["class"], health=m["health"],
                                     disability_grade=m["disability_grade"], student=m["student"]) for m in members),
            income=tuple(e.IncomeIn(member=i["member"], kind=i["kind"], monthly_amount=i["amount"]) for i in income),
            assets=tuple(e.AssetIn(category=a["category"], value=a["value"], count=a["count"],
                                   disqualifying=a["disqualifying"]) for a in assets),
            expenditure=tuple(e.ExpenditureIn(kind=x["kind"], monthly_amount=x["amount"]) for x in expenditure),
        )
        result = e.evaluate(settings, household, on)
        self._last_key, self._last_result = key, result
        return version, result

    def evaluation_json(self, version, result) -> dict:
        """As POST /api/v1/policy/evaluate answers (money as strings); the engine's reason
        params are JSON-able already."""
        return {
            "standard": str(result.standard), "local_standard": str(result.local_standard),
            "counted_members": result.counted_members, "counted_income": str(result.counted_income),
            "excluded_income": str(result.excluded_income), "deductions": str(result.deductions),
            "per_capita_income": str(result.per_capita_income), "eligible": result.eligible,
            "near_dibao": result.near_dibao, "base_allowance": str(result.base_allowance),
            "topups": [{"code": c, "member": m, "amount": str(a)} for c, m, a in result.topups],
            "allowance": str(result.allowance), "funding": {k: str(v) for k, v in result.funding.items()},
            "disqualifiers": list(result.disqualifiers),
            "reasons": [{"code": x.code, "text": self.engine.reason_text(x, "zh_CN"), "params": x.params}
                        for x in result.reasons],
            "policy_version": {"id": version.id, "jurisdiction": COUNTY["code"],
                               "effective_from": version.effective_from.isoformat()},
        }

    # -- panel sessions (M12 Art 22–24) --

    def roster(self, community: int) -> list[tuple[int | None, str, str]]:
        if community == 0:
            return [(self.users[u].id if u else None, name, cat) for u, name, cat in PANEL_ROSTER_C1]
        return list(PANEL_ROSTER_OTHER[community - 1])

    def plan_panels(self, cases: list[tuple]) -> None:
        """Sessions before the cases: scheduled ones for cases waiting in `panel`, closed ones
        (with anonymous votes and scores) for the cases the panel recently decided. The
        agenda rows wait in `self.agenda` until their case is written."""
        r, s = self.r, self.session
        session_ids = _Ids(s, PanelSession.__table__)
        member_ids = _Ids(s, PanelMember.__table__)
        item_ids = _Ids(s, AgendaItem.__table__)
        self.agenda: dict[tuple, dict] = {}
        sessions, members = [], []
        office = self.users["office1"].id
        criteria = self.settings_doc["panel"]["criteria"]
        scheduled: dict[int, list] = defaultdict(list)
        closed: dict[tuple, list] = defaultdict(list)
        for key, spec, story, case_id in cases:
            states = [st for st, _ in story]
            if spec.old or "panel" not in states:
                continue
            i = len(states) - 1 - states[::-1].index("panel")
            if spec.state == "panel":
                scheduled[spec.community].append((key, case_id, spec))
            elif spec.state in ("publicity", "objection", "county_review", "rejected"):
                exit_state, exit_at = story[i + 1]
                # The panel met on the afternoon of the working day before the office acted on it.
                met = self.clock.back_wd(exit_at.astimezone(TZ).date(), 1)
                closed[(spec.community, met)].append((key, case_id, exit_state == "publicity"))

        def new_session(community, when, state, opened=None, closed_at=None):
            sid = session_ids.take()
            sessions.append({"id": sid, "community_id": self.communities[community].id, "scheduled_for": when,
                             "place": COMMUNITIES[community]["place"], "state": state, "opened_at": opened,
                             "closed_at": closed_at, "created_by_id": office, "minutes_sha256": None})
            seats = []
            absent = r.randrange(7) if state == "closed" and r.random() < 0.3 else None
            for j, (user_id, name, category) in enumerate(self.roster(community)):
                pid = member_ids.take()
                present = None if state != "closed" else j != absent
                members.append({"id": pid, "session_id": sid, "user_id": user_id, "name": name,
                                "category": category, "present": present, "signature_sha256":
                                _sha("demo-panel-signature", sid, pid) if present else None})
                seats.append((pid, user_id, name, present))
            return sid, seats

        for community in sorted(scheduled):
            items = scheduled[community]
            for n_session, start in enumerate(range(0, len(items), 12)):
                day = self.clock.add_wd(self.clock.day0, 2 + n_session)
                when = dt.datetime.combine(day, dt.time(14, 30), TZ).astimezone(dt.timezone.utc)
                sid, seats = new_session(community, when, "scheduled")
                for pos, (key, case_id, spec) in enumerate(items[start:start + 12]):
                    item = {"id": item_ids.take(), "session_id": sid, "case_id": case_id, "position": pos,
                            "state": "pending", "result": None, "votes_for": None, "votes_against": None,
                            "votes_abstain": None, "present_count": None, "average_score": None, "closed_at": None}
                    rows = {AgendaItem: [item]}
                    if spec.related:
                        # M21 Art 11: the register names panel3 as the head's sister; she recuses.
                        seat = next(p for p in seats if p[1] == self.users["panel3"].id)
                        rows[Recusal] = [{"agenda_item_id": item["id"], "panel_member_id": seat[0],
                                          "source": "register",
                                          "reason": "评议员申屠美琴与户主申屠美娟系姐妹关系（工作人员近亲属备案）"}]
                    self.agenda[key] = {"rows": rows}

        for (community, day), items in sorted(closed.items(), key=lambda kv: (kv[0][0], kv[0][1])):
            when = dt.datetime.combine(day, dt.time(14, 30), TZ).astimezone(dt.timezone.utc)
            opened = when + dt.timedelta(minutes=r.randint(0, 10))
            closed_at = opened + dt.timedelta(minutes=r.randint(45, 75) + 5 * len(items))
            sid, seats = new_session(community, when, "closed", opened, closed_at)
            present = [p for p in seats if p[3]]
            need = -(-2 * len(present) // 3)  # passes with at least 2/3 of those present
            for pos, (key, case_id, passed) in enumerate(items):
                votes_for = r.randint(need, len(present)) if passed else r.randint(1, need - 1)
                rest = len(present) - votes_for
                against = r.randint(0, rest) if passed else max(rest - r.randint(0, 1), 0)
                abstain = rest - against
                choices = ["for"] * votes_for + ["against"] * against + ["abstain"] * abstain
                r.shuffle(choices)
                item_id = item_ids.take()
                votes, scores, totals = [], [], []
                for choice in choices:
                    vote_id = _uuid(r)
                    votes.append({"id": vote_id, "agenda_item_id": item_id, "choice": choice})
                    total = 0
                    for criterion, weight in criteria.items():
                        low = 0.6 if choice == "for" else 0.2
                        value = round(weight * r.uniform(low, low + 0.4))
                        total += value
                        scores.append({"vote_id": vote_id, "criterion": criterion, "value": Decimal(value)})
                    totals.append(total)
                item = {"id": item_id, "session_id": sid, "case_id": case_id, "position": pos, "state": "closed",
                        "result": "passed" if passed else "failed", "votes_for": votes_for,
                        "votes_against": against, "votes_abstain": abstain, "present_count": len(present),
                        "average_score": (Decimal(sum(totals)) / len(totals)).quantize(CENT),
                        "closed_at": closed_at - dt.timedelta(minutes=len(items) - pos)}
                receipts = [{"agenda_item_id": item_id, "panel_member_id": p[0]} for p in present]
                self.agenda[key] = {"rows": {AgendaItem: [item], Vote: votes, Score: scores, VoteReceipt: receipts},
                                    "tally": (votes_for, against, abstain)}
        for table, rows in ((PanelSession.__table__, sessions), (PanelMember.__table__, members)):
            _insert(s, table, rows)
            self.counts[table.name] += len(rows)

    # -- one household and its cases --

    def household(self, hid: int, spec: _Spec, cases: list[tuple]) -> None:
        r, today = self.r, self.today
        c = COMMUNITIES[spec.community]
        rural = c["rural"]
        lat, lon = _jitter(r, c["lat"], c["lon"], 0, 500)
        if rural:
            address = f"{TOWNSHIP['name']}{c['name']}{r.randint(1, 12)}组{r.randint(1, 180)}号"
        elif r.random() < 0.2:
            address = f"{TOWNSHIP['name']}{r.choice(c['streets'])}{r.randint(1, 260)}号"
        else:
            address = (f"{TOWNSHIP['name']}{r.choice(c['streets'])}{r.randint(1, 260)}号"
                       f"{r.randint(1, 4)}单元{r.randint(1, 7)}{r.randint(1, 2):02d}室")
        if spec.related:
            kind = "ill_head"
            head_birth = STAFF_RELATIVES[0][4]
            members = [
                {**_member(self.people, r, "申屠美娟", "F", head_birth, "self", rural, today, health="serious_illness",
                           disability_grade=None), "id_number": self.relatives["申屠美娟"]},
                _member(self.people, r, "洪国良", "M", dt.date(1966, 11, 2), "spouse", rural, today,
                        health="chronic", disability_grade=None),
                _member(self.people, r, "洪佳丽", "F", dt.date(1995, 6, 18), "child", rural, today,
                        health="healthy", disability_grade=None),
            ]
        else:
            kind, members = _household_people(self.people, r, spec, rural, today)
        tenure = "owned" if rural or r.random() < 0.6 else r.choices(("rented", "other"), (75, 25))[0]
        housing = {"tenure": tenure,
                   "area_m2": str(r.randint(70, 160) if rural else r.randint(40, 110) if tenure == "owned"
                                  else r.randint(18, 50)),
                   "condition": r.choices(("good", "fair", "poor"), (25, 45, 30))[0]}
        ctx = {"hid": hid, "kind": kind, "members": members, "rural": rural, "lat": lat, "lon": lon,
               "housing": housing, "community": spec.community, "address": address}
        first_applied = min(story[0][1] for _, _, story, _, _ in cases)
        self.add(Household, {"id": hid, "community_id": self.communities[spec.community].id,
                             "head_name": members[0]["name"], "address": address,
                             "phone": _phone(r) if r.random() < 0.8 else None,
                             "location": point_wkt(lat, lon), "location_accuracy_m": Decimal(r.randint(3, 15)),
                             "created_at": first_applied})
        for pos, m in enumerate(members):
            self.add(Member, {"household_id": hid, "position": pos, **self._member_row(m)})
        for key, case_spec, story, case_id, number in cases:
            self.case(ctx, key, case_spec, story, case_id, number)

    @staticmethod
    def _member_row(m: dict) -> dict:
        return {"name": m["name"], "id_number": m["id_number"], "relation": m["relation"], "sex": m["sex"],
                "birth_date": m["birth_date"], "hukou_type": m["hukou_type"], "education": m["education"],
                "health": m["health"], "disability_grade": m["disability_grade"],
                "labour_ability": m["labour_ability"], "work_status": m["work_status"], "student": m["student"],
                "special_identity": m["special_identity"], "class": m["class"], "counted": m["counted"]}

    def finances(self, ctx: dict, spec: _Spec) -> dict:
        """What the first visit finds, and what the applicant declared."""
        r, members = self.r, ctx["members"]
        income = _income(r, ctx["kind"], members, self.today)
        _make_eligible(r, income, len(members), self.counted_kinds)
        declared = [dict(i) for i in income]
        if spec.finance == "income" and _raise_income(r, income, members, self.today, self.counted_kinds) is None:
            spec.finance = "asset"  # nobody of working age: the county finds a car instead
        assets = _assets(r, ctx["rural"], ctx["housing"]["tenure"], len(members), spec.finance)
        declared_assets = [a for a in assets if not a["disqualifying"]]
        return {"income": income, "assets": assets, "expenditure": _expenditure(r, members, ctx["housing"]["tenure"]),
                "declared_income": declared, "declared_assets": declared_assets}

    def case(self, ctx: dict, key, spec: _Spec, story: list, case_id: uuid.UUID, number: str) -> None:
        r, u, today = self.r, self.users, self.today
        members = ctx["members"]
        states = [st for st, _ in story]
        team, investigators, device = self.teams[spec.community] if "investigating" in states else (None, [], None)
        fin = self.finances(ctx, spec)
        office, county = u["office1"].id, u["county1"].id

        # Visits: one per submission, and the re-check visit before a re-check decision.
        visits, returns, decisions = [], [], []
        data = {"income": fin["income"], "assets": fin["assets"], "expenditure": fin["expenditure"]}
        n_submitted = 0
        for i, (st, at) in enumerate(story):
            if st == "submitted":
                n_submitted += 1
                visits.append(self.visit(ctx, spec, case_id, "initial" if n_submitted == 1 else "revisit",
                                         at, investigators, device, data))
            elif st == "returned":
                reasons = r.sample(RETURN_REASONS, r.choice((1, 1, 2, 3)))
                returns.append({"case_id": case_id, "visit_id": visits[-1]["row"]["id"], "reasons": reasons,
                                "returned_by_id": office, "returned_at": at, "closed_at": None})
                visits[-1]["row"]["state"] = "returned"
        for ret in returns:  # the next visit answered the return
            later = [v for v in visits if v["row"]["received_at"] > ret["returned_at"]]
            if later:
                ret["closed_at"] = later[0]["row"]["received_at"]
        if visits and visits[-1]["row"]["state"] != "returned":
            visits[-1]["row"]["state"] = {"submitted": "awaiting_photos",
                                          "in_review": "in_review"}.get(spec.state, "accepted")
        for v in visits:
            if v["row"]["state"] != "awaiting_photos":
                v["row"]["complete_at"] = v["row"]["received_at"]

        # Publicity: the amount the panel passed, under the policy in force then.
        allowance = payment_from = next_due = None
        notice_id = None
        if "publicity" in states:
            pub_at = story[states.index("publicity")][1]
            pub_day = pub_at.astimezone(TZ).date()
            version, result = self.evaluate(members, data["income"], data["assets"], data["expenditure"], pub_day)
            notice_id = self.notice_ids.take()
            until = pub_day + dt.timedelta(days=self.settings_doc["publicity_days"] - 1)
            self.add(Notice, {"id": notice_id, "case_id": case_id,
                              "community_id": self.communities[spec.community].id,
                              "head_name_shown": mask_name(members[0]["name"]), "household_size": len(members),
                              "amount": result.allowance, "posted_from": pub_day, "posted_until": until,
                              "state": ("posted" if spec.state in ("publicity", "objection") and until >= today
                                        else "ended"),
                              "created_by_id": office, "created_at": pub_at})

        transitions = []
        for i in range(1, len(story)):
            frm, (to, at) = story[i - 1][0], story[i]
            reason = None
            actor = {"accepted": office, "investigating": office, "returned": office, "panel": office,
                     "publicity": office, "objection": office, "county_review": office, "approved": county,
                     "rejected": county, "adjusted": county, "stopped": county}.get(to)
            if to == "submitted":
                actor = investigators[0].id
            elif to == "active":
                actor = county if frm == "recheck" else None  # payment starts by itself once approved
            if to == "returned":
                reason = "；".join(next(x for x in returns if x["returned_at"] == at)["reasons"])
            elif to == "investigating" and frm == "returned":
                reason = "按退回意见重新入户调查"
            elif to == "county_review" and frm == "panel":
                tally = self.agenda.get(key, {}).get("tally")
                reason = ("民主评议未通过" + (f"（赞成{tally[0]}票，反对{tally[1]}票，弃权{tally[2]}票）" if tally else "")
                          + "，建议不予批准")
            elif to == "objection":
                content = r.choice(OBJECTIONS)
                reason = "公示期间收到异议：" + content
                self.add(Objection, {"notice_id": notice_id, "case_id": case_id,
                                     "objector_name": None if r.random() < 0.6 else self.people.surname() + "先生",
                                     "contact": _phone(r) if r.random() < 0.7 else None,
                                     "channel": r.choice(("phone", "in_person", "letter")), "content": content,
                                     "received_at": at - dt.timedelta(minutes=r.randint(5, 120)),
                                     "received_by_id": office, "resolution": None, "response": None,
                                     "resolved_at": None, "resolved_by_id": None})
            elif to in ("approved", "rejected") or (frm == "recheck" and to in ("active", "adjusted", "stopped")):
                decision = self.decide(ctx, spec, case_id, frm, to, at, data, visits, investigators, device, allowance)
                decisions.append(decision)
                reason = decision["reason"] or None
                if to in ("approved", "active", "adjusted"):
                    allowance, payment_from = decision["allowance"], decision["payment_from"]
                    next_due = _add_months(decision["decision_date"], 12 if spec.stable else 6)
                elif to == "stopped":
                    allowance, payment_from, next_due = ZERO, decision["payment_from"], None
            transitions.append({"case_id": case_id, "from_state": frm, "to_state": to, "actor_id": actor,
                                "reason": reason, "at": at})

        accepted_day = story[1][1].astimezone(TZ).date() if len(story) > 1 else None
        limits = self.settings_doc["deadlines"]
        investigation_due = case_due = decision_due = None
        if accepted_day:
            investigation_due = self.clock.add_wd(accepted_day, limits["investigation_start_wd"])
            case_due = self.clock.add_wd(
                accepted_day, limits["case_total_special_wd" if spec.special else "case_total_wd"])
        if "county_review" in states:
            cr_day = story[len(states) - 1 - states[::-1].index("county_review")][1].astimezone(TZ).date()
            decision_due = self.clock.add_wd(cr_day, limits["county_decision_wd"])
        if spec.state == "recheck":
            next_due = story[-1][1].astimezone(TZ).date()  # the due date that started it
        if spec.state == "rejected":
            allowance = payment_from = None
        last_at = story[-1][1]
        declaration = {
            "reason": STORIES[ctx["kind"]][1], "members": len(members),
            "income": [{"member": i["member"], "kind": i["kind"], "monthly_amount": _money(i["amount"])}
                       for i in fin["declared_income"]],
            "assets": [{"category": a["category"], "description": a["description"], "value": _money(a["value"]),
                        "count": a["count"]} for a in fin["declared_assets"]],
            "declared_at": story[0][1].astimezone(TZ).date().isoformat(),
        }
        stability = spec.stable if any(st in states for st in ("approved",)) else None
        self.add(Case, {
            "id": case_id, "number": number, "household_id": ctx["hid"],
            "community_id": self.communities[spec.community].id, "state": spec.state, "applied_at": story[0][1],
            "accepted_at": story[1][1] if len(story) > 1 else None, "investigation_due": investigation_due,
            "decision_due": decision_due, "case_due": case_due, "special": spec.special,
            "team_id": team.id if team else None, "related_to_staff": spec.related, "declaration": declaration,
            "stability": None if stability is None else ("stable" if stability else "unstable"),
            "allowance": allowance, "payment_from": payment_from,
            "next_recheck_due": next_due if spec.state in ("approved", "active", "recheck", "adjusted") else None,
            "state_changed_at": last_at, "updated_at": last_at, "version": len(story),
        })
        for row in transitions:
            self.add(CaseTransition, row)
        if team is not None:
            assigned_at = story[states.index("investigating")][1]
            self.add(Assignment, {"case_id": case_id, "team_id": team.id, "assigned_by_id": office,
                                  "assigned_at": assigned_at, "ended_at": None})
            self.sync.append((last_at, team.id, case_id))
        for v in visits:
            self.write_visit(v)
        for ret in returns:
            self.add(CaseReturn, ret)
        for d in decisions:
            self.add(Decision, d)
        for model, rows in self.agenda.pop(key, {}).get("rows", {}).items():
            for row in rows:
                self.add(model, row)

    def decide(self, ctx, spec, case_id, frm, to, at, data, visits, investigators, device, previous) -> dict:
        """The county's decision or a re-check outcome, computed by the policy engine."""
        r, members = self.r, ctx["members"]
        day = at.astimezone(TZ).date()
        outcome = {"approved": "approved", "rejected": "rejected", "active": "continued",
                   "adjusted": "adjusted", "stopped": "stopped"}[to]
        if frm == "recheck":
            # The re-check visit, a few working days before the decision.
            before = self.evaluate(members, data["income"], data["assets"], data["expenditure"], day)[1]
            income = [dict(i) for i in data["income"]]
            who = None
            if outcome == "stopped":
                who = _raise_income(r, income, members, self.today, self.counted_kinds)
                if who is None:
                    income.append({"member": 0, "kind": "maintenance", "note": None,
                                   "amount": Decimal(1100 * len(members) * 13 // 10).quantize(CENT)})
            elif outcome == "adjusted":
                wages = [i for i in income if i["kind"] in ("wage", "other")]
                if wages and r.random() < 0.6:
                    wages[0]["amount"] += _yuan(r, 100, 300)
                else:
                    income.append({"member": 0, "kind": "maintenance", "note": None, "amount": _yuan(r, 150, 300)})
                if not self.evaluate(members, income, data["assets"], data["expenditure"], day)[1].eligible:
                    # Up was too far: the income fell instead, which keeps an eligible household eligible.
                    income = [dict(i) for i in data["income"]]
                    lower = [i for i in income if i["kind"] in self.counted_kinds and i["amount"] >= 100]
                    if lower:
                        lower[0]["amount"] -= min(_yuan(r, 50, 200), lower[0]["amount"] - 50)
                    else:
                        income.append({"member": 0, "kind": "maintenance", "note": None, "amount": _yuan(r, 50, 90)})
            version, result = self.evaluate(members, income, data["assets"], data["expenditure"], day)
            # M21: a re-check decides on what the re-check visit found.
            assert (outcome == "stopped") != result.eligible, (outcome, result.eligible)
            visit_day = self.clock.back_wd(day, r.randint(1, 4))
            received = self.clock.times(r, visit_day, 1)[0]
            data["income"] = income
            visits.append(self.visit(ctx, spec, case_id, "recheck", received, investigators, device, data))
            visits[-1]["row"]["state"] = "accepted"
            visits[-1]["row"]["complete_at"] = received
        else:
            version, result = self.evaluate(members, data["income"], data["assets"], data["expenditure"], day)
        S = result.standard
        pci = result.per_capita_income
        pay_from = _next_month_first(day)
        if outcome == "approved":
            reason = ""
        elif outcome == "continued":
            reason = "复核后家庭情况无明显变化，继续享受最低生活保障。"
        elif outcome == "rejected" and spec.reject_kind == "panel":
            reason = ("经民主评议，多数评议代表认为该户家庭成员具备劳动能力且有务工收入来源，评议未通过。"
                      "经审核，决定不予批准。")
        elif outcome == "rejected" and result.disqualifiers:
            car = next((a for a in data["assets"] if a["disqualifying"]), data["assets"][-1])
            reason = (f"经入户调查，家庭拥有{car['description']}（估值约{car['value']:.0f}元），超过车辆价值"
                      f"{self.settings_doc['disqualifiers']['vehicle_value_limit'][:-3]}元的限额，"
                      "不符合最低生活保障条件，决定不予批准。")
        elif outcome == "rejected":
            reason = (f"经入户调查和信息核对，家庭月收入{result.counted_income:.2f}元，人均月收入{pci}元，"
                      f"高于本县低保标准{S}元，不符合最低生活保障条件，决定不予批准。")
        elif outcome == "stopped":
            reason = (f"复核发现家庭成员{who or members[0]['name']}已稳定就业，家庭人均月收入{pci}元，高于低保标准"
                      f"{S}元，自{pay_from.year}年{pay_from.month}月起停止发放最低生活保障金。")
        else:  # adjusted
            reason = (f"复核后家庭收入发生变化，人均月收入由{before.per_capita_income}元变为{pci}元，保障金由每月"
                      f"{previous}元调整为每月{result.allowance}元，自{pay_from.year}年{pay_from.month}月起执行。")
        allowance = result.allowance if outcome in ("approved", "continued", "adjusted") else ZERO
        return {"case_id": case_id, "outcome": outcome, "reason": reason, "decided_by_id": self.users["county1"].id,
                "decided_at": at, "decision_date": day, "policy_version_id": version.id, "standard": S,
                "allowance": allowance,
                "payment_from": pay_from if outcome in ("approved", "continued", "adjusted", "stopped") else None,
                "evaluation": self.evaluation_json(version, result)}

    def visit(self, ctx, spec, case_id, kind, received, investigators, device, data) -> dict:
        """A visit as the tablet sent it (the wire body of PUT /api/v1/visits/<uuid>) and its rows."""
        r = self.r
        members = [dict(m) for m in ctx["members"]]  # as found that day: a later re-check may change them
        visit_id = _uuid(r)
        ended = received - dt.timedelta(minutes=r.randint(3, 90))
        minutes = r.randint(5, 9) if r.random() < 0.02 else r.randint(22, 75)  # a few too short to be credible
        started = ended - dt.timedelta(minutes=minutes)
        far = r.random() < 0.05  # flagged later: more than 300 m from the registered address
        lat, lon = _jitter(r, ctx["lat"], ctx["lon"], 350, 900) if far else _jitter(r, ctx["lat"], ctx["lon"], 3, 60)
        accuracy = float(r.randint(60, 120)) if r.random() < 0.03 else float(r.randint(4, 20))
        usernames = [i.username for i in investigators]
        device_id = f"{device}-{r.randint(1, 2):02d}"
        income, assets, expenditure = data["income"], data["assets"], data["expenditure"]
        counted = _counted_total(income, self.counted_kinds)
        n = len(members)
        pci = (counted / n).quantize(CENT)
        finding = "eligible"
        if any(a["disqualifying"] for a in assets):
            finding = "asset"
        elif counted >= Decimal(1100 * n):
            finding = "income"
        story = STORIES[ctx["kind"]][0]
        has_vehicle = any(a["category"] == "vehicle" and not a["disqualifying"] for a in assets)
        testimonies = []
        neighbour = self.people.surname() + self.people.given(r.choice("MF"), r.randint(1950, 1990))
        for role, witness in (("neighbour", neighbour), ("cadre", COMMUNITIES[ctx["community"]]["cadre"])):
            if finding == "eligible":
                matches = "yes" if r.random() < 0.95 else "unsure"
            else:
                matches = r.choice(("no", "no", "unsure"))
            w_lat, w_lon = _jitter(r, ctx["lat"], ctx["lon"], 5, 80 if role == "neighbour" else 40)
            at = started + dt.timedelta(seconds=r.randint(60, max(61, int((ended - started).total_seconds()) - 60)))
            answers = {
                "lives_here": "yes",
                "work_income": (f"主要靠{'养老金' if any(i['kind'] == 'pension' for i in income) else '打零工'}"
                                f"维持生活，每月收入大约{int(counted // 100 * 100)}元" if finding != "income"
                                else "听说家里有人在外面上班，收入不低"),
                "house_vehicle_business": ("有自己的房子，" if ctx["housing"]["tenure"] == "owned" else "租房住，")
                                          + ("有一辆电动车，" if has_vehicle else "")
                                          + ("家里有小轿车" if finding == "asset" else "没有汽车，没有做生意"),
                "living_conditions": {"poor": "家里很简陋，生活比较困难", "fair": "生活一般，比较节俭",
                                      "good": "房子收拾得干净，但收入不多"}[ctx["housing"]["condition"]],
                "matches_declaration": matches,
            }
            if role == "neighbour":
                statement = f"我住在他们家附近，认识十几年了。{story}。"
            else:
                statement = f"经{'村' if ctx['rural'] else '社区'}了解，该户{story}，" + (
                    "情况基本属实。" if matches == "yes" else "具体收入情况建议进一步核实。")
            testimonies.append({
                "witness_name": witness, "role": role, "contact": _phone(r), "answers": answers,
                "statement": statement, "lat": w_lat, "lon": w_lon, "accuracy_m": float(r.randint(4, 25)),
                "at": at, "signature": _sha("demo-signature", visit_id, role),
            })
        # M21 Art 16: the investigators and a family member present sign.
        head_signs = _age(members[0]["birth_date"], self.today) < 85 or n == 1
        family_signer = members[0]["name"] if head_signs else members[1]["name"]
        signatures = [{"role": "investigator", "name": i.display_name,
                       "image": _sha("demo-signature", visit_id, i.username)} for i in investigators]
        signatures.append({"role": "family_member", "name": family_signer,
                           "image": _sha("demo-signature", visit_id, "family")})
        if finding == "eligible":
            conclusion = (f"经入户核查，该户共{n}人，{story}。家庭月收入约{counted:.0f}元，人均{pci}元，"
                          "低于当地低保标准，符合申请条件，建议提交民主评议。")
        elif finding == "income":
            conclusion = (f"经入户核查，该户共{n}人，家庭月收入约{counted:.0f}元，人均{pci}元，"
                          "高于当地低保标准，建议不予纳入。")
        else:
            car = next(a for a in assets if a["disqualifying"])
            conclusion = f"经入户核查，家庭拥有{car['description']}，估值约{car['value']:.0f}元，超过车辆价值限额，建议不予纳入。"
        if kind == "recheck":
            conclusion = "复核：" + conclusion.replace("建议提交民主评议", "建议继续保障").replace(
                "建议不予纳入", "建议停止保障")
        body = {
            "case_id": str(case_id), "kind": kind, "started_at": _iso(started), "ended_at": _iso(ended),
            "investigators": usernames,
            "location": {"lat": lat, "lon": lon, "accuracy_m": accuracy}, "device_id": device_id,
            "members": [{"name": m["name"], "id_number": m["id_number"], "relation": m["relation"], "sex": m["sex"],
                         "birth_date": m["birth_date"].isoformat(), "hukou_type": m["hukou_type"],
                         "education": m["education"], "health": m["health"],
                         "disability_grade": m["disability_grade"], "labour_ability": m["labour_ability"],
                         "work_status": m["work_status"], "student": m["student"],
                         "special_identity": m["special_identity"], "class": m["class"]} for m in members],
            "income": [{"member": i["member"], "kind": i["kind"], "monthly_amount": _money(i["amount"])}
                       for i in income],
            "expenditure": [{"kind": x["kind"], "monthly_amount": _money(x["amount"])} for x in expenditure],
            "housing": dict(ctx["housing"]),
            "assets": [{"category": a["category"], "description": a["description"], "value": _money(a["value"]),
                        "count": a["count"], "disqualifying": a["disqualifying"], "photos": []} for a in assets],
            "testimonies": [{"witness_name": t["witness_name"], "role": t["role"], "contact": t["contact"],
                             "answers": t["answers"], "statement": t["statement"],
                             "location": {"lat": t["lat"], "lon": t["lon"], "accuracy_m": t["accuracy_m"]},
                             "at": _iso(t["at"]), "signature": t["signature"]} for t in testimonies],
            "photos": [],
            "signatures": signatures,
            "conclusion": conclusion, "notes": r.choice(NOTES),
        }
        row = {"id": visit_id, "case_id": case_id, "kind": kind, "state": "accepted", "started_at": started,
               "ended_at": ended, "location": point_wkt(lat, lon), "location_accuracy_m": Decimal(str(accuracy)),
               "device_id": device_id, "submitted_by_id": investigators[0].id, "received_at": received,
               "complete_at": None, "housing_tenure": ctx["housing"]["tenure"],
               "housing_area_m2": Decimal(ctx["housing"]["area_m2"]), "housing_condition": ctx["housing"]["condition"],
               "conclusion": conclusion, "notes": body["notes"], "body": body, "body_hash": None}
        return {"row": row, "members": members, "income": [dict(i) for i in income], "assets": assets,
                "expenditure": expenditure, "testimonies": testimonies, "signatures": signatures,
                "investigators": investigators}

    def write_visit(self, v: dict) -> None:
        row = v["row"]
        row["body_hash"] = _body_hash(row["body"])
        visit_id = row["id"]
        self.add(Visit, row)
        for i in v["investigators"]:
            self.add(VisitInvestigator, {"visit_id": visit_id, "user_id": i.id})
        for pos, m in enumerate(v["members"]):
            self.add(VisitMember, {"visit_id": visit_id, "position": pos, **self._member_row(m)})
        for i in v["income"]:
            self.add(IncomeItem, {"visit_id": visit_id, "member_position": i["member"], "kind": i["kind"],
                                  "monthly_amount": i["amount"], "counted": i["kind"] in self.counted_kinds,
                                  "note": None})
        for x in v["expenditure"]:
            self.add(Expenditure, {"visit_id": visit_id, "kind": x["kind"], "monthly_amount": x["amount"],
                                   "note": None})
        for pos, a in enumerate(v["assets"]):
            self.add(Asset, {"visit_id": visit_id, "position": pos, "category": a["category"],
                             "description": a["description"], "value": a["value"], "count": a["count"],
                             "disqualifying": a["disqualifying"], "disability_mobility": False, "photo_hashes": []})
        for t in v["testimonies"]:
            self.add(Testimony, {"visit_id": visit_id, "witness_name": t["witness_name"], "role": t["role"],
                                 "contact": t["contact"], "answers": t["answers"],
                                 "matches_declaration": t["answers"]["matches_declaration"],
                                 "statement": t["statement"], "location": point_wkt(t["lat"], t["lon"]),
                                 "location_accuracy_m": Decimal(str(t["accuracy_m"])), "at": t["at"],
                                 "signature_sha256": t["signature"]})
        for sig in v["signatures"]:
            self.add(Signature, {"visit_id": visit_id, "role": sig["role"], "name": sig["name"],
                                 "image_sha256": sig["image"]})

    # -- the change feed --

    def write_sync(self) -> None:
        """One `upsert` per team case, in the order the cases last changed; the counter
        moves past them as `server.sync.operations.next_value` would, one block at a time."""
        s = self.session
        self.sync.sort(key=lambda x: x[0])
        n = len(self.sync)
        if not n:
            return
        last = s.execute(sa.update(SyncCounter).where(SyncCounter.name == "sync")
                         .values(value=SyncCounter.value + n).returning(SyncCounter.value)).scalar()
        if last is None:
            s.execute(sa.insert(SyncCounter.__table__), [{"name": "sync", "value": n}])
            last = n
        first = last - n + 1
        rows = [{"seq": first + i, "team_id": team_id, "case_id": case_id, "change": "upsert", "at": at}
                for i, (at, team_id, case_id) in enumerate(self.sync)]
        _insert(s, SyncChange.__table__, rows)
        self.counts["sync_changes"] = n


def _old_case(spec: _Spec, r: random.Random) -> _Spec:
    """An earlier application of the same household, closed: refused, or stopped after a
    year of payments."""
    if r.random() < 0.6:
        kind = ("income", "asset")[r.randrange(2)]
        return _Spec(state="rejected", community=spec.community, k=-1, stable=False, finance=kind,
                     reject_kind=kind, panel_failed=True, old=True)
    return _Spec(state="stopped", community=spec.community, k=-1, stable=False, old=True)


def build_demo(session: Session, households: int | None = None, seed: int = 7,
               progress: Callable[[str], None] | None = None, *, today: dt.date | None = None) -> dict:
    """Fill an empty database with the demo county; returns how many rows of each kind.

    `households` defaults to 60. Cases are dated back from `today` (default: today in
    Asia/Shanghai); the same seed and day give the same data, but for the password hash's
    salt. Flushes, never commits; raises RuntimeError if the database already has users.
    """
    from server.core import audit
    from server.core.auth import hash_password

    say = progress or (lambda msg: None)
    if session.scalar(sa.select(sa.func.count()).select_from(User)):
        raise RuntimeError("the database already has users; demo data goes into an empty database")
    if session.scalar(sa.select(sa.func.count()).select_from(Jurisdiction).where(Jurisdiction.code == COUNTY["code"])):
        raise RuntimeError(f"jurisdiction {COUNTY['code']} ({COUNTY['name']}) already exists")
    n = DEFAULT_HOUSEHOLDS if households is None else int(households)
    if n < 1:
        raise ValueError("households must be at least 1")
    if today is None:
        today = dt.datetime.now(TZ).date()
    r = random.Random(seed)
    clock = _Clock(Calendar(), today)
    builder = _Builder(session, r, clock)
    sqlite = session.get_bind().dialect.name == "sqlite"
    if sqlite:
        # SQLite's default 2 MB page cache makes every index insert a read once the file
        # outgrows it (random UUID keys); 256 MB for this connection while the demo loads.
        cache_size = session.execute(sa.text("PRAGMA cache_size")).scalar()
        session.execute(sa.text("PRAGMA cache_size = -262144"))
    say("demo: county, users, teams, policy and calendar")
    builder.setup(hash_password(DEMO_PASSWORD))  # argon2 is slow: one hash for every demo user

    say(f"demo: planning {n} households")
    specs = _plan(n, r)
    plan = []  # (household index, [(key, spec, story, case id)])
    for h, spec in enumerate(specs):
        story = _timeline(spec, r, clock)
        cases = [((h, 0), spec, story, _uuid(r))]
        applied = story[0][1].astimezone(TZ).date()
        if not spec.related and r.random() < 0.04:
            old = _old_case(spec, r)
            end = clock.snap(applied - dt.timedelta(days=r.randint(40, 200)))
            old_story = _timeline(old, r, clock, end=end)
            if old_story[0][1].astimezone(TZ).date() >= dt.date(2025, 1, 15):  # under a policy in force
                cases.insert(0, ((h, 1), old, old_story, _uuid(r)))
        plan.append((h, cases))
    numbers, per_year = {}, Counter()
    for key, _, story, _ in sorted((c for _, cases in plan for c in cases), key=lambda c: (c[2][0][1], c[0])):
        year = story[0][1].astimezone(TZ).year
        per_year[year] += 1
        numbers[key] = f"TL-{year}-{per_year[year]:06d}"

    builder.plan_panels([c for _, cases in plan for c in cases])
    household_ids = _Ids(session, Household.__table__)
    builder.notice_ids = _Ids(session, Notice.__table__)
    for start in range(0, n, CHUNK):
        for _, cases in plan[start:start + CHUNK]:
            builder.household(household_ids.take(), cases[-1][1],
                              [(key, spec, story, cid, numbers[key]) for key, spec, story, cid in cases])
        builder.flush_rows()
        say(f"demo: {min(start + CHUNK, n)} of {n} households written")
    builder.write_sync()

    if sqlite:
        session.execute(sa.text(f"PRAGMA cache_size = {int(cache_size)}"))
    else:
        # Ids were taken here, so the serial sequences must catch up with them.
        for table in ("households", "notices", "panel_sessions", "panel_members", "agenda_items"):
            session.execute(sa.text(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), max(id)) FROM {table} "
                                    "HAVING max(id) IS NOT NULL"))
    # Rows per table, the headline ones first.
    counts = {k: builder.counts[k] for k in ("households", "members", "cases", "visits", "users")}
    counts.update({k: v for k, v in builder.counts.items() if k not in counts})
    by_state = dict(sorted(Counter(c[1].state for _, cases in plan for c in cases).items()))
    audit.record(session, "demo.created", "jurisdiction", builder.county.id,
                 after={"seed": seed, "today": today, "rows": counts, "cases_by_state": by_state}, actor=None)
    session.flush()
    return counts
