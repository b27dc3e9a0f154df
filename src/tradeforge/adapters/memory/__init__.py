"""In-memory persistence adapter for backtests and unit tests, with the same semantics as the SQL one."""
