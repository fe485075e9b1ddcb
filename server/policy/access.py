"""Who may use a jurisdiction's policy."""
from server.accounts.models import User
from server.core.models import Jurisdiction


def can_evaluate_for(user: User | None, jurisdiction: Jurisdiction) -> bool:
    """Anyone working at or above the jurisdiction: its investigators, office, panel, its
    county, and an admin of the county."""
    if user is None or not user.active:
        return False
    return any(node.id == user.jurisdiction_id for node in jurisdiction.lineage())
