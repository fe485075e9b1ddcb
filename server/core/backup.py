"""`flask doorstep backup` and `flask doorstep restore`: the database and the photo store in
one archive, with checksums."""
from __future__ import annotations

commands: list = []
