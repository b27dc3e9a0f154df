"""Making file-system changes durable: the directory fsync a rename or an unlink needs."""

from __future__ import annotations

import os
from pathlib import Path


def fsync_directory(directory: Path) -> None:
    """Make a rename (or unlink) in `directory` itself durable; a no-op where a directory cannot be
    opened (not every platform allows it)."""
    try:
        handle = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)
