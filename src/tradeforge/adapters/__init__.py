"""Adapters: implementations of the ports for databases, venues, message brokers and webhooks."""
