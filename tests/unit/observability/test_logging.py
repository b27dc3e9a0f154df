"""Structured logging: one JSON object per line, with API keys and bearer tokens redacted."""

from __future__ import annotations

import json
import logging

import pytest

from tradeforge.observability.logging import (
    REDACTED,
    JsonFormatter,
    RedactingFilter,
    configure_logging,
    redact,
)

SECRET = "tf_k0123456789ab_Zx9-_abcDEF0123456789abcdefghijklmnopqrstu"


def record(message: str, *args: object, **extra: object) -> logging.LogRecord:
    entry = logging.LogRecord("tradeforge.test", logging.INFO, __file__, 1, message, args, None)
    for key, value in extra.items():
        setattr(entry, key, value)
    return entry


def test_redact_removes_key_secrets_and_bearer_tokens() -> None:
    assert redact(f"created {SECRET} for ops") == f"created {REDACTED} for ops"
    assert redact("Authorization: Bearer abc.def-123") == f"Authorization: Bearer {REDACTED}"
    assert redact("nothing secret here: k0123456789ab") == "nothing secret here: k0123456789ab"


def test_json_lines_carry_fields_and_never_the_secret() -> None:
    line = JsonFormatter().format(
        record("key %s used", SECRET, key_id="k0123456789ab", header=f"Bearer {SECRET}")
    )
    entry = json.loads(line)
    assert entry["level"] == "INFO" and entry["logger"] == "tradeforge.test"
    assert entry["message"] == f"key {REDACTED} used"
    assert entry["key_id"] == "k0123456789ab"
    assert SECRET not in line


def test_filter_scrubs_records_for_foreign_formatters() -> None:
    entry = record("%s %s", "GET", f"/x?token={SECRET}")
    assert RedactingFilter().filter(entry)
    assert entry.getMessage() == f"GET /x?token={REDACTED}"


def test_configure_logging_is_idempotent(capsys: pytest.CaptureFixture[str]) -> None:
    root = logging.getLogger()
    before, level = list(root.handlers), root.level
    try:
        configure_logging("DEBUG")
        configure_logging("INFO")
        ours = [h for h in root.handlers if getattr(h, "_tradeforge", False)]
        assert len(ours) == 1
        assert root.level == logging.INFO
        logging.getLogger("tradeforge.test").info("hello %s", SECRET)
        line = capsys.readouterr().err.strip().splitlines()[-1]
        assert json.loads(line)["message"] == f"hello {REDACTED}"
    finally:
        for handler in list(root.handlers):
            if handler not in before:
                root.removeHandler(handler)
        root.setLevel(level)
