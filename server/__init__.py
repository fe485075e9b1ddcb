"""Doorstep: case work for the home visits behind the minimum living allowance."""
from __future__ import annotations

import logging
import warnings

from flask import Flask

from server import config as config_module


def create_app(config: dict | None = None) -> Flask:
    app = Flask(__name__, instance_path=str(config_module.INSTANCE))
    app.config.update(config_module.from_environment())
    if config:
        app.config.update(config)
    # SQLite keeps NUMERIC as a float; money is read back through Numeric(14, 2), which is
    # exact for two decimals, so the generic warning says nothing here.
    warnings.filterwarnings("ignore", message=".*does \\*not\\* support Decimal objects natively")
    logging.basicConfig(level=logging.INFO)

    from server.core import auth, errors, i18n, security
    from server.core.registry import load_models
    from server.extensions import api, babel, csrf, db, htmx

    load_models()
    db.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale,
                   default_translation_directories="translations")
    csrf.init_app(app)
    htmx.init_app(app)
    api.init_app(app, spec_kwargs={"info": {"description": "Doorstep field sync and policy API"}})
    errors.init_app(app)
    auth.init_app(app)
    i18n.init_app(app)
    security.init_app(app)  # headers on every answer, ID numbers and secrets kept out of logs

    from server.accounts import api as accounts_api
    from server.accounts import views as accounts_views
    from server.cases import api as cases_api
    from server.cases import views as cases_views
    from server.core import docs
    from server.photos import api as photos_api
    from server.policy import api as policy_api
    from server.sync import api as sync_api
    from server.visits import api as visits_api

    docs.init_app(app, api)  # first: it tells the spec how our own field types look
    for blp in (accounts_api.blp, cases_api.blp, photos_api.blp, policy_api.blp, sync_api.blp, visits_api.blp):
        csrf.exempt(blp)  # bearer tokens only: see server.core.auth
        api.register_blueprint(blp)
    app.register_blueprint(accounts_views.bp)
    app.register_blueprint(cases_views.bp)
    app.register_blueprint(__import__("server.app_shell", fromlist=["bp"]).bp)  # the tablet app at /app/
    # County administration: policy versions, the audit log, the working-day calendar.
    from server.core import audit_views
    from server.policy import views as policy_views

    app.register_blueprint(policy_views.bp)
    app.register_blueprint(audit_views.bp)
    from server.review import views as review_views

    app.register_blueprint(review_views.bp)
    # The rest of a case's life: the panel, public notice, the county's decision and
    # re-checks, ledgers and the county's dashboard.
    from server.decisions import views as decision_views
    from server.ledgers import views as ledger_views
    from server.panel import views as panel_views
    from server.publicity import views as publicity_views

    for bp in (panel_views.bp, publicity_views.bp, decision_views.bp, ledger_views.bp):
        app.register_blueprint(bp)

    from server.cli import register

    register(app)
    _template_globals(app)
    return app


def _template_globals(app: Flask) -> None:
    from flask_babel import get_locale

    from server.core.auth import current_user

    @app.context_processor
    def _globals():
        # Babel calls zh_CN "zh_Hans_CN"; templates speak of the two choices we offer.
        return {"current_user": current_user(), "locale": "zh_CN" if get_locale().language == "zh" else "en"}
