"""Language: zh-CN by default; English on request (?lang=en, then a cookie). The API also
honours Accept-Language, since a tablet says what its user reads."""
from __future__ import annotations

from flask import Flask, current_app, g, request

LANG_COOKIE = "lang"
ALIASES = {"zh": "zh_CN", "zh-cn": "zh_CN", "zh_cn": "zh_CN", "zh-hans": "zh_CN", "en": "en", "en-us": "en", "en_us": "en"}


def normalise(value: str | None) -> str | None:
    if not value:
        return None
    return ALIASES.get(value.strip().lower())


def select_locale() -> str:
    chosen = normalise(request.args.get("lang")) or normalise(request.cookies.get(LANG_COOKIE))
    if chosen:
        return chosen
    user = g.get("user")
    if user is not None and normalise(user.locale):
        return normalise(user.locale)
    if request.path.startswith("/api/"):
        best = request.accept_languages.best_match(["zh-CN", "zh", "en"])
        if best:
            return normalise(best) or "zh_CN"
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def _remember_choice(response):
    chosen = normalise(request.args.get("lang"))
    if chosen and not request.path.startswith("/api/"):
        response.set_cookie(LANG_COOKIE, chosen, max_age=365 * 24 * 3600, samesite="Lax", httponly=True)
    return response


def init_app(app: Flask) -> None:
    app.after_request(_remember_choice)


def N_(text: str) -> str:
    """Marks a string for translation where it is defined; it is translated where shown."""
    return text


# Words shown from data (role names, problem titles): translated in templates with _(…).
TERMS = (
    N_("investigator"), N_("office"), N_("panel"), N_("county"), N_("admin"),
    N_("Bad request"), N_("Not found"), N_("Forbidden"), N_("Sign-in required"), N_("Conflict"),
    N_("Invalid input"), N_("Too large"), N_("Internal error"), N_("Method Not Allowed"),
    N_("CSRF check failed"), N_("Busy"), N_("Illegal transition"),
    N_("Transition not allowed for your role"), N_("Case has no team"),
)
