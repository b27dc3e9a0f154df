"""Technical indicators, each both incremental (O(1) `update` per bar) and vectorized over numpy arrays."""

from tradeforge.indicators.base import Indicator
from tradeforge.indicators.channels import Donchian, donchian
from tradeforge.indicators.exact import ExactSMA, ExactSMACross, exact_sma, exact_sma_cross, to_ticks
from tradeforge.indicators.momentum import MACD, RSI, macd, rsi
from tradeforge.indicators.moving_average import EMA, SMA, ema, sma
from tradeforge.indicators.volatility import ATR, Bollinger, atr, bollinger
from tradeforge.indicators.volume import VWAP, RollingVWAP, rolling_vwap, vwap

__all__ = [
    "ATR",
    "EMA",
    "MACD",
    "RSI",
    "SMA",
    "VWAP",
    "Bollinger",
    "Donchian",
    "ExactSMA",
    "ExactSMACross",
    "Indicator",
    "RollingVWAP",
    "atr",
    "bollinger",
    "donchian",
    "ema",
    "exact_sma",
    "exact_sma_cross",
    "macd",
    "rolling_vwap",
    "rsi",
    "sma",
    "to_ticks",
    "vwap",
]
