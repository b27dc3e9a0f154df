"""Market data adapters: OHLCV files (Parquet, CSV) and replay feeds."""
