"""Unmodified ccxt against the local exchange emulator."""
