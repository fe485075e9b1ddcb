"""Who may do what: every route of the app, by method and rule exactly as `app.url_map`
spells it, and what each kind of user gets from it. tests/api/test_access_matrix.py walks
every row with every role; a route missing here (or a row for a route that is gone) fails
that test, so a new route is closed for review until someone writes down its rule.

The roles, each against the same case (community A of county A, held by team A, on the
agenda of a panel session):

    anonymous              not signed in
    investigator           in team A, which holds the case
    investigator_other     in team B of the same community
    office                 office staff of community A, the case's
    office_other           office staff of community B, same county
    county                 county reviewer of county A
    county_other           county reviewer of county B
    panel                  panel member of the session with the case on its agenda
    panel_other            panel member of another session of community A
    admin                  administrator of county A
    admin_other            administrator of county B

What each gets (the test checks the answer, the audit log and that a refusal changed
nothing in the database):

    OK          allowed: 2xx or 3xx (not to the sign-in page); a write may also answer
                400, 409 or 422 (a minimal request, refused for its content, not its sender)
    LOGIN       signed out: a page redirects to the sign-in page; the API answers 401
    FORBIDDEN   403: signed in, but the role may not
    HIDDEN      404: not advertised to the role (administration pages to non-admins)
    SCOPE       404 and an `access.denied` audit event: the thing exists, but outside the
                user's scope (a case of another team, community, county or agenda)
    DENIED      403 and an `access.denied` audit event: the user may see it, not do this
    SKIPPED     a batch answered 303 with the out-of-scope case skipped, the attempt
                logged, nothing changed (the review queue's bulk action)

Each row: `row(ok=..., scope=..., hidden=..., forbidden=..., denied=..., skipped=...)`
with space-separated role names; a signed-in role not named gets `rest` (FORBIDDEN unless
said otherwise) and `anonymous` gets LOGIN unless `public=True`. Extras:

    params   URL variables by name -> a name of the test's world (default: by variable name)
    data     form fields (pages; a CSRF token is added) or `json` (API) -> a name of the
             test's bodies, or a dict
    query    query string
    shows    a name of the world whose text must appear in the answer of each allowed role
             that is in scope (role without "_other") and must not in that of the others
"""
from __future__ import annotations

from dataclasses import dataclass, field

ROLES = ("anonymous", "investigator", "investigator_other", "office", "office_other", "county", "county_other",
         "panel", "panel_other", "admin", "admin_other")
SIGNED_IN = ROLES[1:]

OK, LOGIN, FORBIDDEN, HIDDEN, SCOPE, DENIED, SKIPPED = "OK", "LOGIN", "403", "404", "404+log", "403+log", "skipped"

ADMINS = "admin admin_other"
CASE_VIEWERS = "investigator office county panel"
CASE_OUTSIDERS = "investigator_other office_other county_other panel_other admin admin_other"


@dataclass
class Row:
    expect: dict[str, str]
    params: dict[str, str] = field(default_factory=dict)
    data: object = None
    json: object = None
    body: object = None  # raw bytes (photo uploads): name of the test's bodies
    content_type: str | None = None
    query: dict = field(default_factory=dict)
    shows: str | None = None


def row(ok="", scope="", hidden="", forbidden="", denied="", skipped="", rest=FORBIDDEN, public=False, **extra) -> Row:
    expect = {role: rest for role in SIGNED_IN}
    for outcome, names in ((OK, ok), (SCOPE, scope), (HIDDEN, hidden), (FORBIDDEN, forbidden), (DENIED, denied),
                           (SKIPPED, skipped)):
        for name in names.split():
            assert name in SIGNED_IN, name
            expect[name] = outcome
    expect["anonymous"] = OK if public else LOGIN
    return Row(expect=expect, **extra)


def public(**extra) -> Row:
    return row(ok=" ".join(SIGNED_IN), public=True, **extra)


def signed_in(**extra) -> Row:
    return row(ok=" ".join(SIGNED_IN), **extra)


def admin_page(scoped: bool = False, logged: bool = False, **extra) -> Row:
    """Administration: admins only, every other role a 404 (not advertised). `scoped`: the
    object belongs to county A, so county B's admin gets a 404 too (logged if `logged`)."""
    if not scoped:
        return row(ok=ADMINS, rest=HIDDEN, **extra)
    return row(ok="admin", scope="admin_other" if logged else "", rest=HIDDEN, **extra)


