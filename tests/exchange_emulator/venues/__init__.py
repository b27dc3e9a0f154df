"""The emulated exchanges, by ccxt id."""

from __future__ import annotations

from .base import Venue
from .binance import Binance
from .bybit import Bybit
from .kraken import Kraken
from .okx import Okx

VENUE_CLASSES: dict[str, type[Venue]] = {"binance": Binance, "bybit": Bybit, "okx": Okx, "kraken": Kraken}
