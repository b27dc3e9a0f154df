"""Reconciliation against the exchange emulator: each correction in isolation, and the acceptance soak."""
