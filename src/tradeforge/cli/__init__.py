"""Command-line interface: `tradeforge` runs the service, manages keys and the database, drives the API."""
