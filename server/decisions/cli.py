"""Commands for the county's schedule: re-checks that fall due."""
from __future__ import annotations

import click
from flask.cli import with_appcontext


@click.command("rechecks")
@click.option("--today", type=click.DateTime(formats=["%Y-%m-%d"]), default=None,
              help="The day to start re-checks due by (default: today where the office is).")
@with_appcontext
def rechecks_command(today):
    """Start every re-check that is due: receiving cases go to `recheck` and reach their
    teams' tablets at the next sync. Running it twice starts nothing twice."""
    from server.cases.lifecycle import local_today
    from server.decisions import operations
    from server.extensions import db

    day = today.date() if today is not None else local_today()
    started = operations.start_due_rechecks(db.session, day)
    db.session.commit()
    click.echo(f"{len(started)} re-check(s) started (due by {day.isoformat()})")
    for case in started:
        click.echo(f"  {case.number}")


commands = [rechecks_command]
