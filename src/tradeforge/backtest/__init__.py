"""Backtest results: round-trip trades, performance metrics, HTML/JSON reports and run progress."""
