"""Import every domain's models so that the metadata (and Alembic) sees all tables."""
import importlib

DOMAINS = ("accounts", "cases", "visits", "photos", "review", "panel", "publicity", "policy", "sync")


def load_models():
    import server.core.audit  # noqa: F401
    import server.core.models  # noqa: F401

    for domain in DOMAINS:
        importlib.import_module(f"server.{domain}.models")
    from server.core.db import Base

    return Base.metadata
