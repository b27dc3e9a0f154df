"""Engines: order management, risk, portfolio and market data, as synchronous bus handlers."""
