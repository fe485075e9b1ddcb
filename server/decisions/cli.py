"""Commands for the county's schedule: re-checks that fall due."""
from __future__ import annotations

commands: list = []
