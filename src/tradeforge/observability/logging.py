"""Structured (JSON lines) logging setup that redacts API keys and bearer tokens from every record."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime
from typing import Any

# API key secrets look like tf_<id>_<token>; bearer tokens may appear in echoed headers. Exchange
# credentials: ccxt logs request headers at DEBUG (binance/bybit/okx/kraken key and OKX passphrase
# headers), and a config dict may be logged with apiKey/secret/password entries. A quoted value
# runs to its closing quote (passphrases may hold blanks), a bare one to the next separator.
_VALUE = r"""(?:(?<=['"])[^'"]*|(?<!['"])[^'"\s,;&}]+)"""
_SECRET_PATTERNS = (
    re.compile(r"\btf_k[0-9a-f]+_[A-Za-z0-9_\-]+"),
    re.compile(r"(?i)(bearer\s+)[^\s\"',;]+"),
    re.compile(
        r"(?i)(['\"]?\b(?:x-mbx-apikey|x-bapi-api-key|ok-access-key|ok-access-passphrase|api-key)['\"]?"
        r"\s*:\s*['\"]?)" + _VALUE
    ),
    re.compile(
        r"(?i)((?:['\"](?:api_?key|secret|password|passphrase)['\"]\s*:\s*['\"]?)"
        r"|(?:\b(?:api_?key|secret|password|passphrase)=))" + _VALUE
    ),
)
REDACTED = "[REDACTED]"
# Every pattern above contains one of these (lower-cased): "key" covers all the API-key header names.
_LITERALS = ("tf_k", "bearer", "key", "secret", "password", "passphrase")

# Attributes every LogRecord has; anything else was passed through `extra=` and is logged as a field.
_STANDARD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys()
    | {"message", "asctime", "taskName", "color_message"}  # color_message: uvicorn's ANSI duplicate
)


def redact(text: str) -> str:
    """The text with every API key secret and bearer token replaced."""
    # Each pattern needs one of _LITERALS (in any case): without them the substitutions (~10 us, and
    # every record is redacted twice, by the filter and the formatter) cannot match. casefold(), not
    # lower(): case-insensitive patterns also match the long s (U+017F) and the Kelvin sign (U+212A).
    folded = text.casefold()
    if not any(literal in folded for literal in _LITERALS):
        return text
    for pattern in _SECRET_PATTERNS:
        text = pattern.sub(lambda m: (m.group(1) if m.groups() else "") + REDACTED, text)
    return text


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message, exception and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRIBUTES and not key.startswith("_"):
                entry[key] = redact(value) if isinstance(value, str) else value
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str)


class RedactingFilter(logging.Filter):
    """Scrubs secrets from records formatted by handlers we do not own (e.g. uvicorn's)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.msg = record.getMessage()
            record.args = None
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def configure_logging(level: str = "INFO", *, json_lines: bool = True) -> None:
    """Route the root logger (and uvicorn's) to stderr as JSON lines at `level`. Idempotent."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_tradeforge", False):
            root.removeHandler(existing)
    handler._tradeforge = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level.upper())
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        uvicorn_logger = logging.getLogger(name)
        uvicorn_logger.handlers.clear()
        uvicorn_logger.propagate = True
