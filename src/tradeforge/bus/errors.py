"""Errors of the message bus (interpreted: builtin exception bases, which compiled code cannot extend)."""

from __future__ import annotations


class HandlerAlreadyRegistered(RuntimeError):
    pass


class NoHandler(LookupError):
    pass
