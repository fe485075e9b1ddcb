"""The CLI makes users; an unexpected error is a 500 problem that leaks nothing."""
import pytest
import sqlalchemy as sa
from marshmallow import ValidationError

from server.accounts.models import User
from server.core.auth import verify_password
from server.core.fields import PointSchema


def test_create_user_command(app, connection, db_session, community):
    result = app.test_cli_runner().invoke(args=[
        "doorstep", "create-user", "newinv", "--name", "赵六", "--role", "investigator",
        "--jurisdiction", community.code, "--password", "a-long-password"])
    assert result.exit_code == 0, result.output
    user = db_session.scalar(sa.select(User).where(User.username == "newinv"))
    assert user.roles == {"investigator"} and user.jurisdiction_id == community.id
    assert user.password_hash.startswith("$argon2") and verify_password(user.password_hash, "a-long-password")


def test_create_user_command_refuses_bad_input(app, connection, community):
    runner = app.test_cli_runner()
    short = runner.invoke(args=["doorstep", "create-user", "x1", "--role", "office", "--jurisdiction",
                                community.code, "--password", "short"])
    assert short.exit_code != 0 and "password" in short.output
    nowhere = runner.invoke(args=["doorstep", "create-user", "x2", "--role", "office", "--jurisdiction",
                                  "000000", "--password", "long enough pw"])
    assert nowhere.exit_code != 0 and "000000" in nowhere.output


def test_unexpected_error_is_a_500_problem_without_details(database_url):
    from server import create_app

    app = create_app({"DATABASE_URL": database_url, "SECRET_KEY": "x"})

    @app.route("/boom")
    def boom():
        raise RuntimeError("secret internals")

    r = app.test_client().get("/boom", headers={"Accept": "application/json"})
    assert r.status_code == 500
    assert r.headers["Content-Type"] == "application/problem+json"
    body = r.get_json()
    assert body["type"].endswith("/internal-error") and "secret" not in r.get_data(as_text=True)
    app.extensions["doorstep_db"].engine.dispose()


@pytest.mark.parametrize("point,field", [
    ({"lat": 91, "lon": 120}, "lat"), ({"lat": 30, "lon": -181}, "lon"),
    ({"lat": 30, "lon": 120, "accuracy_m": -1}, "accuracy_m"), ({"lat": "north", "lon": 120}, "lat"),
    ({"lat": 30, "lon": 120, "alt": 5}, "alt"),
])
def test_out_of_range_coordinates_are_refused_naming_the_field(point, field):
    with pytest.raises(ValidationError) as err:
        PointSchema().load(point)
    assert field in err.value.messages


def test_a_good_point_loads():
    assert PointSchema().load({"lat": 30.2741, "lon": 120.1551, "accuracy_m": 8.0})["lat"] == 30.2741


def test_a_fresh_installation_gets_its_first_county_community_and_administrator(tmp_path_factory):
    """Nothing but the demo made jurisdictions; a real installation starts from the CLI."""
    from server import create_app
    from server.accounts.models import User
    from server.core.audit import AuditEvent
    from server.core.migrate import upgrade
    from server.core.models import Jurisdiction
    from tests.conftest import fresh_database

    url = fresh_database(tmp_path_factory, "cli_install")
    upgrade(url)
    app = create_app({"DATABASE_URL": url, "SECRET_KEY": "cli", "PHOTO_STORE": str(tmp_path_factory.mktemp("p"))})
    run = app.test_cli_runner()
    ok = run.invoke(args=["doorstep", "create-jurisdiction", "330122", "桐庐县", "--kind", "county",
                          "--name-en", "Tonglu County"])
    assert ok.exit_code == 0, ok.output
    ok = run.invoke(args=["doorstep", "create-jurisdiction", "330122001001", "迎春社区", "--kind", "community",
                          "--parent", "330122", "--lat", "29.797", "--lon", "119.691"])
    assert ok.exit_code == 0, ok.output
    refused = [
        ["330122", "重复", "--kind", "county"],                            # code taken
        ["x1", "无上级社区", "--kind", "community"],                        # a community needs its county
        ["x2", "县下之县", "--kind", "county", "--parent", "330122001001"],  # a county under a community
        ["x3", "无此上级", "--kind", "community", "--parent", "nope"],
        ["x4", "半个坐标", "--kind", "county", "--lat", "29.7"],
    ]
    for args in refused:
        answer = run.invoke(args=["doorstep", "create-jurisdiction", *args])
        assert answer.exit_code != 0 and "Error" in answer.output, args
    ok = run.invoke(args=["doorstep", "create-user", "admin1", "--role", "admin", "--jurisdiction", "330122",
                          "--password", "a long enough password 1"])
    assert ok.exit_code == 0, ok.output
    db = app.extensions["doorstep_db"]
    with app.app_context():
        places = {p.code: p for p in db.session.scalars(sa.select(Jurisdiction))}
        assert sorted(places) == ["330122", "330122001001"]
        assert places["330122001001"].parent_id == places["330122"].id
        assert db.session.scalar(sa.select(User).where(User.username == "admin1")).jurisdiction_id == places["330122"].id
        actions = db.session.scalars(sa.select(AuditEvent.action)).all()
        assert actions.count("jurisdiction.create") == 2
    db.engine.dispose()
