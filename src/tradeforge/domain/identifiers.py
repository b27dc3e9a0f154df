"""Identifier types and their generation: order ids, client order ids, fill ids, symbols."""

from __future__ import annotations

import itertools
import os
import re
import time
from dataclasses import dataclass

from tradeforge.domain.errors import ValidationError

CLIENT_ORDER_ID_PATTERN = re.compile(r"^[A-Za-z0-9._:\-]{1,36}$")
SYMBOL_PATTERN = re.compile(r"^([A-Z0-9]{1,20})/([A-Z0-9]{1,20})$")


@dataclass(frozen=True, slots=True)
class Symbol:
    """A ccxt-unified spot symbol such as BTC/USDT."""

    base: str
    quote: str

    @classmethod
    def parse(cls, text: str) -> Symbol:
        match = SYMBOL_PATTERN.match(text.strip().upper()) if isinstance(text, str) else None
        if match is None:
            raise ValidationError("symbol", f"{text!r} is not a unified symbol like 'BTC/USDT'")
        return cls(match.group(1), match.group(2))

    def __str__(self) -> str:
        return f"{self.base}/{self.quote}"


def validate_client_order_id(value: str) -> str:
    if not isinstance(value, str) or not CLIENT_ORDER_ID_PATTERN.match(value):
        raise ValidationError(
            "client_order_id", "must be 1-36 characters of letters, digits, '.', '_', ':' or '-'"
        )
    return value


class IdGenerator:
    """Monotonic, sortable, process-unique ids: <prefix><ms timestamp base36><node><counter>.

    Sortable ids make cursor pagination by id follow creation order; the random node part keeps two
    processes (or a restart within the same millisecond) from colliding."""

    def __init__(self, prefix: str) -> None:
        self._prefix = prefix
        self._node = os.urandom(3).hex()
        self._counter = itertools.count()
        self._ms = -1
        self._head = ""

    def next(self) -> str:
        # Five ids per order: the prefix, time and node part is formatted once per millisecond.
        ms = time.time_ns() // 1_000_000
        if ms != self._ms:
            self._ms = ms
            self._head = f"{self._prefix}{ms:012x}{self._node}"
        # next() of a count is atomic (ids are drawn from several threads). Six zero-padded hex
        # digits: hex() of the value above a 7th digit, that digit cut off (a format spec costs
        # several times more).
        return self._head + hex((next(self._counter) & 0xFFFFFF) | 0x1000000)[3:]
