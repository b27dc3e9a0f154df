"""TradeForge: one strategy codebase for backtest, paper and live trading."""

__version__ = "0.1.0"
