"""Roles and what each may do: viewer reads, trader also trades, admin also governs."""

from __future__ import annotations

from enum import StrEnum


class Role(StrEnum):
    VIEWER = "viewer"
    TRADER = "trader"
    ADMIN = "admin"


class Permission(StrEnum):
    READ = "read"
    TRADE = "trade"
    MANAGE_RISK = "manage_risk"
    MANAGE_KEYS = "manage_keys"
    READ_AUDIT = "read_audit"


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.VIEWER: frozenset({Permission.READ}),
    Role.TRADER: frozenset({Permission.READ, Permission.TRADE}),
    Role.ADMIN: frozenset(Permission),
}


def allows(role: Role | str, permission: Permission) -> bool:
    return permission in ROLE_PERMISSIONS[Role(role)]