def case_page(ok=CASE_VIEWERS, **extra) -> Row:
    """A page of one case for whoever may see it; every other signed-in user gets a 404 and
    the attempt is logged (they may not know the case exists)."""
    viewers = set(ok.split())
    return row(ok=ok, scope=" ".join(r for r in SIGNED_IN if r not in viewers), **extra)


TABLE: dict[str, Row] = {
    # --- public: sign-in, the tablet app's files, static files, the API's description --------
    "GET /login": public(),
    "POST /login": public(),  # empty form: 422 for everyone, nobody signed in or out
    "GET /app": public(),
    "GET /app/": public(),
    "GET /app/<path:name>": public(params={"name": "app_file"}),
    "GET /static/<path:filename>": public(),  # a file of the folder is found by the test
    "GET /review/static/<path:filename>": public(),
    "GET /api/v1/openapi.json": public(),
    "GET /api/v1/docs": public(),
    "POST /api/v1/auth/token": public(json={}),  # 422 for everyone: signing in needs no token

    # --- anyone signed in ---------------------------------------------------------------------
    "GET /": signed_in(),
    "POST /logout": signed_in(),
    "DELETE /api/v1/auth/token": signed_in(),
    # Uploading is safe for anyone signed in (content-addressed, checked); seeing is not.
    "PUT /api/v1/photos/<string:sha256>": signed_in(body="not_a_photo", content_type="image/jpeg"),
    "HEAD /api/v1/photos/<string:sha256>": signed_in(),

    # --- one case, through the API ------------------------------------------------------------
    "GET /api/v1/cases/<uuid:case_id>": case_page(),
    "POST /api/v1/cases/<uuid:case_id>/transitions": case_page(json={"to": "approved"}),  # illegal: 409
    "GET /api/v1/photos/<string:sha256>/display": case_page(),
    "GET /api/v1/photos/<string:sha256>/thumb": case_page(),
    # The original carries the exact GPS: office and county only, a refusal logged.
    "GET /api/v1/photos/<string:sha256>/original": row(ok="office county", denied="investigator panel",
                                                       scope=CASE_OUTSIDERS),
    "GET /api/v1/visits/<uuid:visit_id>": row(ok="investigator office county",
                                              scope="investigator_other office_other county_other"),
    "PUT /api/v1/visits/<uuid:visit_id>": row(ok="investigator", scope="investigator_other",
                                              json="same_visit"),  # the identical body again: 200
    "GET /api/v1/sync/assignments": row(ok="investigator investigator_other", shows="case_id"),
    # The policy engine: anyone working at or above the community; others 404, logged.
    "POST /api/v1/policy/evaluate": row(ok="investigator investigator_other office county panel panel_other admin",
                                        scope="office_other county_other admin_other", json="evaluate"),

    # --- office pages: intake, applications, assignment, deadlines ----------------------------
    "GET /applications": row(ok="office office_other county county_other", query={"state": "all"},
                             shows="case_number"),
    "GET /applications/new": row(ok="office office_other"),
    "POST /applications/new": row(ok="office office_other"),  # empty form: 422
    "GET /applications/<uuid:case_id>": row(ok="office county", scope="office_other county_other"),
    "POST /applications/<uuid:case_id>/accept": row(ok="office", scope="office_other"),  # not an application: 409
    "POST /applications/<uuid:case_id>/refuse": row(ok="office", scope="office_other"),  # no reason: 422
    "GET /applications/<uuid:case_id>/attachments/<int:attachment_id>": row(ok="office county",
                                                                           scope="office_other county_other"),
    "GET /assignments": row(ok="office office_other county county_other"),
    # Each office sends its own team: office B's is refused for the case, not for the team.
    "POST /assignments": row(ok="office", scope="office_other", hidden="county county_other", data="assign"),
    "GET /due": row(ok="office office_other county county_other"),

    # --- review: the queue, the case file, actions --------------------------------------------
    "GET /review": row(ok="office office_other county county_other", shows="case_number"),
    "POST /review/bulk": row(ok="office", skipped="office_other", data="bulk"),
    "GET /cases/<uuid:case_id>": case_page(),
    "POST /cases/<uuid:case_id>/comment": row(ok="office county", scope="office_other county_other"),
    "GET /cases/<uuid:case_id>/conflicts/<int:conflict_id>": row(ok="office", scope="office_other"),
    "POST /cases/<uuid:case_id>/conflicts/<int:conflict_id>": row(ok="office", scope="office_other"),
    "POST /cases/<uuid:case_id>/correct": row(ok="office", scope="office_other", data="stale"),
    "POST /cases/<uuid:case_id>/return": row(ok="office", scope="office_other", data="stale"),
    "POST /cases/<uuid:case_id>/start-review": row(ok="office", scope="office_other", data="stale"),
    "POST /cases/<uuid:case_id>/to-panel": row(ok="office", scope="office_other", data="stale"),

    # --- administration: users, relations register, policy, audit log, calendar --------------
    "GET /admin/users": admin_page(shows="target_username"),
    "GET /admin/users/new": admin_page(),
    "POST /admin/users/new": admin_page(),
    "GET /admin/users/<int:user_id>": admin_page(scoped=True, logged=True),
    "GET /admin/users/<int:user_id>/edit": admin_page(scoped=True, logged=True),
    "POST /admin/users/<int:user_id>/edit": admin_page(scoped=True, logged=True),
    "GET /admin/users/<int:user_id>/password": admin_page(scoped=True, logged=True),
    "POST /admin/users/<int:user_id>/password": admin_page(scoped=True, logged=True),
    "POST /admin/users/<int:user_id>/deactivate": admin_page(scoped=True, logged=True),
    "POST /admin/users/<int:user_id>/reactivate": admin_page(scoped=True, logged=True),
    "POST /admin/users/<int:user_id>/tokens/<int:token_id>/revoke": admin_page(scoped=True, logged=True),
    "POST /admin/users/<int:user_id>/tokens/revoke-all": admin_page(scoped=True, logged=True),
    "GET /admin/relations": admin_page(),
    "POST /admin/relations": admin_page(),
    "POST /admin/relations/<int:relation_id>/remove": admin_page(scoped=True),
    "GET /admin/policy/": admin_page(),
    "GET /admin/policy/new": admin_page(),
    "POST /admin/policy/new": admin_page(),
    "GET /admin/policy/<int:version_id>": admin_page(scoped=True),
    "GET /admin/policy/households/<case_id>": admin_page(scoped=True, logged=True),
    # The audit log and the working-day calendar are the whole system's (one calendar).
    "GET /admin/audit": admin_page(),
    "GET /admin/audit.csv": admin_page(),
    "GET /admin/calendar": admin_page(),
    "GET /admin/calendar/<int:year>": admin_page(),
    "POST /admin/calendar/<int:year>": admin_page(),
    "POST /admin/calendar/<int:year>/<day>/remove": admin_page(),

    # --- the evaluation panel: the office chairs its community's sessions, the county reads
    # them, a member sees only the sessions they sit on -------------------------------------
    "GET /panel/static/<path:filename>": public(),
    "GET /panel/sessions": row(ok="office office_other county county_other"),
    "GET /panel/sessions/new": row(ok="office office_other"),
    "POST /panel/sessions/new": row(ok="office office_other"),  # empty form: 422
    "GET /panel/sessions/<int:session_id>": row(ok="office county", scope="office_other county_other"),
    "GET /panel/sessions/<int:session_id>/edit": row(ok="office", scope="office_other"),
    "POST /panel/sessions/<int:session_id>/edit": row(ok="office", scope="office_other"),
    # The chair's actions, each on a session of its own (cancelling, closing, removing a
    # case must not take the panel member's session away from the rows after it).
    **{f"POST /panel/sessions/<int:session_id>/{action}": row(ok="office", scope="office_other",
                                                              params={"session_id": "fresh_session"})
       for action in ("attendance", "open", "cancel", "close", "recusals")},
    **{f"POST /panel/sessions/<int:session_id>/items/<int:item_id>/{action}": row(
        ok="office", scope="office_other", params={"session_id": "fresh_session", "item_id": "fresh_item"})
       for action in ("start", "close", "remove")},
    "POST /panel/sessions/<int:session_id>/proposals/<int:proposal_id>": row(
        ok="office", scope="office_other", params={"session_id": "fresh_session", "proposal_id": "fresh_proposal"}),
    "GET /panel/sessions/<int:session_id>/members/<int:member_id>/sign": row(ok="office", scope="office_other"),
    "POST /panel/sessions/<int:session_id>/members/<int:member_id>/sign": row(ok="office", scope="office_other"),
    # A member without an account votes on the chair's tablet.
    "GET /panel/sessions/<int:session_id>/items/<int:item_id>/ballot/<int:member_id>": row(
        ok="office", scope="office_other", params={"member_id": "proxy_member"}),
    "POST /panel/sessions/<int:session_id>/items/<int:item_id>/ballot/<int:member_id>": row(
        ok="office", scope="office_other", params={"member_id": "proxy_member"}),
    # The minutes: read by whoever sees the session (members too), made by its office.
    "GET /panel/sessions/<int:session_id>/minutes": row(
        ok="office county panel", scope="investigator investigator_other office_other county_other panel_other "
                                        "admin admin_other"),
    "POST /panel/sessions/<int:session_id>/minutes": row(
        ok="office", denied="county panel",
        scope="investigator investigator_other office_other county_other panel_other admin admin_other"),
    "GET /panel/sessions/<int:session_id>/minutes.pdf": row(
        ok="office county panel", scope="investigator investigator_other office_other county_other panel_other "
                                        "admin admin_other"),
    # The member's own pages: only the sessions they sit on.
    "GET /panel/": row(ok="panel panel_other"),
    "GET /panel/my/<int:session_id>": row(ok="panel", scope="panel_other"),
    "GET /panel/my/<int:session_id>/cases/<int:item_id>": row(ok="panel", scope="panel_other"),
    "POST /panel/my/<int:session_id>/cases/<int:item_id>/vote": row(ok="panel", scope="panel_other"),
    "POST /panel/my/<int:session_id>/cases/<int:item_id>/recuse": row(
        ok="panel", scope="panel_other", params={"session_id": "fresh_session", "item_id": "fresh_item"}),
    "GET /panel/my/<int:session_id>/sign": row(ok="panel", scope="panel_other"),
    "POST /panel/my/<int:session_id>/sign": row(ok="panel", scope="panel_other"),

    # --- public notice: anyone sees what is posted; the office its own community's notices
    # and objections, the county every community's under it ----------------------------------
    "GET /notices": public(),
    "GET /publicity/static/<path:filename>": public(),
    # ?community= names community A: another office or county asking for it is refused, logged.
    "GET /publicity": row(ok="office county", scope="office_other county_other", query={"community": "community_id"}),
    "POST /publicity/end-finished": row(ok="office", scope="office_other", data="community_a"),
    "GET /publicity/print": row(ok="office county", scope="office_other county_other",
                                query={"community": "community_id"}),
    "GET /publicity/print.pdf": row(ok="office county", scope="office_other county_other",
                                    query={"community": "community_id"}),
    "GET /publicity/notices/<int:notice_id>": row(ok="office county", scope="office_other county_other"),
    "GET /publicity/notices/<int:notice_id>/print": row(ok="office county", scope="office_other county_other"),
    "GET /publicity/notices/<int:notice_id>/print.pdf": row(ok="office county", scope="office_other county_other"),
    "POST /publicity/notices/<int:notice_id>/objections": row(ok="office", scope="office_other"),
    "POST /publicity/notices/<int:notice_id>/end": row(ok="office", scope="office_other"),  # not finished: 409
    "POST /publicity/objections/<int:objection_id>/answer": row(ok="office", scope="office_other"),

    # --- the county's decision and re-checks ---------------------------------------------------
    "GET /decisions/static/<path:filename>": public(),
    "GET /decisions": row(ok="county county_other"),
    "GET /decisions/<uuid:case_id>": row(ok="county", scope="county_other"),
    "POST /decisions/<uuid:case_id>": row(ok="county", scope="county_other"),  # not in county review: 409
    "GET /decisions/letters/<int:decision_id>": row(ok="office county", scope="office_other county_other"),
    "GET /decisions/letters/<int:decision_id>.pdf": row(ok="office county", scope="office_other county_other"),
    "GET /rechecks": row(ok="office office_other county county_other"),
    "POST /rechecks/start": row(ok="office office_other county county_other"),  # each in its own scope
    "GET /rechecks/<uuid:case_id>": row(ok="county", scope="county_other"),
    "POST /rechecks/<uuid:case_id>": row(ok="county", scope="county_other"),  # not in re-check: 409

    # --- ledgers, exports, the dashboard: office and county, each its own slice ---------------
    "GET /ledgers/static/<path:filename>": public(),
    **{f"GET {path}": row(ok="office county", scope="office_other county_other",
                          query={"community": "community_id"})
       for path in ("/ledgers", "/ledgers/payments", "/ledgers/payments.xlsx", "/ledgers/payments.csv",
                    "/ledgers/active", "/ledgers/active.xlsx", "/ledgers/active.csv", "/ledgers/visits.geojson",
                    "/dashboard")},
}
