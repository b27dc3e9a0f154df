"""Strategies shipped with TradeForge, resolvable by short name through the registry."""
