"""Observability: structured logging and Prometheus metrics, each owned by the app that creates them."""
