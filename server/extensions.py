"""Extensions: created here, init_app'ed in create_app."""
from flask_babel import Babel
from flask_htmx import HTMX
from flask_smorest import Api
from flask_wtf import CSRFProtect

from server.core.db import Database

db = Database()
api = Api()
babel = Babel()
csrf = CSRFProtect()
htmx = HTMX()
