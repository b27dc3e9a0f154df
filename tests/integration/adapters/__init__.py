"""Integration tests of the adapters against real databases."""
