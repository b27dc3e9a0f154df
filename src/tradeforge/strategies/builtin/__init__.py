"""Strategies shipped with TradeForge, resolvable by short name through the registry.

sma_cross, rsi_reversion, breakout, support_resistance and grid (see docs/strategies.md); common
holds what they share (config checks, their own orders and holding)."""
