"""First start: create the initial admin API key and hand its secret over in a private file."""

from __future__ import annotations

import logging
import os
from pathlib import Path

from tradeforge.runtime.system import TradingSystem
from tradeforge.security.rbac import Role

logger = logging.getLogger(__name__)

ADMIN_KEY_NAME = "admin"


def ensure_admin_key(system: TradingSystem, path: Path) -> Path | None:
    """When the database holds no API key at all, create an admin key and write its secret to `path`
    (mode 0600, parent directories created); returns the path, or None when keys already exist.

    Revoked keys count as existing: once an operator has managed keys, a restart must not mint a new
    admin key behind their back."""
    if system.api_keys.list():
        return None
    record, secret = system.api_keys.create(ADMIN_KEY_NAME, Role.ADMIN.value, actor="system")
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        # O_CREAT's mode only applies to a new file; an old file keeps its mode unless we set it.
        os.fchmod(descriptor, 0o600)
        os.write(descriptor, (secret + "\n").encode())
    finally:
        os.close(descriptor)
    logger.warning("created the first admin API key %s; its secret is in %s", record.id, path)
    return path
