"""Who may see and manage accounts: an admin, for users within the admin's jurisdiction."""
from server.accounts.models import User


def can_manage_users(user: User | None) -> bool:
    return user is not None and user.active and user.has_role("admin")


def can_manage(admin: User | None, target: User) -> bool:
    if not can_manage_users(admin):
        return False
    return any(node.id == admin.jurisdiction_id for node in target.jurisdiction.lineage())
