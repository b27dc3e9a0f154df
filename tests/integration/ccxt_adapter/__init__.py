"""The ccxt venue adapter against the local exchange emulator."""
