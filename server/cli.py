"""`flask --app server doorstep …`: set-up and housekeeping commands."""
from __future__ import annotations

import getpass
import sys
import time

import click
import sqlalchemy as sa
from flask import Flask, current_app
from flask.cli import AppGroup

doorstep = AppGroup("doorstep", help="Doorstep set-up and housekeeping.")


@doorstep.command("init")
def init_command():
    """Create or upgrade the database schema to the newest migration."""
    from server.core.migrate import upgrade

    upgrade(current_app.config["DATABASE_URL"])
    click.echo("database is at the newest migration")


@doorstep.command("demo")
@click.option("--households", type=int, default=None, help="How many households (default: a small county).")
@click.option("--seed", type=int, default=7)
@click.option("--if-empty", is_flag=True, help="Do nothing when the database already has users.")
def demo_command(households, seed, if_empty):
    """Fill the database with a demo county: users, households and cases in every state."""
    from server.accounts.models import User
    from server.demo import build_demo
    from server.extensions import db

    session = db.session
    if session.scalar(sa.select(sa.func.count()).select_from(User)):
        if if_empty:
            click.echo("demo data: the database already has users; left as it is")
            return
        raise click.ClickException("the database already has users; demo data goes into an empty database")
    started = time.monotonic()
    counts = build_demo(session, households=households, seed=seed,
                        progress=lambda msg: click.echo(msg, err=True))
    session.commit()
    click.echo(f"demo data ready in {time.monotonic() - started:.1f} s: " +
               ", ".join(f"{k} {v}" for k, v in counts.items()))


@doorstep.command("create-user")
@click.argument("username")
@click.option("--name", "display_name", default=None, help="Display name (default: the username).")
@click.option("--role", "roles", multiple=True, required=True,
              type=click.Choice(["investigator", "office", "panel", "county", "admin"]))
@click.option("--jurisdiction", "jurisdiction_code", required=True, help="Code of the county or community.")
@click.option("--password", default=None, help="Asked for when not given.")
def create_user_command(username, display_name, roles, jurisdiction_code, password):
    """Create a user with roles, scoped to a county or community."""
    from server.accounts import operations
    from server.core.errors import Problem
    from server.core.models import Jurisdiction
    from server.extensions import db

    session = db.session
    jurisdiction = session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == jurisdiction_code))
    if jurisdiction is None:
        raise click.ClickException(f"no jurisdiction with code {jurisdiction_code}")
    if password is None:
        password = getpass.getpass("password: ")
    try:
        user = operations.create_user(session, username=username, display_name=display_name or username,
                                      password=password, roles=list(roles), jurisdiction=jurisdiction, actor=None)
    except Problem as exc:
        raise click.ClickException(f"{exc.detail or exc.title} {exc.extra.get('errors', '')}") from None
    session.commit()
    click.echo(f"created {user.username} ({', '.join(sorted(user.roles))}) in {jurisdiction.name}")


@doorstep.command("create-jurisdiction")
@click.argument("code")
@click.argument("name")
@click.option("--kind", required=True, type=click.Choice(["province", "city", "county", "township", "community"]))
@click.option("--parent", "parent_code", default=None, help="Code of the jurisdiction above it.")
@click.option("--name-en", default=None, help="Its name in English.")
@click.option("--lat", type=float, default=None, help="Latitude of its office (WGS 84).")
@click.option("--lon", type=float, default=None, help="Longitude of its office (WGS 84).")
def create_jurisdiction_command(code, name, kind, parent_code, name_en, lat, lon):
    """Create a county, township, community… (a fresh installation has none: make its county first)."""
    from server.core import audit
    from server.core.db import point_wkt
    from server.core.models import Jurisdiction
    from server.extensions import db

    session = db.session
    if session.scalar(sa.select(Jurisdiction.id).where(Jurisdiction.code == code)) is not None:
        raise click.ClickException(f"a jurisdiction with code {code} already exists")
    parent = None
    if parent_code is not None:
        parent = session.scalar(sa.select(Jurisdiction).where(Jurisdiction.code == parent_code))
        if parent is None:
            raise click.ClickException(f"no jurisdiction with code {parent_code}")
    from server.core.models import JURISDICTION_KINDS

    level = JURISDICTION_KINDS.index
    if parent is not None and level(parent.kind) >= level(kind):
        raise click.ClickException(f"a {kind} cannot sit under a {parent.kind}")
    if parent is None and kind in ("township", "community"):
        raise click.ClickException(f"a {kind} needs --parent (its county or township)")
    if (lat is None) != (lon is None) or (lat is not None and not (-90 <= lat <= 90 and -180 <= lon <= 180)):
        raise click.ClickException("give both --lat and --lon, in degrees")
    place = Jurisdiction(code=code, name=name, name_en=name_en, kind=kind, parent=parent,
                         location=point_wkt(lat, lon) if lat is not None else None)
    session.add(place)
    session.flush()
    audit.record(session, "jurisdiction.create", "jurisdiction", place.id, actor=None,
                 after={"code": code, "name": name, "kind": kind, "parent": parent_code})
    session.commit()
    click.echo(f"created {kind} {code} {name}")


@doorstep.command("verify-audit")
def verify_audit_command():
    """Walk the audit log's hash chain and report the first broken link."""
    from server.core import audit
    from server.extensions import db

    report = audit.verify(db.session)
    if report.ok:
        click.echo(f"audit log intact: {report.checked} events verified")
        return
    click.echo(f"audit log BROKEN at event {report.broken_id}: {report.problem}; "
               f"verified up to event {report.last_good_id} ({report.checked} events)", err=True)
    sys.exit(1)


def register(app: Flask) -> None:
    # Commands that belong to a domain live beside it and join the `doorstep` group here.
    from server.core import backup
    from server.decisions import cli as decisions_cli

    for command in (*backup.commands, *decisions_cli.commands):
        if command.name not in doorstep.commands:
            doorstep.add_command(command)
    app.cli.add_command(doorstep)
