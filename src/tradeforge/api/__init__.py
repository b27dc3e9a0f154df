"""REST API (FastAPI): thin routes translating requests into the trading service's commands and queries."""
